// The figures of a generation, counted by the session's rounds and read by JS (session.stats).
// Each figure is declared here once and listed once, with its name in JS (eachFigure): adding up
// generations and the binding's conversion go through that list, and lib/session.ts's
// GenerationStats documents the same names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace specdec {

class DraftTree;
struct DraftNode;

struct GenerationStats {
  int32_t promptTokens = 0;
  int32_t reusedTokens = 0;  // prompt tokens whose KV was kept from the previous call
  int32_t generatedTokens = 0;
  double promptMs = 0;
  double generationMs = 0;
  int32_t mainDecodes = 0;  // main-model evaluations while generating (plain steps and verifications)
  int32_t drafted = 0;      // drafted tokens verified
  int32_t accepted = 0;     // of those, kept
  std::vector<int32_t> draftedAt;  // the same by place in the draft (0: its first token)
  std::vector<int32_t> acceptedAt;
  double draftMs = 0;
  double mainMs = 0;
  int32_t draftPromptRefusals = 0;  // rounds the draft model stayed out: evaluating the prompt with it would not pay
  int32_t referenceTokens = 0;  // of the generation's references, tokenized and indexed for lookup
  double referenceMs = 0;       // their tokenizing and indexing
  std::string stopReason;  // empty while none has ended
  struct Drafter {
    std::string name;
    int32_t proposed = 0;  // tokens it proposed (each tree node it proposed once)
    int32_t accepted = 0;  // of those, kept
    std::vector<int32_t> proposedAt;  // the same by place in the draft
    std::vector<int32_t> acceptedAt;
    template <typename F>
    static void eachFigure(F&& f) {
      f("proposed", &Drafter::proposed);
      f("accepted", &Drafter::accepted);
      f("proposedAt", &Drafter::proposedAt);
      f("acceptedAt", &Drafter::acceptedAt);
    }
  };
  std::vector<Drafter> drafters;  // in the session's drafter order

  // Every counted figure, with its name in JS: f(name, pointer to member). (name, stopReason and
  // drafters are not counts.)
  template <typename F>
  static void eachFigure(F&& f) {
    f("promptTokens", &GenerationStats::promptTokens);
    f("reusedTokens", &GenerationStats::reusedTokens);
    f("generatedTokens", &GenerationStats::generatedTokens);
    f("promptMs", &GenerationStats::promptMs);
    f("generationMs", &GenerationStats::generationMs);
    f("mainDecodes", &GenerationStats::mainDecodes);
    f("drafted", &GenerationStats::drafted);
    f("accepted", &GenerationStats::accepted);
    f("draftedAt", &GenerationStats::draftedAt);
    f("acceptedAt", &GenerationStats::acceptedAt);
    f("draftMs", &GenerationStats::draftMs);
    f("mainMs", &GenerationStats::mainMs);
    f("draftPromptRefusals", &GenerationStats::draftPromptRefusals);
    f("referenceTokens", &GenerationStats::referenceTokens);
    f("referenceMs", &GenerationStats::referenceMs);
  }

  // Adds another generation's figures (totals).
  void add(const GenerationStats& g);
  // A place of a draft was verified (place 0: the draft's first token) and its token kept or not.
  void countPlace(size_t place, bool kept);
  // Each drafter's tokens in the tree, once per node it proposed.
  void countProposed(const DraftTree& tree);
  // The main model kept `node`: its drafters' tokens were kept.
  void countKept(const DraftNode& node);
};

}  // namespace specdec

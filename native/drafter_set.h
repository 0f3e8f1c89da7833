// DrafterSet: a session's drafters and the policy that drives them. It owns the drafters (in the
// order of their figures: the draft model, lookup, retrieval, lookahead), each free drafter's place
// record and rest, and the controllers (controller.h) that set a round's lengths.
//
// The free drafters (lookup, retrieval, lookahead) cost next to nothing to ask, so they go first;
// the draft model's tokens cost time, so beside them (greedy) it drafts only where they fall
// short, as its own controller says; sampling, it drafts every round and they extend its path.
// A round (round.cpp) asks for a plan, has the drafters propose into the token tree, reports each
// verified place, and at the end what the round produced and took.
//
// Threading: the session's worker only.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "controller.h"
#include "drafters/draft_model.h"
#include "drafters/lookahead.h"
#include "drafters/lookup.h"
#include "options.h"
#include "place_record.h"
#include "tree.h"

namespace specdec {

// What a round is to do, decided before it starts.
struct RoundPlan {
  int length = 0;            // tokens the free drafters (or a draft model alone) may propose; 0: none
  bool speculate = false;    // a speculative round; else a plain one
  int limit = 0;             // no draft longer: what the output, the context and the batch allow
  size_t promptCatchUp = 0;  // prompt tokens the draft model has yet to evaluate before its first draft
  size_t remaining = 0;      // tokens left to generate, at most
};

// Now and then does what a record advises against, so that the record goes on being measured.
class Probe {
 public:
  // Whether to go ahead: when advised to, and once in a while when not.
  bool tryAnyway(bool advised);

 private:
  int skipped_ = 0;  // times in a row it was advised against
};

// What the drafters did in a round.
struct Proposal {
  int draftModelLength = -1;  // beside free drafters, what the draft model's controller said (-1: not asked)
  double apartMs = 0;         // of the round's time, what is not a round's cost (the draft model's catch-up)
};

// What a round produced and took, for the controllers.
struct RoundOutcome {
  int depth = 0;      // of the tree verified (0: the round decoded plainly)
  int tokens = 0;     // evaluated by the main model and kept (a token output but pending is the next round's)
  double ms = 0;
  int checked = 0;    // drafts verified
  int accepted = 0;   // of those, kept
  bool evaluated = false;  // the main model evaluated a batch (a first draft rejected against the logits at hand: none)
};

class DrafterSet {
 public:
  // main, mainOptions: the main model and its evaluator's options (the cost curves' key); the
  // threadpools and the abort flag are the session's, which the draft model shares.
  DrafterSet(const SessionOptions& options, const ModelCore& main, const EvaluatorOptions& mainOptions,
             ggml_threadpool* threadpool, ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort);

  size_t size() const { return drafters_.size(); }
  const std::string& name(size_t i) const { return drafters_[i].name; }
  // Candidates (token-tree leaves) the drafters offer in a round, at most.
  int maxLeaves() const { return maxLeaves_; }
  // Rounds so far in which the draft model stayed out because evaluating the prompt with it first
  // was not expected to pay.
  int promptRefusals() const {
    DraftController* c = draftModelController();
    return c ? c->promptRefusals() : 0;
  }
  // The lookahead drafter, whose window rides along in the verification batch (null: none).
  LookaheadDrafter* lookahead() const { return lookahead_; }
  // The lookup drafter, which quotes a generation's references (null: none).
  LookupDrafter* lookup() const { return lookup_; }

  // A generation starts, sampling or greedy: the draft model's controller starts from the pair's
  // acceptance measured in earlier generations.
  void startGeneration(bool sampling);
  // The main model evaluated `tokens` prompt tokens in ms.
  void recordPrefill(size_t tokens, double ms);
  // The next round's plan. history: the prompt and the text so far; generated: of it, tokens
  // generated; remaining: tokens left to generate at most; limit: the longest draft the output,
  // the context and the batch allow.
  RoundPlan plan(const std::vector<llama_token>& history, size_t generated, size_t remaining, int limit);
  // The drafters propose into `tree` (cleared first), within `room` nodes: the free ones up to the
  // plan's length each, cut where they are seldom kept; then the draft model, unless one of them
  // proposed as far as the draft model may draft and is expected to have more of it kept.
  // grammar: where the text has left the grammar the output follows (null: none); what it does
  // not allow is never proposed.
  Proposal propose(const RoundPlan& plan, const std::vector<llama_token>& history, Sampler& sampler,
                   const Grammar* grammar, size_t room, DraftTree& tree);
  // A place of the tree was verified: the children of `parent`, at `depth` (0: the first place);
  // keptSources: the sources of the child kept (0: none). Updates the free drafters' records.
  void recordPlace(const DraftTree& tree, int32_t parent, size_t depth, uint32_t keptSources);
  // The round is over: the controllers learn from it.
  void learn(const Proposal& proposal, const RoundOutcome& outcome);

 private:
  struct Entry {
    std::string name;
    int32_t maxTokens;
    bool adaptive;  // a free drafter's proposals may be cut where they are seldom kept
    std::unique_ptr<Drafter> drafter;
    PlaceRecord record;       // a free drafter's, by place
    PlaceRecord besideDraft;  // the same where the draft model offered another token at the place
    int resting = 0;          // rounds a free drafter sits out, its first place being poor
    Probe besideProbe;        // of its tokens parting from the draft model's path
    std::vector<Draft> proposals;
  };
  struct FreeProposals {
    size_t longest = 0;       // the longest proposal's length
    double expectedKept = 0;  // the most of a proposal the main model is expected to keep (PlaceRecord)
  };
  // Lets the free drafters propose.
  FreeProposals proposeFree(int length, const std::vector<llama_token>& history, Sampler& sampler, const Grammar* grammar);
  // Cuts a free drafter's proposal beside the draft model's `path` to what is worth verifying
  // (sampling: to the part the path has).
  void cutBesideDraft(Entry& e, Draft& d, const std::vector<llama_token>& path, bool sampling);
  // The first free drafter whose (first) proposal parts from the draft model's `path` where it is
  // more likely kept than the path, by their records beside each other (-1: none).
  int leadBesideDraft(const std::vector<llama_token>& path) const;
  bool isFree(size_t i) const { return (int)i != draftModelIndex_; }
  // The draft model's key in the main model's AcceptanceRecord.
  AcceptanceRecord::Key acceptanceKey() const { return {draftModel_->model().id(), freeDrafters_, sampling_}; }
  // The controller that sets the draft model's length (null: none).
  DraftController* draftModelController() const {
    return draftController_ ? draftController_.get() : draftModel_ ? controller_.get() : nullptr;
  }

  const ModelCore& main_;
  int costKey_;  // the main model's thread setting in its cost curve
  std::vector<Entry> drafters_;
  int draftModelIndex_ = -1;
  DraftModelDrafter* draftModel_ = nullptr;  // in drafters_, when there is one
  LookaheadDrafter* lookahead_ = nullptr;    // in drafters_, when there is one
  LookupDrafter* lookup_ = nullptr;          // in drafters_, when there is one
  bool freeDrafters_ = false;                // any besides a draft model
  bool sampling_ = false;                    // the generation under way samples
  int maxLeaves_ = 0;
  // With free drafters, controller_ sets their length and draftController_ decides, in the
  // rounds where they fall short, whether and how far the draft model drafts. A draft model
  // alone has controller_.
  std::unique_ptr<DraftController> controller_;
  std::unique_ptr<DraftController> draftController_;
  // Rounds (faded) in which the free drafters fell short and draftController_ was asked, of all.
  double shortRounds_ = 0, allRounds_ = 0;
  // The draft model's controller decoded plainly in the last round.
  bool plainSinceDraft_ = false;
  // The draft model's record by place in rounds where the free drafters proposed as far as it may
  // draft (recordWhereFull_: this round is one), and the probe that asks it there now and then.
  PlaceRecord draftWhereFull_;
  bool recordWhereFull_ = false;
  Probe fullProbe_;
  // The draft model's record at places where a free drafter offered another token.
  PlaceRecord draftBesideFree_;
  // Of the round under way, places verified along the free drafters' tokens from the start, and
  // of those, kept; freeRunOver_: one was not kept (or they offered none).
  int freeChecked_ = 0, freeAccepted_ = 0;
  bool freeRunOver_ = false;
};

}  // namespace specdec

// Session: a main-model Evaluator (context + KV cache), optionally a drafter, and the generation
// loop: plain decoding, or speculative rounds (draft -> one batched verification -> accept).
//
// Threading: the JS wrapper lets at most one worker use a SessionCore at a time (a busy flag on
// the main thread), so the core needs no locks; abort is an atomic flag read between steps and
// by llama_decode's abort callback. Lifetime: the core is held by shared_ptr by the wrapper and
// by the worker running a step; it holds its models, so nothing is freed under a worker.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock.h"
#include "controller.h"
#include "drafters/draft_model.h"
#include "drafters/lookahead.h"
#include "drafters/lookup.h"
#include "drafters/retrieval.h"
#include "evaluator.h"
#include "live.h"
#include "llama.h"
#include "model.h"
#include "place_record.h"
#include "sampling.h"
#include "text.h"
#include "tree.h"
#include "verify.h"

namespace specdec {

struct DraftOptions {
  std::shared_ptr<ModelCore> model;
  int32_t maxTokens = 4;
  bool adaptive = true;
  DraftModelOptions drafter;
};

struct LookupSpec {
  LookupOptions lookup;
  int32_t maxTokens = 8;
  bool adaptive = true;
};

struct RetrievalSpec {
  std::string path;
  std::shared_ptr<const Datastore> store;  // opened from path by the worker that makes the session
  RetrievalOptions retrieval;
  int32_t maxTokens = 8;
  bool adaptive = true;
};

struct LookaheadSpec {
  LookaheadOptions lookahead;
};

struct SessionOptions {
  EvaluatorOptions main;
  std::optional<LookaheadSpec> lookahead;
  std::optional<DraftOptions> draft;
  std::optional<LookupSpec> lookup;
  std::optional<RetrievalSpec> retrieval;
};

struct GenerationRequest {
  std::optional<std::string> promptText;
  std::vector<llama_token> promptTokens;
  bool addBos = true;
  bool parseSpecial = true;
  int32_t maxTokens = -1;  // -1: until the context is full
  SamplingParams sampling;
  std::vector<std::string> stops;
  double chunkMs = 25;  // a step returns to JS after about this long
};

struct GenerationStats {
  int32_t promptTokens = 0;
  int32_t reusedTokens = 0;  // prompt tokens whose KV was kept from the previous call
  int32_t generatedTokens = 0;
  double promptMs = 0;
  double generationMs = 0;
  int32_t mainDecodes = 0;  // main-model evaluations while generating (plain steps and verifications)
  int32_t drafted = 0;
  int32_t accepted = 0;
  std::vector<int32_t> draftedAt;  // by draft position (0 = the first token of a draft)
  std::vector<int32_t> acceptedAt;
  double draftMs = 0;
  double mainMs = 0;
  std::string stopReason;
  struct Drafter {
    std::string name;
    int32_t proposed = 0;  // tokens it proposed (each tree node it proposed once)
    int32_t accepted = 0;  // of those, kept
    std::vector<int32_t> proposedAt;  // the same by draft position (0: the first drafted token)
    std::vector<int32_t> acceptedAt;
    void count(std::vector<int32_t>& at, size_t position) {
      if (at.size() <= position) at.resize(position + 1, 0);
      at[position]++;
    }
  };
  std::vector<Drafter> drafters;  // in the session's drafter order
  void add(const GenerationStats& g);
};

struct StepResult {
  std::vector<llama_token> tokens;
  std::vector<uint8_t> drafted;  // by token: 1 where it is a drafted token the main model kept
  std::string text;
  bool done = false;
};

class SessionCore {
 public:
  SessionCore(std::shared_ptr<ModelCore> model, const SessionOptions& options);

  uint32_t contextSize() const { return main_->contextSize(); }
  uint32_t batchSize() const { return main_->batchSize(); }
  const std::shared_ptr<ModelCore>& model() const { return main_->model(); }
  bool hasDraft() const { return !drafters_.empty(); }

  // Main thread: starts a generation (arguments already copied into plain C++ values).
  void begin(GenerationRequest request);
  // Worker: advances the current generation by about request.chunkMs.
  StepResult step();
  // Worker: logits for every position of `tokens` evaluated after a cleared cache, in batches of
  // batchSize tokens. For numerics checks and scoring.
  std::vector<float> evaluateLogits(const std::vector<llama_token>& tokens, uint32_t batchSize);
  // Worker: the cost curve V(n): median milliseconds of one main-model decode of n tokens (logits
  // for every position) at context depth `depth`, for each n in `sizes`. Clears the session's cache.
  std::vector<double> measureDecode(uint32_t depth, const std::vector<uint32_t>& sizes, uint32_t repeats);

  void requestAbort() { abort_.store(true); }

  // Main thread only: whether a worker is queued or running on this core, and the statistics
  // as of the last finished step (the worker's own copy may be changing meanwhile).
  bool busy = false;
  GenerationStats publishedStats;
  GenerationStats publishedTotals;
  // Main thread, when no worker runs: ends the busy state and publishes the statistics.
  void settle() {
    busy = false;
    publishedStats = stats_;
    publishedTotals = totals_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase { Idle, Prepare, Prompt, Decode, Done };
  struct FreeThreadpool {
    void operator()(ggml_threadpool* p) const { ggml_threadpool_free(p); }
  };

  void prepare();
  void evalPromptChunk();
  void decodeRound(StepResult& out);
  void plainRound(StepResult& out);
  int speculativeRound(int k, StepResult& out);
  int clampDraftLength(int k) const;
  Choice verifyPlace(const float* logits, int32_t parent, size_t depth);
  void recordFreeDrafters(int32_t parent, size_t depth, uint32_t keptSources);
  size_t proposeFree(int k);
  void decodeMain(const llama_token* tokens, int32_t n, bool allLogits);
  // Hands one token to the output; false when the generation ends with it (or before it).
  bool emit(llama_token token, StepResult& out, bool drafted = false);
  void recordPosition(size_t index, bool accepted);
  void finish(const char* reason);
  void pauseThreads();

  // Declared in the order of creation: evaluators, which use the threadpools, are freed first.
  std::unique_ptr<ggml_threadpool, FreeThreadpool> threadpool_;
  std::unique_ptr<ggml_threadpool, FreeThreadpool> threadpoolBatch_;
  std::atomic<bool> abort_{false};
  std::unique_ptr<Evaluator> main_;
  struct SessionDrafter {
    std::string name;
    int32_t maxTokens;
    bool costly;  // a draft model: its proposals cost time (the others' next to nothing)
    bool adaptive;  // a free drafter's proposals may be cut where they are seldom kept
    std::unique_ptr<Drafter> drafter;
    // A free drafter's record: its proposals are cut where they are seldom kept, and it sits out
    // `resting` rounds when its first place is poor.
    PlaceRecord record;
    int resting = 0;
  };
  std::vector<SessionDrafter> drafters_;
  int maxLeaves_ = 0;  // candidates the drafters offer in a round, at most
  bool freeDrafters_ = false;  // any besides a draft model
  int draftModelK_ = -1;       // with free drafters: what draftController_ said this round (-1: not asked)
  size_t promptCatchUp_ = 0, remaining_ = 0;  // of this round, for draftController_
  // Rounds (faded) in which the free drafters fell short and draftController_ was asked, of all.
  double shortRounds_ = 0, allRounds_ = 0;
  double roundCatchUpMs_ = 0;  // of this round's drafters, catching up with the text
  LookaheadDrafter* lookahead_ = nullptr;  // in drafters_, when there is one
  std::optional<DraftOptions> draftOptions_;
  std::unique_ptr<DraftController> controller_;
  std::unique_ptr<DraftController> draftController_;  // the draft model's, beside free drafters

  GenerationRequest request_;
  GenerationStats stats_;
  GenerationStats totals_;  // of the finished generations
  Phase phase_ = Phase::Idle;
  std::vector<llama_token> prompt_;
  size_t promptDone_ = 0;
  std::vector<llama_token> history_;        // prompt + generated
  std::vector<llama_token> pending_;          // generated but not yet in the main KV cache
  const float* nextLogits_ = nullptr;        // main logits for the next position (when nothing is pending)
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<TextStream> text_;
  Draft draft_;
  DraftTree tree_;
  // Scratch of a speculative round.
  std::vector<llama_token> batch_;
  std::vector<int32_t> rowOf_;
  std::vector<int32_t> offsets_;
  std::vector<uint64_t> seqs_;
  std::vector<uint64_t> masks_;
  std::vector<llama_token> candidates_;
  std::vector<int32_t> childNodes_;
  std::vector<std::vector<Draft>> proposals_;  // by drafter
  std::vector<int32_t> windowRows_;            // batch rows of the lookahead window's last level
  Clock::time_point phaseStart_;
  LiveCount<SessionCore> live_;
};

}  // namespace specdec

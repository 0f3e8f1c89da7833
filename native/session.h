// Session: a main-model Evaluator (context + KV cache), its drafters (drafter_set.h), and the
// generation: the prompt in chunks, then rounds (round.cpp), plain or speculative, until a stop.
// Options and their defaults: options.h.
//
// Threading: the JS wrapper lets at most one worker use a SessionCore at a time (a busy flag on
// the main thread), so the core needs no locks; abort is an atomic flag read between steps and
// by llama_decode's abort callback. Lifetime: the core is held by shared_ptr by the wrapper and
// by the worker running a step; it holds its models, so nothing is freed under a worker.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "batch.h"
#include "clock.h"
#include "drafter_set.h"
#include "evaluator.h"
#include "live.h"
#include "llama.h"
#include "model.h"
#include "options.h"
#include "sampling.h"
#include "stats.h"
#include "text.h"
#include "tree.h"
#include "verify.h"

namespace specdec {

struct StepResult {
  std::vector<llama_token> tokens;
  std::vector<uint8_t> drafted;  // by token: 1 where it is a drafted token the main model kept
  std::string text;
  bool done = false;
  // With request.logprobs >= 0, by token: its log-probability under the main model's logits
  // (softmax at temperature 1, before penalties and the sampler chain), and the request.logprobs
  // likeliest tokens with theirs (flattened, request.logprobs per token).
  std::vector<float> logprobs;
  std::vector<llama_token> topTokens;
  std::vector<float> topLogprobs;
};

class SessionCore {
 public:
  SessionCore(std::shared_ptr<ModelCore> model, const SessionOptions& options);

  uint32_t contextSize() const { return main_->contextSize(); }
  uint32_t batchSize() const { return main_->batchSize(); }
  const std::shared_ptr<ModelCore>& model() const { return main_->model(); }
  bool hasDraft() const { return drafters_->size() > 0; }

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

  // What a speculative round did, for the controllers.
  struct RoundResult {
    Proposal proposal;
    int depth = 0;  // of the tree verified (0: the round decoded plainly)
  };

  void prepare();
  void evalPromptChunk();
  // One round (round.cpp): plain, or speculative: plan -> propose -> batch -> verify -> commit -> learn.
  void decodeRound(StepResult& out);
  void plainRound(StepResult& out);
  RoundResult speculativeRound(const RoundPlan& plan, StepResult& out);
  const std::vector<LookaheadToken>* lookaheadWindow();
  size_t nodeRoom(const std::vector<LookaheadToken>* window) const;
  void evaluateBatch();
  int draftLimit() const;
  Choice verifyPlace(const float* logits, int32_t parent, size_t depth);
  void decodeMain(const llama_token* tokens, int32_t n, bool allLogits);
  // Hands one token to the output; false when the generation ends with it (or before it).
  // logits: the main model's at the token's position (for logprobs).
  bool emit(llama_token token, const float* logits, StepResult& out, bool drafted = false);
  void finish(const char* reason);
  void pauseThreads();

  // Declared in the order of creation: evaluators, which use the threadpools, are freed first.
  std::unique_ptr<ggml_threadpool, FreeThreadpool> threadpool_;
  std::unique_ptr<ggml_threadpool, FreeThreadpool> threadpoolBatch_;
  std::atomic<bool> abort_{false};
  std::unique_ptr<DrafterSet> drafters_;
  std::unique_ptr<Evaluator> main_;

  GenerationRequest request_;
  GenerationStats stats_;
  GenerationStats totals_;  // of the finished generations
  Phase phase_ = Phase::Idle;
  std::vector<llama_token> prompt_;
  size_t promptDone_ = 0;
  int refusalsBefore_ = 0;  // the drafters' prompt refusals before this generation
  double unbatchedMs_ = 0;  // of the rounds since the last batch, those that ran none (round.cpp)
  std::vector<llama_token> history_;        // prompt + generated
  std::vector<llama_token> pending_;          // generated but not yet in the main KV cache
  const float* nextLogits_ = nullptr;        // main logits for the next position (when nothing is pending)
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Grammar> grammar_;  // where the output so far has left the request's grammar (null: none)
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<TextStream> text_;
  DraftTree tree_;
  VerificationBatch batch_;
  std::vector<llama_token> candidates_;  // scratch of verifyPlace
  std::vector<int32_t> childNodes_;
  Clock::time_point phaseStart_;
  LiveCount<SessionCore> live_;
};

}  // namespace specdec

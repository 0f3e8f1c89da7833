// Session: owns one llama_context (and so its KV cache) and runs generations on it.
//
// Threading: the JS wrapper lets at most one worker use a SessionCore at a time (a busy flag on
// the main thread), so the core needs no locks; abort is an atomic flag read between steps and
// by llama_decode's abort callback. Lifetime: the core is held by shared_ptr by the wrapper and
// by the worker running a step; it holds its ModelCore, so neither is freed under a worker.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "llama.h"
#include "model.h"
#include "sampling.h"
#include "text.h"

namespace specdec {

struct SessionOptions {
  uint32_t contextSize = 0;  // 0: the model's training context
  uint32_t batchSize = 512;
  int32_t threads = 4;
  int32_t threadsBatch = 4;
  int32_t flashAttention = -1;  // llama_flash_attn_type: -1 auto, 0 off, 1 on
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
  std::string stopReason;
};

struct StepResult {
  std::vector<llama_token> tokens;
  std::string text;
  bool done = false;
};

class SessionCore {
 public:
  SessionCore(std::shared_ptr<ModelCore> model, const SessionOptions& options);
  SessionCore(const SessionCore&) = delete;
  SessionCore& operator=(const SessionCore&) = delete;

  uint32_t contextSize() const { return nCtx_; }
  uint32_t batchSize() const { return nBatch_; }
  const std::shared_ptr<ModelCore>& model() const { return model_; }

  // Main thread: starts a generation (arguments already copied into plain C++ values).
  void begin(GenerationRequest request);
  // Worker: advances the current generation by about request.chunkMs.
  StepResult step();
  // Worker: logits for every position of `tokens` evaluated after a cleared cache, in batches of
  // batchSize tokens. For numerics checks and scoring.
  std::vector<float> evaluateLogits(const std::vector<llama_token>& tokens, uint32_t batchSize);

  void requestAbort() { abort_.store(true); }

  // Main thread only: whether a worker is queued or running on this core, and the statistics
  // as of the last finished step (the worker's own copy may be changing meanwhile).
  bool busy = false;
  GenerationStats publishedStats;
  // Main thread, when no worker runs: ends the busy state and publishes the statistics.
  void settle() {
    busy = false;
    publishedStats = stats_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase { Idle, Prepare, Prompt, Decode, Done };

  void prepare();
  void evalPromptChunk();
  // One sampled token: records it, decodes it unless the generation ends with it.
  void acceptToken(llama_token token, StepResult& out);
  void decode(const llama_token* tokens, int32_t n, bool allLogits);
  void finish(const char* reason);
  void pauseThreads();
  static bool abortCallback(void* data);

  struct FreeThreadpool {
    void operator()(ggml_threadpool* p) const { ggml_threadpool_free(p); }
  };
  struct FreeContext {
    void operator()(llama_context* c) const { llama_free(c); }
  };
  struct FreeBatch {
    void operator()(llama_batch* b) const {
      llama_batch_free(*b);
      delete b;
    }
  };

  std::shared_ptr<ModelCore> model_;
  // Declared in the order of creation: the context, which uses the threadpools, is freed first.
  std::unique_ptr<ggml_threadpool, FreeThreadpool> threadpool_;
  std::unique_ptr<ggml_threadpool, FreeThreadpool> threadpoolBatch_;
  std::unique_ptr<llama_context, FreeContext> ctx_;
  std::unique_ptr<llama_batch, FreeBatch> batchOwner_;
  llama_batch& batch_;
  uint32_t nCtx_ = 0;
  uint32_t nBatch_ = 0;
  std::atomic<bool> abort_{false};

  std::vector<llama_token> kvTokens_;  // the tokens whose KV entries are in sequence 0, in order
  GenerationRequest request_;
  GenerationStats stats_;
  Phase phase_ = Phase::Idle;
  std::vector<llama_token> prompt_;
  size_t promptDone_ = 0;
  std::vector<llama_token> history_;  // prompt + generated, for the repeat penalties
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<TextStream> text_;
  Clock::time_point phaseStart_;
};

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // model.createSession(options) -> Promise<Session>
  static Napi::Value Create(Napi::Env env, std::shared_ptr<ModelCore> model, const Napi::Object& options);
  explicit SessionWrap(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<SessionCore> core(Napi::Env env) const;
  std::shared_ptr<SessionCore> idleCore(Napi::Env env) const;
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Begin(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value EvaluateLogits(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<SessionCore> core_;
};

}  // namespace specdec

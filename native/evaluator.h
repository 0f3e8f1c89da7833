// Evaluator: owns one llama_context and its batch, and knows which tokens its KV cache (the main
// sequence, 0) holds. Both the main model of a session and a draft model use one. For token
// trees it can give a batch's tokens to branch sequences, which share the main one's cells up to
// the batch and are dropped after it.
//
// Threading: used by one worker at a time (the session's), within its CPU turn (turns.h: the
// binding takes it for each task that evaluates). The threadpools are the session's and outlive
// the evaluator.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "ggml-cpu.h"
#include "llama.h"
#include "model.h"
#include "options.h"

namespace specdec {

// Numerics (docs/numerics.md), process-wide. Exact: batches of up to kExactMaxBatch tokens give
// logits bit-identical to single tokens, on the CPU backend and on every GPU backend that has the
// switch (CUDA: patch 0015); kExactMaxBatch covers every verification batch specdec builds, and
// larger prompt chunks keep llama.cpp's fast kernels. Fast: llama.cpp's kernels everywhere.
constexpr int kExactMaxBatch = 64;
void setExactNumerics(bool exact);
inline bool exactNumerics() { return ggml_cpu_get_batch_invariant_max() > 0; }

// The key of an evaluator's figures in its model's CostCurve: its thread counts.
inline int costKey(const EvaluatorOptions& o) { return CostCurve::key(o.threads, o.threadsBatch); }

class Evaluator {
 public:
  // abort: read by llama_decode's abort callback; owned by the caller, outlives the evaluator.
  Evaluator(std::shared_ptr<ModelCore> model, const EvaluatorOptions& options, ggml_threadpool* threadpool,
            ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort);

  const std::shared_ptr<ModelCore>& model() const { return model_; }
  uint32_t contextSize() const { return nCtx_; }
  uint32_t batchSize() const { return nBatch_; }
  // The tokens whose KV entries are in the cache, in order.
  const std::vector<llama_token>& tokens() const { return tokens_; }
  size_t commonPrefix(const std::vector<llama_token>& other) const;

  // Appends n tokens to the cache; logits for every position or only the last. Throws ABORTED,
  // CONTEXT_OVERFLOW, DECODE_FAILED (the cache then holds what it held before).
  void decode(const llama_token* tokens, int32_t n, bool allLogits);
  // Appends a token tree: token i at position tokens().size() + offset[i], in the sequences of
  // seqs[i] (bit s: sequence s; bit 0: the main one), all logits. The first `primary` tokens are
  // the main sequence's, at offsets 0, 1, ... Every branch sequence first shares the cache's
  // cells. Throws as decode; afterwards, dropBranches() must be called.
  void decodeTree(const llama_token* tokens, int32_t n, const int32_t* offset, const uint64_t* seqs, size_t primary,
                  int branches);
  // Removes every branch sequence (the cells only they held are freed).
  void dropBranches();
  // Logits of row i of the last decode (-1: its last row).
  const float* logits(int32_t i) const;
  // Drops cache entries from position n on. Returns false (and clears all) when the memory
  // cannot drop a suffix.
  void truncate(size_t n);
  void clear();
  // Evaluates `tokens` from where the cache and `tokens` part ways, in batches, so that the cache
  // holds exactly `tokens` and logits(-1) follows them (the last token is evaluated again when
  // the cache already held everything but those logits are gone).
  void sync(const std::vector<llama_token>& tokens);

 private:
  struct FreeContext {
    void operator()(llama_context* c) const { llama_free(c); }
  };
  struct FreeBatch {
    void operator()(llama_batch* b) const {
      llama_batch_free(*b);
      delete b;
    }
  };
  static bool abortCallback(void* data);
  void run(int32_t n, size_t keepOnFailure, bool timed);

  std::shared_ptr<ModelCore> model_;
  std::unique_ptr<llama_context, FreeContext> ctx_;
  std::unique_ptr<llama_batch, FreeBatch> batch_;
  uint32_t nCtx_ = 0;
  int costKey_ = 0;
  uint32_t nBatch_ = 0;
  int32_t branches_ = 0;
  int32_t branchesUsed_ = 0;
  const std::atomic<bool>* abort_;
  std::vector<llama_token> tokens_;
  size_t logitsAt_ = 0;  // the last row's logits follow tokens_[0..logitsAt_); 0: none
};

}  // namespace specdec

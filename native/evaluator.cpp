#include "evaluator.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "clock.h"
#include "errors.h"
#include "ggml-backend.h"
#include "rpc_workers.h"

namespace specdec {

namespace {

constexpr const char* kBatchInvariantSwitch = "ggml_backend_set_batch_invariant_max";

// Whether one of this machine's GPUs has the batch-invariant switch.
bool batchInvariantGpu() {
  for (ggml_backend_dev_t dev : localGpuDevices()) {
    if (ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), kBatchInvariantSwitch)) return true;
  }
  return false;
}

}  // namespace

void setExactNumerics(bool exact) {
  const int n = exact ? kExactMaxBatch : 0;
  ggml_cpu_set_batch_invariant_max(n);
  for (size_t i = 0; i < ggml_backend_reg_count(); i++) {
    auto set = (void (*)(int))ggml_backend_reg_get_proc_address(ggml_backend_reg_get(i), kBatchInvariantSwitch);
    if (set) set(n);
  }
}

Evaluator::Evaluator(std::shared_ptr<ModelCore> model, const EvaluatorOptions& options, ggml_threadpool* threadpool,
                     ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort)
    : model_(std::move(model)), abort_(abort) {
  if (model_->options().vocabOnly) fail("INVALID_ARGUMENT", "the model was loaded with vocabOnly: it cannot generate");
  llama_context_params params = llama_context_default_params();
  params.n_ctx = options.contextSize ? options.contextSize : (uint32_t)llama_model_n_ctx_train(model_->get());
  params.n_batch = std::min(options.batchSize, params.n_ctx);
  params.n_ubatch = params.n_batch;
  branches_ = std::clamp(options.branches, 0, 63);
  params.n_seq_max = (uint32_t)branches_ + 1;
  params.kv_unified = true;  // branch sequences share the main one's cells
  params.n_threads = options.threads;
  params.n_threads_batch = options.threadsBatch;
  costKey_ = costKey(options);
  params.flash_attn_type = (llama_flash_attn_type)options.flashAttention;
  // Exact numerics with layers on a GPU whose kernels are batch-invariant (CUDA: patch 0015):
  // flash attention's GPU kernels are chosen by the number of queries (a vector kernel for one,
  // tiled ones for more), the attention without them is batch-invariant there. "auto" takes that.
  if (options.flashAttention == LLAMA_FLASH_ATTN_TYPE_AUTO && exactNumerics() && model_->options().gpuLayers != 0 &&
      batchInvariantGpu()) {
    params.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  params.abort_callback = &Evaluator::abortCallback;
  params.abort_callback_data = this;
  params.no_perf = true;
  ctx_.reset(llama_init_from_model(model_->get(), params));
  model_->checkRpc();
  if (!ctx_) fail("CONTEXT_FAILED", "failed to create a llama context (out of memory, or unsupported options)");
  llama_attach_threadpool(ctx_.get(), threadpool, threadpoolBatch);
  // llama.cpp rounds the KV cache up (to a multiple of 256); the evaluator keeps to what was asked.
  nCtx_ = std::min(params.n_ctx, llama_n_ctx(ctx_.get()));
  nBatch_ = llama_n_batch(ctx_.get());
  batch_.reset(new llama_batch(llama_batch_init((int32_t)nBatch_, 0, branches_ + 1)));
}

namespace {

// SPECDEC_SIMULATED_DECODE_MS: a fixed latency added to every decode of every model, whatever its
// size, as a GPU's launch and synchronisation costs are. For tests and benchmarks of the
// controller on a machine without such a device; read once.
double simulatedDecodeMs() {
  static const double ms = [] {
    const char* env = std::getenv("SPECDEC_SIMULATED_DECODE_MS");
    const double v = env ? std::atof(env) : 0;
    return v > 0 && v < 10000 ? v : 0.0;
  }();
  return ms;
}

}  // namespace

bool Evaluator::abortCallback(void* data) { return static_cast<Evaluator*>(data)->abort_->load(); }

size_t Evaluator::commonPrefix(const std::vector<llama_token>& other) const {
  size_t n = 0;
  while (n < tokens_.size() && n < other.size() && tokens_[n] == other[n]) n++;
  return n;
}

void Evaluator::decode(const llama_token* tokens, int32_t n, bool allLogits) {
  if (n <= 0 || (uint32_t)n > nBatch_) fail("INTERNAL", "batch size out of range");
  if (tokens_.size() + n > nCtx_) fail("CONTEXT_OVERFLOW", "the context is full");
  llama_batch& b = *batch_;
  for (int32_t i = 0; i < n; i++) {
    if (!model_->validToken(tokens[i])) fail("INVALID_ARGUMENT", "token id out of range");
    b.token[i] = tokens[i];
    b.pos[i] = (llama_pos)(tokens_.size() + i);
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = allLogits || i == n - 1;
  }
  run(n, tokens_.size(), allLogits || n == 1);
  tokens_.insert(tokens_.end(), tokens, tokens + n);
  logitsAt_ = tokens_.size();
}

// Decodes the batch's first n entries. On failure the main sequence is cut back to keepOnFailure
// tokens (whatever part of the batch was stored is dropped) and the branches are dropped. A
// decode with logits for every row (as verification asks) is timed into the model's CostCurve.
void Evaluator::run(int32_t n, size_t keepOnFailure, bool timed) {
  llama_batch& b = *batch_;
  b.n_tokens = n;
  const auto start = std::chrono::steady_clock::now();
  int32_t rc = llama_decode(ctx_.get(), b);
  // A GPU backend returns before the device has finished (the wait would come with the first
  // logits read): wait here, so that the time, and the cost curve, hold the device's work.
  llama_synchronize(ctx_.get());
  if (simulatedDecodeMs() > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(simulatedDecodeMs()));
  const double ms = msSince(start);
  // An abort during the wait is the abort, also where it ended a wait on an RPC worker by
  // disconnecting it. Else a lost RPC worker zeroes what it should have computed: nothing of
  // this decode counts.
  const bool aborted = rc == 2 || abort_->load();
  if (!aborted) model_->checkRpc();
  if (rc != 0 || aborted) {
    llama_memory_seq_rm(llama_get_memory(ctx_.get()), 0, (llama_pos)keepOnFailure, -1);
    dropBranches();
    if (aborted) fail("ABORTED", "the generation was aborted");
    fail("DECODE_FAILED", "llama_decode failed with code " + std::to_string(rc));
  }
  if (timed) model_->costCurve().record(costKey_, n, ms);
}

void Evaluator::decodeTree(const llama_token* tokens, int32_t n, const int32_t* offset, const uint64_t* seqs,
                           size_t primary, int branches) {
  if (n <= 0 || (uint32_t)n > nBatch_ || branches > branches_) fail("INTERNAL", "token tree out of range");
  int32_t deepest = 0;
  for (int32_t i = 0; i < n; i++) {
    if (!model_->validToken(tokens[i])) fail("INVALID_ARGUMENT", "token id out of range");
    deepest = std::max(deepest, offset[i]);
  }
  if (tokens_.size() + n > nCtx_ || tokens_.size() + deepest >= nCtx_) fail("CONTEXT_OVERFLOW", "the context is full");
  llama_memory_t memory = llama_get_memory(ctx_.get());
  for (int s = 1; s <= branches; s++) llama_memory_seq_cp(memory, 0, s, -1, -1);
  branchesUsed_ = branches;
  llama_batch& b = *batch_;
  for (int32_t i = 0; i < n; i++) {
    b.token[i] = tokens[i];
    b.pos[i] = (llama_pos)(tokens_.size() + offset[i]);
    b.n_seq_id[i] = 0;
    for (int s = 0; s <= branches; s++) {
      if ((seqs[i] >> s) & 1u) b.seq_id[i][b.n_seq_id[i]++] = s;
    }
    b.logits[i] = true;
  }
  run(n, tokens_.size(), true);
  tokens_.insert(tokens_.end(), tokens, tokens + primary);
  logitsAt_ = 0;  // the last row is not the main sequence's next position
}

void Evaluator::dropBranches() {
  llama_memory_t memory = llama_get_memory(ctx_.get());
  for (int s = 1; s <= branchesUsed_; s++) llama_memory_seq_rm(memory, s, -1, -1);
  branchesUsed_ = 0;
}

const float* Evaluator::logits(int32_t i) const { return llama_get_logits_ith(ctx_.get(), i); }

void Evaluator::truncate(size_t n) {
  if (n >= tokens_.size()) return;
  if (!llama_memory_seq_rm(llama_get_memory(ctx_.get()), 0, (llama_pos)n, -1)) {
    clear();
    return;
  }
  tokens_.resize(n);
  if (logitsAt_ > n) logitsAt_ = 0;
}

void Evaluator::clear() {
  llama_memory_clear(llama_get_memory(ctx_.get()), true);
  tokens_.clear();
  logitsAt_ = 0;
}

void Evaluator::sync(const std::vector<llama_token>& tokens) {
  if (tokens.empty()) fail("INTERNAL", "nothing to evaluate");
  size_t common = commonPrefix(tokens);
  if (common == tokens.size() && tokens_.size() == common && logitsAt_ == common) return;
  if (common == tokens.size()) common--;
  truncate(common);
  for (size_t i = tokens_.size(); i < tokens.size();) {
    int32_t n = (int32_t)std::min<size_t>(nBatch_, tokens.size() - i);
    decode(tokens.data() + i, n, false);
    i += n;
  }
}

}  // namespace specdec

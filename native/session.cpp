#include "session.h"

#include <algorithm>
#include <cstring>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "turns.h"
#include "worker.h"

namespace specdec {

namespace {
double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

llama_batch* newBatch(int32_t n) { return new llama_batch(llama_batch_init(n, 0, 1)); }
}  // namespace

// ---- SessionCore ------------------------------------------------------------------------------

SessionCore::SessionCore(std::shared_ptr<ModelCore> model, const SessionOptions& options)
    : model_(std::move(model)), batchOwner_(newBatch((int32_t)std::max<uint32_t>(options.batchSize, 1))), batch_(*batchOwner_) {
  if (model_->options().vocabOnly) fail("INVALID_ARGUMENT", "the model was loaded with vocabOnly: it cannot generate");
  // Without a threadpool of its own, ggml starts and joins threads for every llama_decode.
  ggml_threadpool_params tp = ggml_threadpool_params_default(options.threads);
  threadpool_.reset(ggml_threadpool_new(&tp));
  if (options.threadsBatch != options.threads) {
    ggml_threadpool_params tpb = ggml_threadpool_params_default(options.threadsBatch);
    threadpoolBatch_.reset(ggml_threadpool_new(&tpb));
    if (!threadpoolBatch_) fail("CONTEXT_FAILED", "failed to start the CPU threadpool");
  }
  if (!threadpool_) fail("CONTEXT_FAILED", "failed to start the CPU threadpool");

  llama_context_params params = llama_context_default_params();
  params.n_ctx = options.contextSize ? options.contextSize : (uint32_t)llama_model_n_ctx_train(model_->get());
  params.n_batch = std::min(options.batchSize, params.n_ctx);
  params.n_ubatch = params.n_batch;
  params.n_seq_max = 1;
  params.n_threads = options.threads;
  params.n_threads_batch = options.threadsBatch;
  params.flash_attn_type = (llama_flash_attn_type)options.flashAttention;
  params.abort_callback = &SessionCore::abortCallback;
  params.abort_callback_data = this;
  params.no_perf = true;
  ctx_.reset(llama_init_from_model(model_->get(), params));
  if (!ctx_) fail("CONTEXT_FAILED", "failed to create a llama context (out of memory, or unsupported options)");
  llama_attach_threadpool(ctx_.get(), threadpool_.get(), threadpoolBatch_ ? threadpoolBatch_.get() : threadpool_.get());
  // llama.cpp rounds the KV cache up (to a multiple of 256); the session keeps to what was asked.
  nCtx_ = std::min(params.n_ctx, llama_n_ctx(ctx_.get()));
  nBatch_ = llama_n_batch(ctx_.get());
}

void SessionCore::pauseThreads() {
  ggml_threadpool_pause(threadpool_.get());
  if (threadpoolBatch_) ggml_threadpool_pause(threadpoolBatch_.get());
}

bool SessionCore::abortCallback(void* data) { return static_cast<SessionCore*>(data)->abort_.load(); }

void SessionCore::begin(GenerationRequest request) {
  request_ = std::move(request);
  stats_ = GenerationStats{};
  abort_.store(false);
  phase_ = Phase::Prepare;
}

// Tokenizes the prompt, checks it against the context, and keeps the longest common prefix of
// the KV cache (at least one prompt token is evaluated again: its logits start the generation).
void SessionCore::prepare() {
  if (request_.promptText) {
    prompt_ = model_->tokenize(*request_.promptText, request_.addBos, request_.parseSpecial);
  } else {
    prompt_ = std::move(request_.promptTokens);
    model_->checkTokens(prompt_);
  }
  const int32_t n = (int32_t)prompt_.size();
  if (n == 0) fail("INVALID_ARGUMENT", "the prompt is empty (no tokens to start from)");
  if ((uint32_t)n >= nCtx_) {
    fail("CONTEXT_OVERFLOW", "the prompt has " + std::to_string(n) + " tokens; the context holds " +
                                 std::to_string(nCtx_) + " (at least one more is needed to generate)");
  }
  if (request_.maxTokens > 0 && (uint32_t)(n + request_.maxTokens) > nCtx_) {
    fail("CONTEXT_OVERFLOW", "prompt (" + std::to_string(n) + " tokens) + maxTokens (" +
                                 std::to_string(request_.maxTokens) + ") exceed the context size " +
                                 std::to_string(nCtx_));
  }
  size_t common = 0;
  while (common < kvTokens_.size() && common < prompt_.size() && kvTokens_[common] == prompt_[common]) common++;
  if (common == prompt_.size()) common--;
  if (!llama_memory_seq_rm(llama_get_memory(ctx_.get()), 0, (llama_pos)common, -1)) {
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    common = 0;
  }
  kvTokens_.resize(common);
  promptDone_ = common;
  history_ = prompt_;
  sampler_ = std::make_unique<Sampler>(request_.sampling);
  text_ = std::make_unique<TextStream>(request_.stops);
  stats_.promptTokens = n;
  stats_.reusedTokens = (int32_t)common;
  phase_ = Phase::Prompt;
  phaseStart_ = Clock::now();
}

void SessionCore::decode(const llama_token* tokens, int32_t n, bool allLogits) {
  if (n <= 0 || (uint32_t)n > nBatch_) fail("INTERNAL", "batch size out of range");
  if (kvTokens_.size() + n > nCtx_) fail("CONTEXT_OVERFLOW", "the context is full");
  for (int32_t i = 0; i < n; i++) {
    model_->validToken(tokens[i]) ? void() : fail("INVALID_ARGUMENT", "token id out of range");
    batch_.token[i] = tokens[i];
    batch_.pos[i] = (llama_pos)(kvTokens_.size() + i);
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = 0;
    batch_.logits[i] = allLogits || i == n - 1;
  }
  batch_.n_tokens = n;
  CpuTurns::instance().acquire();
  int32_t rc = llama_decode(ctx_.get(), batch_);
  if (CpuTurns::instance().release()) pauseThreads();
  if (rc != 0) {
    // Whatever part of the batch was stored is dropped, so the cache matches kvTokens_ again.
    llama_memory_seq_rm(llama_get_memory(ctx_.get()), 0, (llama_pos)kvTokens_.size(), -1);
    if (rc == 2 || abort_.load()) fail("ABORTED", "the generation was aborted");
    fail("DECODE_FAILED", "llama_decode failed with code " + std::to_string(rc));
  }
  kvTokens_.insert(kvTokens_.end(), tokens, tokens + n);
}

void SessionCore::evalPromptChunk() {
  size_t n = std::min<size_t>(nBatch_, prompt_.size() - promptDone_);
  decode(prompt_.data() + promptDone_, (int32_t)n, false);
  promptDone_ += n;
  if (promptDone_ == prompt_.size()) {
    stats_.promptMs = msSince(phaseStart_);
    phase_ = Phase::Decode;
    phaseStart_ = Clock::now();
  }
}

void SessionCore::finish(const char* reason) {
  if (phase_ == Phase::Decode) stats_.generationMs = msSince(phaseStart_);
  stats_.stopReason = reason;
  phase_ = Phase::Done;
}

void SessionCore::acceptToken(llama_token token, StepResult& out) {
  if (model_->isEog(token)) {
    text_->flush();
    return finish("eos");
  }
  out.tokens.push_back(token);
  history_.push_back(token);
  stats_.generatedTokens++;
  if (text_->push(model_->piece(token))) return finish("stop");
  if (request_.maxTokens > 0 && stats_.generatedTokens >= request_.maxTokens) {
    text_->flush();
    return finish("maxTokens");
  }
  if (kvTokens_.size() + 1 >= nCtx_) {  // prompt + generated fill the context
    text_->flush();
    return finish("contextFull");
  }
  decode(&token, 1, false);
}

StepResult SessionCore::step() {
  StepResult out;
  const auto start = Clock::now();
  try {
    if (phase_ == Phase::Prepare) prepare();
    while (phase_ == Phase::Prompt || phase_ == Phase::Decode) {
      if (abort_.load()) fail("ABORTED", "the generation was aborted");
      if (phase_ == Phase::Prompt) {
        evalPromptChunk();
      } else {
        const float* logits = llama_get_logits_ith(ctx_.get(), -1);
        acceptToken(sampler_->sample(logits, model_->nVocab(), history_), out);
      }
      if (msSince(start) >= request_.chunkMs) break;
    }
  } catch (const SpecdecException& e) {
    pauseThreads();
    finish(e.code() == "ABORTED" ? "aborted" : "error");
    throw;
  }
  pauseThreads();  // until the next step, the threads sleep instead of polling
  out.text = text_ ? text_->take() : std::string();
  out.done = phase_ == Phase::Done;
  return out;
}

std::vector<float> SessionCore::evaluateLogits(const std::vector<llama_token>& tokens, uint32_t batchSize) {
  model_->checkTokens(tokens);
  if (tokens.empty()) fail("INVALID_ARGUMENT", "no tokens to evaluate");
  if (tokens.size() > nCtx_) fail("CONTEXT_OVERFLOW", "more tokens than the context holds");
  if (batchSize < 1 || batchSize > nBatch_) fail("INVALID_ARGUMENT", "batchSize must be in [1, session batch size]");
  abort_.store(false);
  llama_memory_clear(llama_get_memory(ctx_.get()), true);
  kvTokens_.clear();
  const int32_t nVocab = model_->nVocab();
  std::vector<float> out(tokens.size() * (size_t)nVocab);
  for (size_t i = 0; i < tokens.size(); i += batchSize) {
    int32_t n = (int32_t)std::min<size_t>(batchSize, tokens.size() - i);
    decode(tokens.data() + i, n, true);
    for (int32_t j = 0; j < n; j++) {
      std::memcpy(&out[(i + j) * nVocab], llama_get_logits_ith(ctx_.get(), j), nVocab * sizeof(float));
    }
  }
  pauseThreads();
  return out;
}

// ---- SessionWrap ------------------------------------------------------------------------------

Napi::Function SessionWrap::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&SessionWrap::Info>("info"),
                         InstanceMethod<&SessionWrap::Begin>("begin"),
                         InstanceMethod<&SessionWrap::Step>("step"),
                         InstanceMethod<&SessionWrap::Abort>("abort"),
                         InstanceMethod<&SessionWrap::Stats>("stats"),
                         InstanceMethod<&SessionWrap::EvaluateLogits>("evaluateLogits"),
                         InstanceMethod<&SessionWrap::Dispose>("dispose"),
                     });
}

SessionWrap::SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw makeError(info.Env(), "INVALID_ARGUMENT", "use model.createSession() to create a Session");
  }
  core_ = *info[0].As<Napi::External<std::shared_ptr<SessionCore>>>().Data();
}

Napi::Value SessionWrap::Create(Napi::Env env, std::shared_ptr<ModelCore> model, const Napi::Object& o) {
  SessionOptions options;
  options.contextSize = (uint32_t)optInt(o, "contextSize", 0, 0, 1 << 24);
  options.batchSize = (uint32_t)optInt(o, "batchSize", 512, 1, 1 << 16);
  options.threads = (int32_t)optInt(o, "threads", 4, 1, 1024);
  options.threadsBatch = (int32_t)optInt(o, "threadsBatch", options.threads, 1, 1024);
  options.flashAttention = (int32_t)optInt(o, "flashAttention", -1, -1, 1);
  return PromiseWorker<std::shared_ptr<SessionCore>>::Run(
      env, [model, options]() { return std::make_shared<SessionCore>(model, options); },
      [](Napi::Env env, std::shared_ptr<SessionCore>& core) -> Napi::Value {
        auto external = Napi::External<std::shared_ptr<SessionCore>>::New(env, &core);
        return AddonData::of(env).sessionClass.New({external});
      });
}

std::shared_ptr<SessionCore> SessionWrap::core(Napi::Env env) const {
  if (!core_) throw makeError(env, "DISPOSED", "the session has been disposed");
  return core_;
}

std::shared_ptr<SessionCore> SessionWrap::idleCore(Napi::Env env) const {
  auto core = this->core(env);
  if (core->busy) throw makeError(env, "BUSY", "the session is already generating; one generation at a time");
  return core;
}

Napi::Value SessionWrap::Info(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("contextSize", core->contextSize());
  o.Set("batchSize", core->batchSize());
  return o;
}

// begin({ prompt: string | tokens, addBos, specialTokens, maxTokens, stop, sampling..., chunkMs })
Napi::Value SessionWrap::Begin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  try {
    Napi::Object o = argObject(info, 0);
    GenerationRequest r;
    Napi::Value prompt = o.Get("prompt");
    if (prompt.IsString()) {
      r.promptText = prompt.As<Napi::String>().Utf8Value();
    } else {
      r.promptTokens = tokensFrom(prompt, "prompt");
    }
    r.addBos = optBool(o, "addBos", llama_vocab_get_add_bos(core->model()->vocab()));
    r.parseSpecial = optBool(o, "specialTokens", true);
    r.maxTokens = (int32_t)optInt(o, "maxTokens", -1, -1, 1 << 24);
    if (r.maxTokens == 0) fail("INVALID_ARGUMENT", "maxTokens must be at least 1");
    if (r.maxTokens > 0 && (uint32_t)r.maxTokens >= core->contextSize()) {
      fail("CONTEXT_OVERFLOW", "maxTokens (" + std::to_string(r.maxTokens) + ") must be below the context size (" +
                                   std::to_string(core->contextSize()) + ")");
    }
    SamplingParams& s = r.sampling;
    s.temperature = (float)optNumber(o, "temperature", s.temperature, 0, 100);
    s.topK = (int32_t)optInt(o, "topK", s.topK, 0, 1 << 24);
    s.topP = (float)optNumber(o, "topP", s.topP, 0, 1);
    s.minP = (float)optNumber(o, "minP", s.minP, 0, 1);
    s.repeatPenalty = (float)optNumber(o, "repeatPenalty", s.repeatPenalty, 0, 100);
    s.repeatLastN = (int32_t)optInt(o, "repeatLastN", s.repeatLastN, -1, 1 << 24);
    s.frequencyPenalty = (float)optNumber(o, "frequencyPenalty", 0, -100, 100);
    s.presencePenalty = (float)optNumber(o, "presencePenalty", 0, -100, 100);
    s.seed = (uint32_t)optInt(o, "seed", 0, 0, 0xffffffffLL);
    Napi::Value stop = o.Get("stop");
    if (stop.IsArray()) {
      auto arr = stop.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString()) fail("INVALID_ARGUMENT", "stop must be an array of strings");
        r.stops.push_back(v.As<Napi::String>().Utf8Value());
      }
    } else if (!stop.IsUndefined() && !stop.IsNull()) {
      fail("INVALID_ARGUMENT", "stop must be an array of strings");
    }
    r.chunkMs = optNumber(o, "chunkMs", 25, 0, 60000);
    core->begin(std::move(r));
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
  return env.Undefined();
}

// step() -> Promise<{ tokens: Int32Array, text: string, done: boolean }>
Napi::Value SessionWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  core->busy = true;
  return PromiseWorker<StepResult>::Run(
      env,
      [core]() { return core->step(); },
      [](Napi::Env env, StepResult& result) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("tokens", tokensToJs(env, result.tokens));
        o.Set("text", Napi::String::New(env, result.text));
        o.Set("done", result.done);
        return o;
      },
      [core]() { core->settle(); });
}

Napi::Value SessionWrap::Abort(const Napi::CallbackInfo& info) {
  if (core_) core_->requestAbort();
  return info.Env().Undefined();
}

Napi::Value SessionWrap::Stats(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  const GenerationStats& s = core->publishedStats;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("promptTokens", s.promptTokens);
  o.Set("reusedTokens", s.reusedTokens);
  o.Set("generatedTokens", s.generatedTokens);
  o.Set("promptMs", s.promptMs);
  o.Set("generationMs", s.generationMs);
  o.Set("stopReason", s.stopReason.empty() ? info.Env().Null() : Napi::String::New(info.Env(), s.stopReason));
  return o;
}

// evaluateLogits(tokens, batchSize) -> Promise<Float32Array> (tokens.length x vocabSize)
Napi::Value SessionWrap::EvaluateLogits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  std::vector<llama_token> tokens;
  uint32_t batchSize;
  try {
    tokens = tokensFrom(info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    Napi::Object o = argObject(info, 1);
    batchSize = (uint32_t)optInt(o, "batchSize", core->batchSize(), 1, core->batchSize());
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
  core->busy = true;
  return PromiseWorker<std::vector<float>>::Run(
      env, [core, tokens = std::move(tokens), batchSize]() { return core->evaluateLogits(tokens, batchSize); },
      [](Napi::Env env, std::vector<float>& logits) -> Napi::Value {
        auto a = Napi::Float32Array::New(env, logits.size());
        std::memcpy(a.Data(), logits.data(), logits.size() * sizeof(float));
        return a;
      },
      [core]() { core->settle(); });
}

Napi::Value SessionWrap::Dispose(const Napi::CallbackInfo& info) {
  if (core_) {
    core_->requestAbort();  // a running step ends at its next check; the worker's reference frees it
    core_.reset();
  }
  return info.Env().Undefined();
}

}  // namespace specdec

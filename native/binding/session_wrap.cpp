#include "session_wrap.h"

#include "addon.h"
#include "args.h"
#include "datastore.h"
#include "js_errors.h"
#include "model_wrap.h"
#include "worker.h"

namespace specdec {

Napi::Function SessionWrap::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&SessionWrap::Info>("info"),
                         InstanceMethod<&SessionWrap::Begin>("begin"),
                         InstanceMethod<&SessionWrap::Step>("step"),
                         InstanceMethod<&SessionWrap::Abort>("abort"),
                         InstanceMethod<&SessionWrap::Stats>("stats"),
                         InstanceMethod<&SessionWrap::EvaluateLogits>("evaluateLogits"),
                         InstanceMethod<&SessionWrap::MeasureDecode>("measureDecode"),
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
  checkKeys(o, {"contextSize", "batchSize", "threads", "threadsBatch", "flashAttention", "draft", "lookup", "lookahead", "retrieval"},
            "options");
  SessionOptions options;
  EvaluatorOptions& m = options.main;
  m.contextSize = (uint32_t)optInt(o, "contextSize", m.contextSize, 0, 1 << 24);
  m.batchSize = (uint32_t)optInt(o, "batchSize", m.batchSize, 1, 1 << 16);
  m.threads = (int32_t)optInt(o, "threads", m.threads, 1, 1024);
  m.threadsBatch = (int32_t)optInt(o, "threadsBatch", m.threads, 1, 1024);
  m.flashAttention = (int32_t)optInt(o, "flashAttention", m.flashAttention, -1, 1);
  if (auto draft = optObject(o, "draft", {"model", "maxTokens", "adaptive", "minConfidence", "greedy", "translate"})) {
    Napi::Object d = *draft;
    Napi::Value handle = d.Get("model");
    if (!handle.IsObject() || !handle.As<Napi::Object>().InstanceOf(AddonData::of(env).modelClass.Value())) {
      fail("INVALID_ARGUMENT", "draft.model must be a Model");
    }
    DraftSpec dopt;
    dopt.model = ModelWrap::Unwrap(handle.As<Napi::Object>())->core(env);
    dopt.maxTokens = (int32_t)optInt(d, "maxTokens", dopt.maxTokens, 1, 63);
    dopt.adaptive = optBool(d, "adaptive", dopt.adaptive);
    dopt.drafter.minConfidence = (float)optNumber(d, "minConfidence", dopt.drafter.minConfidence, 0, 1);
    dopt.drafter.greedyWhenSampling = optBool(d, "greedy", dopt.drafter.greedyWhenSampling);
    // Translating between equal vocabularies would only cost: it is asked for, not needed.
    dopt.drafter.translate = optBool(d, "translate", false) && dopt.model->vocabFingerprint() != model->vocabFingerprint();
    uint32_t ctx = m.contextSize ? m.contextSize : (uint32_t)llama_model_n_ctx_train(model->get());
    // The longer default: whether free drafters run beside it is read below.
    if ((uint32_t)dopt.length(false) + 1 >= ctx) fail("INVALID_ARGUMENT", "draft.maxTokens must be below the context size");
    options.draft = dopt;
  }
  if (auto lookup = optObject(o, "lookup", {"ngramMin", "ngramMax", "maxTokens", "adaptive"})) {
    Napi::Object l = *lookup;
    LookupSpec spec;
    spec.lookup.ngramMin = (int32_t)optInt(l, "ngramMin", spec.lookup.ngramMin, 1, 16);
    spec.lookup.ngramMax = (int32_t)optInt(l, "ngramMax", std::max(spec.lookup.ngramMax, spec.lookup.ngramMin), spec.lookup.ngramMin, 16);
    spec.maxTokens = (int32_t)optInt(l, "maxTokens", spec.maxTokens, 1, 63);
    spec.adaptive = optBool(l, "adaptive", spec.adaptive);
    options.lookup = spec;
  }
  if (auto lookahead = optObject(o, "lookahead", {"window", "ngram", "candidates"})) {
    Napi::Object l = *lookahead;
    LookaheadSpec spec;
    spec.lookahead.window = (int32_t)optInt(l, "window", spec.lookahead.window, 1, 16);
    spec.lookahead.ngram = (int32_t)optInt(l, "ngram", spec.lookahead.ngram, 3, 8);
    spec.lookahead.candidates = (int32_t)optInt(l, "candidates", spec.lookahead.candidates, 1, 8);
    options.lookahead = spec;
  }
  if (auto retrieval = optObject(o, "retrieval", {"path", "minMatch", "maxMatch", "candidates", "maxTokens", "adaptive"})) {
    Napi::Object r = *retrieval;
    RetrievalSpec spec;
    Napi::Value path = r.Get("path");
    if (!path.IsString()) fail("INVALID_ARGUMENT", "retrieval.path must be a string");
    spec.path = path.As<Napi::String>().Utf8Value();
    spec.retrieval.minMatch = (int32_t)optInt(r, "minMatch", spec.retrieval.minMatch, 1, 64);
    spec.retrieval.maxMatch = (int32_t)optInt(r, "maxMatch", std::max(spec.retrieval.maxMatch, spec.retrieval.minMatch), spec.retrieval.minMatch, 64);
    spec.retrieval.candidates = (int32_t)optInt(r, "candidates", spec.retrieval.candidates, 1, 8);
    spec.maxTokens = (int32_t)optInt(r, "maxTokens", spec.maxTokens, 1, 63);
    spec.adaptive = optBool(r, "adaptive", spec.adaptive);
    options.retrieval = spec;
  }
  return PromiseWorker<std::shared_ptr<SessionCore>>::Run(
      env,
      [model, options]() mutable {
        if (options.draft && !options.draft->drafter.translate) model->checkDraftCompatible(*options.draft->model);
        if (options.retrieval) options.retrieval->store = Datastore::open(options.retrieval->path, *model);
        return std::make_shared<SessionCore>(model, options);
      },
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
  o.Set("hasDraft", core->hasDraft());
  return o;
}

// begin({ prompt: string | tokens, addBos, specialTokens, maxTokens, stop, sampling..., chunkMs })
Napi::Value SessionWrap::Begin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  jsCall(env, [&] {
    Napi::Object o = argObject(info, 0, {"prompt", "addBos", "specialTokens", "maxTokens", "temperature", "topK", "topP",
                                         "minP", "repeatPenalty", "repeatLastN", "frequencyPenalty", "presencePenalty",
                                         "seed", "stop", "grammar", "logprobs", "chunkMs", "references"});
    GenerationRequest r;
    Napi::Value prompt = o.Get("prompt");
    if (prompt.IsString()) {
      r.promptText = prompt.As<Napi::String>().Utf8Value();
    } else {
      r.promptTokens = tokensFrom(prompt, "prompt");
    }
    r.addBos = optBool(o, "addBos", llama_vocab_get_add_bos(core->model()->vocab()));
    r.parseSpecial = optBool(o, "specialTokens", r.parseSpecial);
    r.maxTokens = (int32_t)optInt(o, "maxTokens", r.maxTokens, -1, 1 << 24);
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
    s.frequencyPenalty = (float)optNumber(o, "frequencyPenalty", s.frequencyPenalty, -100, 100);
    s.presencePenalty = (float)optNumber(o, "presencePenalty", s.presencePenalty, -100, 100);
    s.seed = (uint32_t)optInt(o, "seed", s.seed, 0, 0xffffffffLL);
    r.stops = optStrings(o, "stop");
    Napi::Value grammar = o.Get("grammar");
    if (grammar.IsString()) {
      r.grammar = grammar.As<Napi::String>().Utf8Value();
    } else if (!grammar.IsUndefined() && !grammar.IsNull()) {
      fail("INVALID_ARGUMENT", "grammar must be a string (GBNF)");
    }
    r.logprobs = (int32_t)optInt(o, "logprobs", r.logprobs, -1, 20);
    r.references = optStrings(o, "references");
    r.chunkMs = optNumber(o, "chunkMs", r.chunkMs, 0, 60000);
    core->begin(std::move(r));
  });
  return env.Undefined();
}

// step() -> Promise<{ tokens: Int32Array, text: string, done: boolean }>
Napi::Value SessionWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  core->busy = true;
  return PromiseWorker<StepResult>::RunInTurn(
      env, [core]() { return core->step(); },
      [](Napi::Env env, StepResult& result) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("tokens", tokensToJs(env, result.tokens));
        auto drafted = Napi::Uint8Array::New(env, result.drafted.size());
        std::copy(result.drafted.begin(), result.drafted.end(), drafted.Data());
        o.Set("drafted", drafted);
        o.Set("text", Napi::String::New(env, result.text));
        if (!result.logprobs.empty()) {
          auto floats = [&](const std::vector<float>& v) {
            auto a = Napi::Float32Array::New(env, v.size());
            std::copy(v.begin(), v.end(), a.Data());
            return a;
          };
          o.Set("logprobs", floats(result.logprobs));
          o.Set("topTokens", tokensToJs(env, result.topTokens));
          o.Set("topLogprobs", floats(result.topLogprobs));
        }
        o.Set("done", result.done);
        return o;
      },
      [core]() { core->settle(); });
}

// abort(disconnect?): ends the generation at its next check; with disconnect, also stops waiting on
// the model's RPC workers by failing their connections (for a worker that does not answer).
Napi::Value SessionWrap::Abort(const Napi::CallbackInfo& info) {
  if (!core_) return info.Env().Undefined();
  core_->requestAbort();
  if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value() && core_->busy) {
    core_->model()->disconnectRpc("a generation was aborted while waiting on the worker");
  }
  return info.Env().Undefined();
}

namespace {
Napi::Value figureToJs(Napi::Env env, int32_t v) { return Napi::Number::New(env, v); }
Napi::Value figureToJs(Napi::Env env, double v) { return Napi::Number::New(env, v); }
Napi::Value figureToJs(Napi::Env env, const std::vector<int32_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t)i, v[i]);
  return a;
}

// The figures under their names in stats.h's list (lib/native.ts NativeStats).
Napi::Object statsToJs(Napi::Env env, const GenerationStats& s) {
  Napi::Object o = Napi::Object::New(env);
  GenerationStats::eachFigure([&](const char* name, auto figure) { o.Set(name, figureToJs(env, s.*figure)); });
  Napi::Array drafters = Napi::Array::New(env, s.drafters.size());
  for (size_t i = 0; i < s.drafters.size(); i++) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", s.drafters[i].name);
    GenerationStats::Drafter::eachFigure([&](const char* name, auto figure) { d.Set(name, figureToJs(env, s.drafters[i].*figure)); });
    drafters.Set((uint32_t)i, d);
  }
  o.Set("drafters", drafters);
  o.Set("stopReason", s.stopReason.empty() ? env.Null() : Napi::String::New(env, s.stopReason));
  return o;
}
}  // namespace

// stats() -> { last: stats of the last generation, totals: of every finished one }
Napi::Value SessionWrap::Stats(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("last", statsToJs(info.Env(), core->publishedStats));
  o.Set("totals", statsToJs(info.Env(), core->publishedTotals));
  return o;
}

// evaluateLogits(tokens, batchSize) -> Promise<Float32Array> (tokens.length x vocabSize)
Napi::Value SessionWrap::EvaluateLogits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  std::vector<llama_token> tokens;
  uint32_t batchSize;
  jsCall(env, [&] {
    tokens = tokensFrom(info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    Napi::Object o = argObject(info, 1, {"batchSize"});
    batchSize = (uint32_t)optInt(o, "batchSize", core->batchSize(), 1, core->batchSize());
  });
  core->busy = true;
  return PromiseWorker<std::vector<float>>::RunInTurn(
      env, [core, tokens = std::move(tokens), batchSize]() { return core->evaluateLogits(tokens, batchSize); },
      [](Napi::Env env, std::vector<float>& logits) -> Napi::Value {
        auto a = Napi::Float32Array::New(env, logits.size());
        std::memcpy(a.Data(), logits.data(), logits.size() * sizeof(float));
        return a;
      },
      [core]() { core->settle(); });
}

// measureDecode({ depth, sizes, repeats }) -> Promise<number[]> (median ms per size)
Napi::Value SessionWrap::MeasureDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  uint32_t depth, repeats;
  std::vector<uint32_t> sizes;
  jsCall(env, [&] {
    Napi::Object o = argObject(info, 0, {"depth", "sizes", "repeats"});
    depth = (uint32_t)optInt(o, "depth", 0, 0, 1 << 24);
    repeats = (uint32_t)optInt(o, "repeats", 9, 1, 100000);
    Napi::Value v = o.Get("sizes");
    if (!v.IsArray()) fail("INVALID_ARGUMENT", "sizes must be an array of batch sizes");
    auto arr = v.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
      if (d < 1 || d != std::floor(d) || d > (1 << 16)) fail("INVALID_ARGUMENT", "sizes must be positive integers");
      sizes.push_back((uint32_t)d);
    }
  });
  core->busy = true;
  return PromiseWorker<std::vector<double>>::RunInTurn(
      env, [core, depth, sizes, repeats]() { return core->measureDecode(depth, sizes, repeats); },
      [](Napi::Env env, std::vector<double>& ms) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, ms.size());
        for (size_t i = 0; i < ms.size(); i++) a.Set((uint32_t)i, ms[i]);
        return a;
      },
      [core]() { core->settle(); });
}

Napi::Value SessionWrap::Dispose(const Napi::CallbackInfo& info) {
  if (core_) {
    core_->requestAbort();  // a running step ends at its next check; the last reference frees it
    releaseOnPool(info.Env(), std::move(core_));
  }
  return info.Env().Undefined();
}

}  // namespace specdec

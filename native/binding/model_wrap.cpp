#include "model_wrap.h"

#include "addon.h"
#include "args.h"
#include "js_errors.h"
#include "session_wrap.h"
#include "worker.h"

namespace specdec {

Napi::Function ModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "Model",
                     {
                         InstanceMethod<&ModelWrap::Info>("info"),
                         InstanceMethod<&ModelWrap::Tokenize>("tokenize"),
                         InstanceMethod<&ModelWrap::Detokenize>("detokenize"),
                         InstanceMethod<&ModelWrap::TokenPiece>("tokenPiece"),
                         InstanceMethod<&ModelWrap::IsEndOfGeneration>("isEndOfGeneration"),
                         InstanceMethod<&ModelWrap::ApplyChatTemplate>("applyChatTemplate"),
                         InstanceMethod<&ModelWrap::CreateSession>("createSession"),
                         InstanceMethod<&ModelWrap::CostCurve>("costCurve"),
                         InstanceMethod<&ModelWrap::Dispose>("dispose"),
                     });
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  // Only Load() constructs models, passing the loaded core as an External.
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw makeError(info.Env(), "INVALID_ARGUMENT", "use loadModel() to create a Model");
  }
  core_ = *info[0].As<Napi::External<std::shared_ptr<ModelCore>>>().Data();
}

std::shared_ptr<ModelCore> ModelWrap::core(Napi::Env env) const {
  if (!core_) throw makeError(env, "DISPOSED", "the model has been disposed");
  return core_;
}

// loadModel(path, { gpuLayers, mmap, vocabOnly, rpcServers, tensorSplit, progress: Float32Array over a
// SharedArrayBuffer }) -> Promise<Model>
Napi::Value ModelWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return jsCall(env, [&]() -> Napi::Value {
    ModelOptions options;
    options.path = argString(info, 0, "model path");
    Napi::Object o = argObject(info, 1, {"gpuLayers", "mmap", "vocabOnly", "rpcServers", "tensorSplit", "rpcTimeoutMs", "rpcToken", "progress"});
    options.gpuLayers = (int32_t)optInt(o, "gpuLayers", -1, -1, 100000);
    options.mmap = optBool(o, "mmap", true);
    options.vocabOnly = optBool(o, "vocabOnly", false);
    Napi::Value rpc = o.Get("rpcServers");
    if (rpc.IsArray()) {
      Napi::Array a = rpc.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        if (!a.Get(i).IsString()) fail("INVALID_ARGUMENT", "rpcServers must be strings");
        options.rpcServers.push_back(a.Get(i).As<Napi::String>().Utf8Value());
      }
    }
    options.rpcTimeoutMs = (uint32_t)optInt(o, "rpcTimeoutMs", 0, 0, 86400000);
    Napi::Value token = o.Get("rpcToken");
    if (token.IsString()) options.rpcToken = token.As<Napi::String>().Utf8Value();
    Napi::Value split = o.Get("tensorSplit");
    if (split.IsArray()) {
      Napi::Array a = split.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        if (!a.Get(i).IsNumber() || !(a.Get(i).As<Napi::Number>().DoubleValue() >= 0)) {
          fail("INVALID_ARGUMENT", "tensorSplit must be numbers >= 0");
        }
        options.tensorSplit.push_back(a.Get(i).As<Napi::Number>().FloatValue());
      }
    }
    Napi::Value progress = o.Get("progress");
    if (progress.IsTypedArray() && progress.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array &&
        progress.As<Napi::TypedArray>().ElementLength() >= 1) {
      options.progress = progress.As<Napi::Float32Array>().Data();
    }
    return PromiseWorker<std::shared_ptr<ModelCore>>::Run(
        env, [options]() { return ModelCore::load(options); },
        [](Napi::Env env, std::shared_ptr<ModelCore>& core) -> Napi::Value {
          auto external = Napi::External<std::shared_ptr<ModelCore>>::New(env, &core);
          return AddonData::of(env).modelClass.New({external});
        });
  });
}

// costCurve(threads, threadsBatch, maxTokens) -> { singleMs, ratios }: what the model's
// evaluations have cost so far (cost_curve.h); singleMs 0 while V(1) is not measured.
Napi::Value ModelWrap::CostCurve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  auto arg = [&](size_t i, int max) {
    if (info.Length() <= i || !info[i].IsNumber()) throw makeError(env, "INVALID_ARGUMENT", "expected a number");
    return std::clamp(info[i].As<Napi::Number>().Int32Value(), 1, max);
  };
  const int key = specdec::CostCurve::key(arg(0, 1024), arg(1, 1024));
  const std::vector<double> ratios = core->costCurve().ratios(key, arg(2, specdec::CostCurve::kMaxTokens));
  Napi::Object o = Napi::Object::New(env);
  o.Set("singleMs", core->costCurve().singleMs(key));
  Napi::Array a = Napi::Array::New(env, ratios.size() - 1);
  for (size_t n = 1; n < ratios.size(); n++) a.Set(n - 1, ratios[n]);
  o.Set("ratios", a);
  return o;
}

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  llama_model* m = core->get();
  const llama_vocab* v = core->vocab();
  Napi::Object o = Napi::Object::New(env);
  char buf[256];
  llama_model_desc(m, buf, sizeof(buf));
  o.Set("description", buf);
  o.Set("architecture", core->metaString("general.architecture"));
  o.Set("name", core->metaString("general.name"));
  o.Set("trainContextSize", llama_model_n_ctx_train(m));
  char fingerprint[17];
  std::snprintf(fingerprint, sizeof fingerprint, "%016llx", (unsigned long long)core->vocabFingerprint());
  o.Set("vocabFingerprint", fingerprint);
  o.Set("embeddingSize", llama_model_n_embd(m));
  o.Set("layers", llama_model_n_layer(m));
  // Per-layer figures abort inside llama.cpp when there are no layers (vocabulary-only loads).
  const bool layered = llama_model_n_layer(m) > 0;
  o.Set("heads", layered ? llama_model_n_head(m) : 0);
  o.Set("headsKv", layered ? llama_model_n_head_kv(m) : 0);
  o.Set("parameters", (double)llama_model_n_params(m));
  o.Set("sizeBytes", (double)llama_model_size(m));
  o.Set("vocabSize", core->nVocab());
  static const char* vocabTypes[] = {"none", "spm", "bpe", "wpm", "ugm", "rwkv", "plamo2"};
  int vt = (int)llama_vocab_type(v);
  o.Set("vocabType", vt >= 0 && vt < 7 ? vocabTypes[vt] : "unknown");
  auto tok = [&](llama_token t) -> Napi::Value { return t < 0 ? env.Null() : Napi::Number::New(env, t); };
  Napi::Object special = Napi::Object::New(env);
  special.Set("bos", tok(llama_vocab_bos(v)));
  special.Set("eos", tok(llama_vocab_eos(v)));
  special.Set("eot", tok(llama_vocab_eot(v)));
  special.Set("nl", tok(llama_vocab_nl(v)));
  special.Set("pad", tok(llama_vocab_pad(v)));
  o.Set("specialTokens", special);
  o.Set("addBos", llama_vocab_get_add_bos(v));
  o.Set("addEos", llama_vocab_get_add_eos(v));
  const char* tmpl = llama_model_chat_template(m, nullptr);
  o.Set("chatTemplate", tmpl ? Napi::String::New(env, tmpl) : env.Null());
  Napi::Object meta = Napi::Object::New(env);
  int32_t count = llama_model_meta_count(m);
  std::vector<char> val(4096);
  for (int32_t i = 0; i < count; i++) {
    if (llama_model_meta_key_by_index(m, i, buf, sizeof(buf)) < 0) continue;
    int32_t n = llama_model_meta_val_str_by_index(m, i, val.data(), val.size());
    if (n < 0) continue;
    meta.Set(buf, std::string(val.data(), std::min<size_t>(n, val.size() - 1)));
  }
  o.Set("metadata", meta);
  o.Set("vocabOnly", core->options().vocabOnly);
  return o;
}

// tokenize(text, addSpecial, parseSpecial) -> Promise<Int32Array>
Napi::Value ModelWrap::Tokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  std::string text = jsCall(env, [&] { return argString(info, 0, "text"); });
  bool addSpecial = info.Length() > 1 && info[1].ToBoolean();
  bool parseSpecial = info.Length() > 2 && info[2].ToBoolean();
  return PromiseWorker<std::vector<llama_token>>::Run(
      env, [core, text = std::move(text), addSpecial, parseSpecial]() {
        return core->tokenize(text, addSpecial, parseSpecial);
      },
      [](Napi::Env env, std::vector<llama_token>& tokens) -> Napi::Value { return tokensToJs(env, tokens); });
}

// detokenize(tokens, special) -> Promise<string>
Napi::Value ModelWrap::Detokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  std::vector<llama_token> tokens;
  jsCall(env, [&] {
    tokens = tokensFrom(info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    core->checkTokens(tokens);
  });
  bool special = info.Length() > 1 && info[1].ToBoolean();
  return PromiseWorker<std::string>::Run(
      env, [core, tokens = std::move(tokens), special]() { return core->detokenize(tokens, special); },
      [](Napi::Env env, std::string& text) -> Napi::Value { return Napi::String::New(env, text); });
}

namespace {
llama_token tokenArg(const Napi::CallbackInfo& info, const ModelCore& core) {
  double d = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : NAN;
  if (std::isnan(d) || d != std::floor(d) || !core.validToken((llama_token)d) || d > INT32_MAX) {
    throw makeError(info.Env(), "INVALID_ARGUMENT",
                    "token id must be an integer in [0, " + std::to_string(core.nVocab()) + ")");
  }
  return (llama_token)d;
}
}  // namespace

Napi::Value ModelWrap::TokenPiece(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  llama_token t = tokenArg(info, *core);
  bool special = info.Length() > 1 && info[1].ToBoolean();
  return Napi::String::New(info.Env(), special ? core->pieceWithSpecial(t) : core->piece(t));
}

Napi::Value ModelWrap::IsEndOfGeneration(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  return Napi::Boolean::New(info.Env(), core->isEog(tokenArg(info, *core)));
}

// applyChatTemplate(messages: {role, content}[], addAssistant, name?) -> string: llama.cpp's
// built-in formats, by name or matched on the model's template (lib/chat-template.ts renders
// Jinja templates itself; this is its fallback).
Napi::Value ModelWrap::ApplyChatTemplate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw makeError(env, "INVALID_ARGUMENT", "messages must be an array");
  bool addAssistant = info.Length() < 2 || info[1].ToBoolean();
  const std::string name = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  const char* tmpl = name.empty() ? llama_model_chat_template(core->get(), nullptr) : name.c_str();
  if (!tmpl) throw makeError(env, "NO_CHAT_TEMPLATE", "the model has no chat template");
  auto arr = info[0].As<Napi::Array>();
  std::vector<std::string> roles, contents;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value m = arr.Get(i);
    if (!m.IsObject()) throw makeError(env, "INVALID_ARGUMENT", "messages[" + std::to_string(i) + "] must be an object");
    Napi::Value role = m.As<Napi::Object>().Get("role"), content = m.As<Napi::Object>().Get("content");
    if (!role.IsString() || !content.IsString()) {
      throw makeError(env, "INVALID_ARGUMENT", "messages[" + std::to_string(i) + "] needs string role and content");
    }
    roles.push_back(role.As<Napi::String>().Utf8Value());
    contents.push_back(content.As<Napi::String>().Utf8Value());
  }
  std::vector<llama_chat_message> msgs;
  size_t total = 0;
  for (size_t i = 0; i < roles.size(); i++) {
    msgs.push_back({roles[i].c_str(), contents[i].c_str()});
    total += roles[i].size() + contents[i].size();
  }
  std::vector<char> buf(total * 2 + 1024);
  int32_t n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), addAssistant, buf.data(), buf.size());
  if (n > (int32_t)buf.size()) {
    buf.resize(n);
    n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), addAssistant, buf.data(), buf.size());
  }
  if (n < 0) throw makeError(env, "NO_CHAT_TEMPLATE", "llama.cpp does not recognise the chat template");
  return Napi::String::New(env, buf.data(), n);
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  if (core_) releaseOnPool(info.Env(), std::move(core_));
  return info.Env().Undefined();
}

Napi::Value ModelWrap::CreateSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = core(env);
  Napi::Object options = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  return jsCall(env, [&] { return SessionWrap::Create(env, model, options); });
}

}  // namespace specdec

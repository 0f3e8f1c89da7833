#include "model.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "gguf_check.h"
#include "log.h"
#include "worker.h"

namespace specdec {

// ---- ModelCore --------------------------------------------------------------------------------

// What model.h says it checks; the rest is llama.cpp's loader's, which reports failures by
// logging and returning null.
void precheckModelFile(const std::string& path) {
  struct stat st {};
  if (path.empty()) fail("INVALID_ARGUMENT", "model path is empty");
  if (stat(path.c_str(), &st) != 0) fail("MODEL_NOT_FOUND", "model file not found: " + path);
  if (S_ISDIR(st.st_mode)) fail("INVALID_MODEL", "model path is a directory, not a GGUF file: " + path);
  if (!S_ISREG(st.st_mode)) fail("INVALID_MODEL", "model path is not a regular file: " + path);
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("MODEL_NOT_FOUND", "model file cannot be opened: " + path);
  char magic[4] = {0, 0, 0, 0};
  f.read(magic, 4);
  if (f.gcount() < 4 || std::memcmp(magic, "GGUF", 4) != 0) {
    fail("INVALID_MODEL", "not a GGUF file (bad magic" + std::string(st.st_size == 0 ? ", the file is empty" : "") +
                              "): " + path);
  }
  checkModelMetadata(path);
}

std::shared_ptr<ModelCore> ModelCore::load(const ModelOptions& options) {
  precheckModelFile(options.path);
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = options.gpuLayers;
  params.load_mode = options.mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  params.vocab_only = options.vocabOnly;
  if (options.progress) {
    // JS reads the cell while this thread writes it: a lock-free atomic of the float's layout.
    static_assert(sizeof(std::atomic<float>) == sizeof(float) && std::atomic<float>::is_always_lock_free);
    params.progress_callback = [](float fraction, void* cell) {
      reinterpret_cast<std::atomic<float>*>(cell)->store(fraction, std::memory_order_relaxed);
      return true;
    };
    params.progress_callback_user_data = options.progress;
  }
  RpcBaseline rpcBaseline;
  std::vector<ggml_backend_dev_t> devices;
  std::vector<float> split(llama_max_devices(), 0.0f);
  if (!options.rpcServers.empty()) {
    devices = rpcDevices(options.rpcServers, options.rpcTimeoutMs, options.rpcToken, rpcBaseline);
    for (ggml_backend_dev_t dev : localGpuDevices()) devices.push_back(dev);
    if (devices.size() > split.size()) fail("INVALID_ARGUMENT", "more devices than llama.cpp supports");
    if (options.tensorSplit.size() > devices.size()) {
      fail("INVALID_ARGUMENT", "tensorSplit has " + std::to_string(options.tensorSplit.size()) + " weights for " +
                                   std::to_string(devices.size()) + " devices");
    }
    std::copy(options.tensorSplit.begin(), options.tensorSplit.end(), split.begin());
    devices.push_back(nullptr);
    params.devices = devices.data();
    params.tensor_split = split.data();
  }
  clearThreadLog();
  llama_model* model = llama_model_load_from_file(options.path.c_str(), params);
  if (!model) {
    specdec::checkRpc(rpcBaseline);
    std::string why = lastThreadError();
    fail("INVALID_MODEL", "failed to load model " + options.path + (why.empty() ? "" : ": " + why));
  }
  try {
    specdec::checkRpc(rpcBaseline);
  } catch (...) {
    llama_model_free(model);
    throw;
  }
  return std::shared_ptr<ModelCore>(new ModelCore(model, options, std::move(rpcBaseline)));
}

ModelCore::ModelCore(llama_model* model, ModelOptions options, RpcBaseline rpcBaseline)
    : model_(model), vocab_(llama_model_get_vocab(model)), options_(std::move(options)),
      rpcBaseline_(std::move(rpcBaseline)) {
  nVocab_ = llama_vocab_n_tokens(vocab_);
  pieces_.resize(nVocab_);
  char buf[256];
  for (llama_token t = 0; t < nVocab_; t++) {
    int32_t n = llama_token_to_piece(vocab_, t, buf, sizeof(buf), 0, false);
    if (n >= 0) pieces_[t].assign(buf, n);
  }
  // FNV-1a over what gives token ids their meaning.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* data, size_t size) {
    for (size_t i = 0; i < size; i++) {
      h ^= static_cast<const unsigned char*>(data)[i];
      h *= 1099511628211ull;
    }
  };
  const int32_t head[4] = {(int32_t)llama_vocab_type(vocab_), nVocab_, llama_vocab_bos(vocab_), llama_vocab_eos(vocab_)};
  mix(head, sizeof head);
  for (llama_token t = 0; t < nVocab_; t++) {
    const char* text = llama_vocab_get_text(vocab_, t);
    mix(text ? text : "", std::strlen(text ? text : "") + 1);
  }
  vocabFingerprint_ = h;
}

ModelCore::~ModelCore() { llama_model_free(model_); }

std::vector<llama_token> ModelCore::tokenize(const std::string& text, bool addSpecial, bool parseSpecial) const {
  if (text.size() > (size_t)INT32_MAX / 2) fail("INVALID_ARGUMENT", "text is too long to tokenize");
  std::vector<llama_token> tokens(text.size() + 4);
  int32_t n = llama_tokenize(vocab_, text.data(), (int32_t)text.size(), tokens.data(), (int32_t)tokens.size(),
                             addSpecial, parseSpecial);
  if (n < 0) {
    tokens.resize(-n);
    n = llama_tokenize(vocab_, text.data(), (int32_t)text.size(), tokens.data(), (int32_t)tokens.size(), addSpecial,
                       parseSpecial);
  }
  if (n < 0) fail("INTERNAL", "tokenization failed");
  tokens.resize(n);
  return tokens;
}

std::string ModelCore::pieceWithSpecial(llama_token token) const {
  char buf[256];
  int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof(buf), 0, true);
  return n >= 0 ? std::string(buf, n) : std::string();
}

std::string ModelCore::detokenize(const std::vector<llama_token>& all, bool special) const {
  checkTokens(all);
  // A leading BOS is dropped (unless special tokens are rendered) so that detokenize(tokenize(s))
  // gives s back: llama.cpp strips the tokenizer's space prefix only when no BOS comes first.
  std::vector<llama_token> tokens(all.begin() + (!special && !all.empty() && all[0] == llama_vocab_bos(vocab_)),
                                  all.end());
  if (tokens.empty()) return std::string();
  std::string out(tokens.size() * 8 + 16, '\0');
  int32_t n = llama_detokenize(vocab_, tokens.data(), (int32_t)tokens.size(), out.data(), (int32_t)out.size(),
                               false, special);
  if (n < 0) {
    out.resize(-n);
    n = llama_detokenize(vocab_, tokens.data(), (int32_t)tokens.size(), out.data(), (int32_t)out.size(), false,
                         special);
  }
  if (n < 0) fail("INTERNAL", "detokenization failed");
  out.resize(n);
  return out;
}

void ModelCore::checkTokens(const std::vector<llama_token>& tokens) const {
  for (size_t i = 0; i < tokens.size(); i++) {
    if (!validToken(tokens[i])) {
      fail("INVALID_ARGUMENT", "token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                   " is out of range (vocabulary size " + std::to_string(nVocab_) + ")");
    }
  }
}

std::string ModelCore::metaString(const char* key) const {
  char buf[512];
  int32_t n = llama_model_meta_val_str(model_, key, buf, sizeof(buf));
  return n >= 0 ? std::string(buf, std::min<int32_t>(n, sizeof(buf) - 1)) : std::string();
}

void ModelCore::checkDraftCompatible(const ModelCore& draft) const {
  const llama_vocab* d = draft.vocab();
  auto mismatch = [&](const std::string& what) {
    fail("VOCAB_MISMATCH", "the draft model " + draft.options().path + " cannot draft for " + options_.path + ": " + what);
  };
  if (llama_vocab_type(vocab_) != llama_vocab_type(d)) mismatch("the tokenizer types differ");
  if (nVocab_ != draft.nVocab()) {
    mismatch("vocabulary sizes differ (" + std::to_string(nVocab_) + " vs " + std::to_string(draft.nVocab()) + ")");
  }
  if (llama_vocab_bos(vocab_) != llama_vocab_bos(d) || llama_vocab_eos(vocab_) != llama_vocab_eos(d)) {
    mismatch("the BOS/EOS tokens differ");
  }
  for (llama_token t = 0; t < nVocab_; t++) {
    const char* a = llama_vocab_get_text(vocab_, t);
    const char* b = llama_vocab_get_text(d, t);
    if (std::strcmp(a ? a : "", b ? b : "") != 0) {
      mismatch("token " + std::to_string(t) + " is \"" + std::string(a ? a : "") + "\" in the main model and \"" +
               std::string(b ? b : "") + "\" in the draft");
    }
  }
}

// ---- ModelWrap --------------------------------------------------------------------------------

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
  try {
    ModelOptions options;
    options.path = argString(info, 0, "model path");
    Napi::Object o = argObject(info, 1);
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
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
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
  std::string text;
  try {
    text = argString(info, 0, "text");
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
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
  try {
    tokens = tokensFrom(info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    core->checkTokens(tokens);
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
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

// applyChatTemplate(messages: {role, content}[], addAssistant, template?) -> string
Napi::Value ModelWrap::ApplyChatTemplate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw makeError(env, "INVALID_ARGUMENT", "messages must be an array");
  bool addAssistant = info.Length() < 2 || info[1].ToBoolean();
  std::string tmpl;
  if (info.Length() > 2 && info[2].IsString()) {
    tmpl = info[2].As<Napi::String>().Utf8Value();
  } else {
    const char* t = llama_model_chat_template(core->get(), nullptr);
    if (!t) throw makeError(env, "NO_CHAT_TEMPLATE", "the model has no chat template; pass one explicitly");
    tmpl = t;
  }
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
  int32_t n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), addAssistant, buf.data(), buf.size());
  if (n > (int32_t)buf.size()) {
    buf.resize(n);
    n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), addAssistant, buf.data(), buf.size());
  }
  if (n < 0) throw makeError(env, "NO_CHAT_TEMPLATE", "the chat template is not supported by llama.cpp");
  return Napi::String::New(env, buf.data(), n);
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  if (core_) releaseOnPool(info.Env(), std::move(core_));
  return info.Env().Undefined();
}

}  // namespace specdec

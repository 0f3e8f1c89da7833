#include "model.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "errors.h"
#include "gguf_check.h"
#include "log.h"

namespace specdec {

// ---- ModelCore --------------------------------------------------------------------------------

// What model.h says it checks; the rest is llama.cpp's loader's, which reports failures by
// logging and returning null.
void precheckModelFile(const std::string& path) {
  if (path.empty()) fail("INVALID_ARGUMENT", "model path is empty");
  std::error_code ec;
  const auto status = std::filesystem::status(std::filesystem::u8path(path), ec);
  if (!std::filesystem::exists(status)) fail("MODEL_NOT_FOUND", "model file not found: " + path);
  if (std::filesystem::is_directory(status)) fail("INVALID_MODEL", "model path is a directory, not a GGUF file: " + path);
  if (!std::filesystem::is_regular_file(status)) fail("INVALID_MODEL", "model path is not a regular file: " + path);
  std::ifstream f(std::filesystem::u8path(path), std::ios::binary);
  if (!f) fail("MODEL_NOT_FOUND", "model file cannot be opened: " + path);
  char magic[4] = {0, 0, 0, 0};
  f.read(magic, 4);
  if (f.gcount() < 4 || std::memcmp(magic, "GGUF", 4) != 0) {
    fail("INVALID_MODEL", "not a GGUF file (bad magic" + std::string(f.gcount() == 0 ? ", the file is empty" : "") +
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
  static std::atomic<uint64_t> loaded{0};
  id_ = ++loaded;
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
    fail("VOCAB_MISMATCH", "the draft model " + draft.options().path + " cannot draft for " + options_.path + ": " + what +
                              " (a draft model of another vocabulary drafts through text: draft.translate, --draft-translate)");
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

}  // namespace specdec

// Model: owns one llama_model (weights + vocabulary) and everything derived from it that is
// read-only after load (token pieces, metadata).
//
// Threading and lifetime: a ModelCore is immutable after load() returns, so any thread may use it
// at once (tokenize, pieces, metadata). It is held by shared_ptr: the JS wrapper, every session
// and every queued worker hold one, so dispose() from JS only drops the wrapper's reference and the
// weights are freed when the last user is done.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "acceptance_record.h"
#include "cost_curve.h"
#include "live.h"
#include "llama.h"
#include "rpc_workers.h"

namespace specdec {

// Checks before llama.cpp sees a model file: it must exist, be a regular file and start with the
// GGUF magic, and its metadata must not be what llama.cpp asserts on (gguf_check.h). Throws
// SpecdecException MODEL_NOT_FOUND or INVALID_MODEL.
void precheckModelFile(const std::string& path);

struct ModelOptions {
  std::string path;
  int32_t gpuLayers = -1;  // -1: all layers on the GPU when there is one
  bool mmap = true;
  bool vocabOnly = false;
  // RPC workers ("host:port") that take the model's offloaded layers, split by tensorSplit
  // (one weight per device, workers first, then local GPUs; empty: by their memory).
  std::vector<std::string> rpcServers;
  uint32_t rpcTimeoutMs = 0;
  std::string rpcToken;
  std::vector<float> tensorSplit;
  // Where loading reports its progress (0..1), read by JS while it waits: a float in a
  // SharedArrayBuffer that the caller keeps alive until the load settles; null: not reported.
  float* progress = nullptr;
};

class ModelCore {
 public:
  static std::shared_ptr<ModelCore> load(const ModelOptions& options);
  ~ModelCore();
  ModelCore(const ModelCore&) = delete;
  ModelCore& operator=(const ModelCore&) = delete;

  llama_model* get() const { return model_; }
  const llama_vocab* vocab() const { return vocab_; }
  const ModelOptions& options() const { return options_; }
  int32_t nVocab() const { return nVocab_; }

  std::vector<llama_token> tokenize(const std::string& text, bool addSpecial, bool parseSpecial) const;
  // The text of one token as generated output shows it (control tokens render empty).
  const std::string& piece(llama_token token) const { return pieces_[token]; }
  std::string pieceWithSpecial(llama_token token) const;
  std::string detokenize(const std::vector<llama_token>& tokens, bool special) const;
  bool isEog(llama_token token) const { return llama_vocab_is_eog(vocab_, token); }
  bool validToken(llama_token token) const { return token >= 0 && token < nVocab_; }
  // Throws INVALID_ARGUMENT naming the first id outside [0, nVocab).
  void checkTokens(const std::vector<llama_token>& tokens) const;
  std::string metaString(const char* key) const;
  // Throws VOCAB_MISMATCH, saying what differs, unless `draft` gives every token id the same
  // meaning (vocabulary type and size, special tokens, token texts).
  void checkDraftCompatible(const ModelCore& draft) const;
  // A hash of the vocabulary (type, size, special tokens, token texts): equal for tokenizers
  // that give every id the same meaning.
  uint64_t vocabFingerprint() const { return vocabFingerprint_; }
  // Throws RPC_UNAVAILABLE when the connection to one of its RPC workers failed since it loaded.
  void checkRpc() const { specdec::checkRpc(rpcBaseline_); }
  // Fails its RPC workers' connections now (a waiting evaluation returns; the model is then unusable).
  void disconnectRpc(const char* why) const { specdec::disconnectRpc(rpcBaseline_, why); }
  // What its evaluations cost, learnt from every session's decodes (cost_curve.h).
  CostCurve& costCurve() const { return costCurve_; }
  // How often draft models' tokens were kept by this model, learnt the same way (acceptance_record.h).
  AcceptanceRecord& acceptanceRecord() const { return acceptanceRecord_; }
  // Unique among the models of the process, also after this one is freed.
  uint64_t id() const { return id_; }

 private:
  ModelCore(llama_model* model, ModelOptions options, RpcBaseline rpcBaseline);

  llama_model* model_;
  const llama_vocab* vocab_;
  ModelOptions options_;
  int32_t nVocab_;
  std::vector<std::string> pieces_;
  uint64_t vocabFingerprint_ = 0;
  RpcBaseline rpcBaseline_;
  mutable CostCurve costCurve_;
  mutable AcceptanceRecord acceptanceRecord_;
  uint64_t id_;
  LiveCount<ModelCore> live_;
};

}  // namespace specdec

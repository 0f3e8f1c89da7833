// The JS handle of a ModelCore (model.h): class Model in the addon's exports.
#pragma once

#include <napi.h>

#include <memory>

#include "model.h"

namespace specdec {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Value Load(const Napi::CallbackInfo& info);
  explicit ModelWrap(const Napi::CallbackInfo& info);

  // The core, or a DISPOSED error.
  std::shared_ptr<ModelCore> core(Napi::Env env) const;

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Tokenize(const Napi::CallbackInfo& info);
  Napi::Value Detokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenPiece(const Napi::CallbackInfo& info);
  Napi::Value IsEndOfGeneration(const Napi::CallbackInfo& info);
  Napi::Value ApplyChatTemplate(const Napi::CallbackInfo& info);
  Napi::Value CreateSession(const Napi::CallbackInfo& info);
  Napi::Value CostCurve(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelCore> core_;
};

}  // namespace specdec

// The JS handle of a SessionCore (session.h): class Session in the addon's exports.
#pragma once

#include <napi.h>

#include <memory>

#include "session.h"

namespace specdec {

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
  Napi::Value MeasureDecode(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<SessionCore> core_;
};

}  // namespace specdec

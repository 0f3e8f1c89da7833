#include "turn_dispatch.h"

#include "addon.h"
#include "turns.h"

namespace specdec {

std::shared_ptr<TurnDispatch> TurnDispatch::create(Napi::Env env) {
  auto self = std::make_shared<TurnDispatch>();
  napi_value name = Napi::String::New(env, "specdec:turn");
  NAPI_THROW_IF_FAILED(env,
                       napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, nullptr,
                                                       &TurnDispatch::callJs, &self->tsfn_),
                       nullptr);
  napi_unref_threadsafe_function(env, self->tsfn_);
  // registered after the function's own hook, so it runs before it (hooks run last first)
  NAPI_THROW_IF_FAILED(env, napi_add_env_cleanup_hook(env, &TurnDispatch::cleanup, new std::shared_ptr<TurnDispatch>(self)),
                       nullptr);
  return self;
}

void TurnDispatch::waiting(Napi::Env env) {
  if (waiters_++ == 0) napi_ref_threadsafe_function(env, tsfn_);
}

void TurnDispatch::done(Napi::Env env) {
  if (--waiters_ == 0) napi_unref_threadsafe_function(env, tsfn_);
}

bool TurnDispatch::dispatch(Napi::AsyncWorker* worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  return alive_ && napi_call_threadsafe_function(tsfn_, worker, napi_tsfn_nonblocking) == napi_ok;
}

void TurnDispatch::callJs(napi_env env, napi_value, void*, void* data) {
  if (env == nullptr) {
    // the environment went with the task still to be queued: the turn passes on
    CpuTurns::instance().release();
    return;
  }
  AddonData::of(env).turns->done(env);
  try {
    static_cast<Napi::AsyncWorker*>(data)->Queue();
  } catch (const Napi::Error&) {
    CpuTurns::instance().release();
  }
}

void TurnDispatch::cleanup(void* arg) {
  auto* self = static_cast<std::shared_ptr<TurnDispatch>*>(arg);
  {
    std::lock_guard<std::mutex> lock((*self)->mutex_);
    (*self)->alive_ = false;
  }
  delete self;
}

}  // namespace specdec

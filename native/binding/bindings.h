// The addon's free functions; its classes are in model_wrap.h, session_wrap.h and
// datastore_wrap.h.
#pragma once

#include <napi.h>

namespace specdec {

// quantizeModel(src, dst, { type, pure, threads }) -> Promise<void>
Napi::Value QuantizeModel(const Napi::CallbackInfo& info);
// deriveDraft(src, dst, { layers | keep, spacing, type, threads }) -> Promise<{ architecture, sourceLayers, layers }>
Napi::Value DeriveDraft(const Napi::CallbackInfo& info);
// rpcServeSocket({ fd, threads, memoryBytes, idleMs }) -> Promise<void>
Napi::Value RpcServeSocket(const Napi::CallbackInfo& info);

}  // namespace specdec

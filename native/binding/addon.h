// Per-environment state of the addon (one per Node.js main thread or worker thread), kept as the
// environment's instance data so that the addon is context-aware.
#pragma once

#include <napi.h>

namespace specdec {

struct AddonData {
  Napi::FunctionReference modelClass;
  Napi::FunctionReference sessionClass;
  // Queues, on this environment's thread, a task whose CPU turn has come (worker.h); it keeps the
  // event loop alive only while turnWaiters > 0.
  Napi::ThreadSafeFunction turnDispatch;
  int turnWaiters = 0;
  static AddonData& of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace specdec

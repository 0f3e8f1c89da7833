// Per-environment state of the addon (one per Node.js main thread or worker thread), kept as the
// environment's instance data so that the addon is context-aware.
#pragma once

#include <napi.h>

#include <memory>

#include "turn_dispatch.h"

namespace specdec {

struct AddonData {
  Napi::FunctionReference modelClass;
  Napi::FunctionReference sessionClass;
  // Queues, on this environment's thread, a task whose CPU turn has come (worker.h).
  std::shared_ptr<TurnDispatch> turns;
  static AddonData& of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace specdec

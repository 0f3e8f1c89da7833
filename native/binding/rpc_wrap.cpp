// rpcServeSocket({ fd, threads, memoryBytes, idleMs }) -> Promise resolved when the connection
// ends: rpc.h's rpcServeSocket on the libuv pool.
#include "rpc_workers.h"

#include "args.h"
#include "bindings.h"
#include "js_errors.h"
#include "worker.h"

namespace specdec {

Napi::Value RpcServeSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return jsCall(env, [&]() -> Napi::Value {
    Napi::Object o = argObject(info, 0, {"fd", "threads", "memoryBytes", "idleMs"});
    int64_t fd = optInt(o, "fd", -1, 0, INT32_MAX);
    if (fd < 0) fail("INVALID_ARGUMENT", "fd is required");
    size_t threads = (size_t)optInt(o, "threads", 1, 1, 1024);
    size_t memoryBytes = (size_t)optNumber(o, "memoryBytes", 0, 0, 9.0e15);
    uint32_t idleMs = (uint32_t)optInt(o, "idleMs", 0, 0, 86400000);
    return PromiseWorker<bool>::Run(
        env, [fd, threads, memoryBytes, idleMs]() { return rpcServeSocket((intptr_t)fd, threads, memoryBytes, idleMs); },
        [](Napi::Env env, bool& served) -> Napi::Value {
          if (!served) fail("RPC_UNAVAILABLE", "cannot serve the connection: the socket or this machine's devices cannot be used");
          return env.Undefined();
        });
  });
}

}  // namespace specdec

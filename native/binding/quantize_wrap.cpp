// quantizeModel(src, dst, { type, pure, threads }) -> Promise<void>: quantize.h on the libuv pool.
#include "quantize.h"

#include "args.h"
#include "bindings.h"
#include "js_errors.h"
#include "worker.h"

namespace specdec {

Napi::Value QuantizeModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return jsCall(env, [&]() -> Napi::Value {
    QuantizeJob job;
    job.src = argString(info, 0, "source path");
    job.dst = argString(info, 1, "destination path");
    Napi::Object o = argObject(info, 2, {"type", "pure", "threads"});
    Napi::Value type = o.Get("type");
    if (!type.IsString()) fail("INVALID_ARGUMENT", "type must be a string such as \"Q4_K_M\"");
    job.ftype = quantizationType(type.As<Napi::String>().Utf8Value());
    job.pure = optBool(o, "pure", false);
    job.threads = (int)optInt(o, "threads", 0, 0, 1024);
    if (job.dst.empty()) fail("INVALID_ARGUMENT", "destination path is empty");
    return PromiseWorker<bool>::Run(
        env,
        [job]() {
          quantizeModelFile(job);
          return true;
        },
        [](Napi::Env env, bool&) { return env.Undefined(); });
  });
}

}  // namespace specdec

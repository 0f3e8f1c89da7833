// deriveDraft(src, dst, { layers, keep, spacing, type, threads }) -> Promise<{ architecture,
// sourceLayers, layers }>: derive_draft.h on the libuv pool.
#include "derive_draft.h"

#include <cmath>

#include "args.h"
#include "bindings.h"
#include "js_errors.h"
#include "quantize.h"
#include "worker.h"

namespace specdec {

Napi::Value DeriveDraft(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return jsCall(env, [&]() -> Napi::Value {
    DeriveJob job;
    job.src = argString(info, 0, "source path");
    job.dst = argString(info, 1, "destination path");
    Napi::Object o = argObject(info, 2, {"layers", "keep", "spacing", "type", "threads"});
    Napi::Value layers = o.Get("layers");
    if (!layers.IsUndefined() && !layers.IsNull()) {
      if (!layers.IsArray()) fail("INVALID_ARGUMENT", "layers must be an array of layer indices");
      auto arr = layers.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value item = arr.Get(i);
        double d = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1;
        if (d < 0 || d > 1e6 || d != std::floor(d)) fail("INVALID_ARGUMENT", "layers must be an array of layer indices");
        job.layers.push_back((int)d);
      }
    }
    job.keep = (int)optInt(o, "keep", 0, 0, 1 << 20);
    if (job.layers.empty() == (job.keep == 0)) fail("INVALID_ARGUMENT", "give either layers or keep");
    Napi::Value spacing = o.Get("spacing");
    if (!spacing.IsUndefined()) {
      if (!spacing.IsString()) fail("INVALID_ARGUMENT", "spacing must be a string");
      job.spacing = spacing.As<Napi::String>().Utf8Value();
    }
    Napi::Value type = o.Get("type");
    if (!type.IsUndefined()) {
      if (!type.IsString()) fail("INVALID_ARGUMENT", "type must be a string such as \"Q4_0\"");
      job.ftype = quantizationType(type.As<Napi::String>().Utf8Value());
    }
    job.threads = (int)optInt(o, "threads", 0, 0, 1024);
    return PromiseWorker<DeriveResult>::Run(
        env, [job]() { return deriveDraftFile(job); },
        [](Napi::Env env, DeriveResult& r) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("architecture", r.architecture);
          out.Set("sourceLayers", r.sourceLayers);
          Napi::Array layers = Napi::Array::New(env, r.layers.size());
          for (size_t i = 0; i < r.layers.size(); i++) layers.Set((uint32_t)i, r.layers[i]);
          out.Set("layers", layers);
          return out;
        });
  });
}

}  // namespace specdec

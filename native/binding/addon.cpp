// Module init: the llama.cpp backend (once per process), logging, the numerics switch, and the
// exported classes (per environment).
#include <mutex>

#include "addon.h"
#include "bindings.h"
#include "datastore_wrap.h"
#include "evaluator.h"
#include "ggml-backend.h"
#include "js_errors.h"
#include "llama.h"
#include "log.h"
#include "model_wrap.h"
#include "session_wrap.h"

namespace specdec {

namespace {

Napi::Value SetNumerics(const Napi::CallbackInfo& info) {
  std::string mode = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (mode == "exact") {
    setExactNumerics(true);
  } else if (mode == "fast") {
    setExactNumerics(false);
  } else {
    throw makeError(info.Env(), "INVALID_ARGUMENT", "numerics must be \"exact\" or \"fast\"");
  }
  return info.Env().Undefined();
}

Napi::Value GetNumerics(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), exactNumerics() ? "exact" : "fast");
}

Napi::Value SetLogLevel(const Napi::CallbackInfo& info) {
  int level = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  setLogLevel(level);
  return info.Env().Undefined();
}

Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), llama_print_system_info());
}

// devices() -> [{ name, description, type, memoryTotal, memoryFree }]: the compute devices this
// build's backends found (the CPU, GPUs, RPC workers connected to), where gpuLayers go.
Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t n = ggml_backend_dev_count();
  Napi::Array list = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    const char* type = "cpu";
    switch (ggml_backend_dev_type(dev)) {
      case GGML_BACKEND_DEVICE_TYPE_GPU: type = "gpu"; break;
      case GGML_BACKEND_DEVICE_TYPE_IGPU: type = "igpu"; break;
      case GGML_BACKEND_DEVICE_TYPE_ACCEL: type = "accel"; break;
      default: break;
    }
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", ggml_backend_dev_name(dev));
    d.Set("description", ggml_backend_dev_description(dev));
    d.Set("type", type);
    d.Set("memoryTotal", (double)total);
    d.Set("memoryFree", (double)free);
    list.Set(i, d);
  }
  return list;
}

// liveObjects() -> { models, sessions }: the native models and sessions alive in this process
// (disposed ones are freed once no running work holds them).
Napi::Value LiveObjects(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("models", LiveCount<ModelCore>::count().load());
  o.Set("sessions", LiveCount<SessionCore>::count().load());
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    installLogger();
    llama_backend_init();
    setExactNumerics(true);
  });
  auto* data = new AddonData();
  data->turns = TurnDispatch::create(env);
  Napi::Function model = ModelWrap::Define(env);
  Napi::Function session = SessionWrap::Define(env);
  data->modelClass = Napi::Persistent(model);
  data->sessionClass = Napi::Persistent(session);
  env.SetInstanceData<AddonData>(data);
  exports.Set("Model", model);
  exports.Set("Session", session);
  exports.Set("DatastoreBuilder", DatastoreBuilderWrap::Define(env));
  exports.Set("readDatastoreHeader", Napi::Function::New(env, DatastoreBuilderWrap::ReadHeader, "readDatastoreHeader"));
  exports.Set("loadModel", Napi::Function::New(env, ModelWrap::Load, "loadModel"));
  exports.Set("setNumerics", Napi::Function::New(env, SetNumerics, "setNumerics"));
  exports.Set("getNumerics", Napi::Function::New(env, GetNumerics, "getNumerics"));
  exports.Set("setLogLevel", Napi::Function::New(env, SetLogLevel, "setLogLevel"));
  exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
  exports.Set("devices", Napi::Function::New(env, Devices, "devices"));
  exports.Set("liveObjects", Napi::Function::New(env, LiveObjects, "liveObjects"));
  exports.Set("quantizeModel", Napi::Function::New(env, QuantizeModel, "quantizeModel"));
  exports.Set("deriveDraft", Napi::Function::New(env, DeriveDraft, "deriveDraft"));
  exports.Set("rpcServeSocket", Napi::Function::New(env, RpcServeSocket, "rpcServeSocket"));
  return exports;
}

}  // namespace specdec

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return specdec::Init(env, exports); }
NODE_API_MODULE(specdec, InitAll)

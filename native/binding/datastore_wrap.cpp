#include "datastore_wrap.h"

#include "addon.h"
#include "args.h"
#include "js_errors.h"
#include "model_wrap.h"
#include "worker.h"

namespace specdec {

Napi::Function DatastoreBuilderWrap::Define(Napi::Env env) {
  return DefineClass(env, "DatastoreBuilder",
                     {
                         InstanceMethod<&DatastoreBuilderWrap::AddFile>("addFile"),
                         InstanceMethod<&DatastoreBuilderWrap::AddText>("addText"),
                         InstanceMethod<&DatastoreBuilderWrap::Write>("write"),
                     });
}

DatastoreBuilderWrap::DatastoreBuilderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DatastoreBuilderWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(AddonData::of(env).modelClass.Value())) {
    throw makeError(env, "INVALID_ARGUMENT", "a DatastoreBuilder needs a Model");
  }
  builder_ = std::make_shared<DatastoreBuilder>(ModelWrap::Unwrap(info[0].As<Napi::Object>())->core(env));
}

void DatastoreBuilderWrap::checkIdle(Napi::Env env) {
  if (busy_) throw makeError(env, "BUSY", "the datastore builder is busy with another call");
}

Napi::Value DatastoreBuilderWrap::Add(const Napi::CallbackInfo& info, bool file) {
  Napi::Env env = info.Env();
  checkIdle(env);
  std::string arg = jsCall(env, [&] { return argString(info, 0, file ? "path" : "text"); });
  busy_ = true;
  return PromiseWorker<double>::Run(
      env,
      [builder = builder_, arg = std::move(arg), file]() {
        if (file) {
          builder->addFile(arg);
        } else {
          builder->addText(arg);
        }
        return (double)builder->tokens();
      },
      [](Napi::Env env, double& tokens) -> Napi::Value { return Napi::Number::New(env, tokens); }, [this] { busy_ = false; });
}

Napi::Value DatastoreBuilderWrap::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkIdle(env);
  std::string path, fingerprint;
  jsCall(env, [&] {
    path = argString(info, 0, "path");
    fingerprint = argString(info, 1, "fingerprint");
  });
  const uint64_t corpus = std::strtoull(fingerprint.c_str(), nullptr, 16);
  busy_ = true;
  return PromiseWorker<bool>::Run(
      env,
      [builder = builder_, path = std::move(path), corpus]() {
        builder->write(path, corpus);
        return true;
      },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); }, [this] { busy_ = false; });
}

Napi::Value DatastoreBuilderWrap::ReadHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = jsCall(env, [&] { return argString(info, 0, "path"); });
  return PromiseWorker<DatastoreHeader>::Run(
      env, [path = std::move(path)]() { return Datastore::readHeader(path); },
      [](Napi::Env env, DatastoreHeader& h) -> Napi::Value {
        auto hex = [](uint64_t v) {
          char buf[17];
          std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
          return std::string(buf);
        };
        Napi::Object o = Napi::Object::New(env);
        o.Set("version", h.version);
        o.Set("nVocab", h.nVocab);
        o.Set("vocabFingerprint", hex(h.vocabFingerprint));
        o.Set("corpusFingerprint", hex(h.corpusFingerprint));
        o.Set("tokens", (double)h.nTokens);
        o.Set("documents", (double)h.nDocuments);
        return o;
      });
}

}  // namespace specdec

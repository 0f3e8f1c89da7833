// The JS handle of a DatastoreBuilder (datastore.h).
#pragma once

#include <napi.h>

#include <memory>

#include "datastore.h"

namespace specdec {

// The JS handle of a DatastoreBuilder (class DatastoreBuilder in the addon's exports):
// new DatastoreBuilder(model); addFile(path) / addText(text) -> Promise<tokens so far>;
// write(path, corpusFingerprintHex) -> Promise<void>. One call at a time (else BUSY).
class DatastoreBuilderWrap : public Napi::ObjectWrap<DatastoreBuilderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit DatastoreBuilderWrap(const Napi::CallbackInfo& info);
  // readDatastoreHeader(path) -> Promise<{ version, nVocab, vocabFingerprint, corpusFingerprint, tokens, documents }>
  static Napi::Value ReadHeader(const Napi::CallbackInfo& info);

 private:
  Napi::Value Add(const Napi::CallbackInfo& info, bool file);
  Napi::Value AddFile(const Napi::CallbackInfo& info) { return Add(info, true); }
  Napi::Value AddText(const Napi::CallbackInfo& info) { return Add(info, false); }
  Napi::Value Write(const Napi::CallbackInfo& info);
  void checkIdle(Napi::Env env);

  std::shared_ptr<DatastoreBuilder> builder_;
  bool busy_ = false;
};

}  // namespace specdec

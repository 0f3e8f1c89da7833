// Errors that cross into JavaScript. Native code throws SpecdecException anywhere (main thread or
// worker); the main thread turns it into a JS Error with a `code` property, which lib/errors.ts
// re-wraps as a SpecdecError. Codes are the ones documented in lib/errors.ts.
#pragma once

#include <napi.h>

#include <stdexcept>
#include <string>

namespace specdec {

class SpecdecException : public std::runtime_error {
 public:
  SpecdecException(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

inline Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

inline Napi::Error makeError(Napi::Env env, const SpecdecException& e) {
  return makeError(env, e.code(), e.what());
}

[[noreturn]] inline void fail(const std::string& code, const std::string& message) {
  throw SpecdecException(code, message);
}

}  // namespace specdec

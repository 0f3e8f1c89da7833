// Engine errors as JS errors: a SpecdecException becomes an Error with a `code` property, which
// lib/errors.ts re-wraps as a SpecdecError.
#pragma once

#include <napi.h>

#include <string>

#include "errors.h"

namespace specdec {

inline Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

inline Napi::Error makeError(Napi::Env env, const SpecdecException& e) {
  return makeError(env, e.code(), e.what());
}

// Runs a binding method's body, turning the engine's exceptions into JS errors: every method
// that calls into the engine goes through it instead of a try/catch of its own.
template <typename F>
auto jsCall(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
}

}  // namespace specdec

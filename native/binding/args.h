// Reading JS arguments into plain C++ values on the main thread. The TypeScript layer validates
// first and gives friendly messages; these checks keep the native layer safe on its own.
#pragma once

#include <napi.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "js_errors.h"
#include "llama.h"

namespace specdec {

// Every key of an options object must be one the native side reads (lib/native.ts types them): a
// key it does not know is a mistake between the two layers, never a silent default.
inline void checkKeys(const Napi::Object& o, std::initializer_list<const char*> known, const std::string& what) {
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      fail("INVALID_ARGUMENT", what + "." + key + " is not an option");
    }
  }
}

// The options object at o[key], with its keys checked; none when undefined or null.
inline std::optional<Napi::Object> optObject(const Napi::Object& o, const char* key, std::initializer_list<const char*> known) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsObject()) fail("INVALID_ARGUMENT", std::string(key) + " must be an object");
  checkKeys(v.As<Napi::Object>(), known, key);
  return v.As<Napi::Object>();
}

// The options object argument i, with its keys checked.
inline Napi::Object argObject(const Napi::CallbackInfo& info, size_t i, std::initializer_list<const char*> known) {
  if (info.Length() <= i || !info[i].IsObject()) fail("INVALID_ARGUMENT", "expected an options object");
  Napi::Object o = info[i].As<Napi::Object>();
  checkKeys(o, known, "options");
  return o;
}

inline std::string argString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) fail("INVALID_ARGUMENT", std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline double optNumber(const Napi::Object& o, const char* key, double def, double min, double max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber()) fail("INVALID_ARGUMENT", std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d) || d < min || d > max) {
    fail("INVALID_ARGUMENT", std::string(key) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return d;
}

inline int64_t optInt(const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max) {
  double d = optNumber(o, key, (double)def, (double)min, (double)max);
  if (d != std::floor(d)) fail("INVALID_ARGUMENT", std::string(key) + " must be an integer");
  return (int64_t)d;
}

inline bool optBool(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsBoolean()) fail("INVALID_ARGUMENT", std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// An optional array of strings (none: empty).
inline std::vector<std::string> optStrings(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  std::vector<std::string> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  const std::string wrong = std::string(key) + " must be an array of strings";
  if (!v.IsArray()) fail("INVALID_ARGUMENT", wrong);
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value item = arr.Get(i);
    if (!item.IsString()) fail("INVALID_ARGUMENT", wrong);
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

inline std::vector<llama_token> tokensFrom(const Napi::Value& v, const char* what) {
  std::vector<llama_token> out;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_int32_array) {
      auto a = v.As<Napi::Int32Array>();
      out.assign(a.Data(), a.Data() + a.ElementLength());
      return out;
    }
    if (ta.TypedArrayType() == napi_uint32_array) {
      auto a = v.As<Napi::Uint32Array>();
      out.reserve(a.ElementLength());
      for (size_t i = 0; i < a.ElementLength(); i++) {
        out.push_back(a[i] > 0x7fffffffu ? -1 : (llama_token)a[i]);
      }
      return out;
    }
  }
  if (!v.IsArray()) fail("INVALID_ARGUMENT", std::string(what) + " must be an array of token ids");
  auto arr = v.As<Napi::Array>();
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (std::isnan(d) || d != std::floor(d) || d < INT32_MIN || d > INT32_MAX) {
      fail("INVALID_ARGUMENT", std::string(what) + "[" + std::to_string(i) + "] is not a token id");
    }
    out.push_back((llama_token)d);
  }
  return out;
}

inline Napi::Int32Array tokensToJs(Napi::Env env, const std::vector<llama_token>& tokens) {
  auto a = Napi::Int32Array::New(env, tokens.size());
  for (size_t i = 0; i < tokens.size(); i++) a[i] = tokens[i];
  return a;
}

}  // namespace specdec

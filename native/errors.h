// The engine's errors. Native code throws SpecdecException anywhere (main thread or worker); the
// binding (binding/js_errors.h) turns it into a JS Error with a `code` property, which
// lib/errors.ts re-wraps as a SpecdecError. Codes are the ones documented in lib/errors.ts.
#pragma once

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

[[noreturn]] inline void fail(const std::string& code, const std::string& message) {
  throw SpecdecException(code, message);
}

}  // namespace specdec

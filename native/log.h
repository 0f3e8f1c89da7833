// llama.cpp / ggml logging. Silent by default (a library must not write to the host's stderr);
// SPECDEC_LOG=1 or setLogLevel() lets messages through. Error lines are also kept per thread so
// that a failed load can say why (the loader logs the reason, then returns null).
#pragma once

#include <string>

namespace specdec {

void installLogger();
void setLogLevel(int level);  // ggml_log_level: 0 = none ... 4 = error only
void clearThreadLog();
std::string lastThreadError();

}  // namespace specdec

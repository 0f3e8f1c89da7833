#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "llama.h"

namespace specdec {

namespace {

std::atomic<int> g_level{GGML_LOG_LEVEL_NONE};
thread_local std::string t_errors;

void onLog(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) {
    if (t_errors.size() < 4096) t_errors += text;
  }
  int wanted = g_level.load();
  if (wanted != GGML_LOG_LEVEL_NONE && (level >= wanted || level == GGML_LOG_LEVEL_CONT)) {
    fputs(text, stderr);
  }
}

}  // namespace

void installLogger() {
  const char* env = std::getenv("SPECDEC_LOG");
  if (env && *env && *env != '0') g_level = GGML_LOG_LEVEL_DEBUG;
  llama_log_set(onLog, nullptr);
}

void setLogLevel(int level) { g_level = level; }

void clearThreadLog() { t_errors.clear(); }

std::string lastThreadError() {
  std::string s = t_errors;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace specdec

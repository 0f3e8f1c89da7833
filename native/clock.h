// Milliseconds since a point in time, for the engine's timings (rounds, decodes, catch-ups).
#pragma once

#include <chrono>

namespace specdec {

inline double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace specdec

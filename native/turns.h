// CPU turns: sessions of one process take turns at evaluating, one llama_decode at a time, first
// come first served. On a machine with few cores, two decodes at once each run at a fraction of
// their speed: ggml's worker threads spin at every barrier of the graph, and with the cores
// oversubscribed a barrier waits for a descheduled thread. Taking turns keeps throughput at what
// one session gets, shared fairly. A session that hands the turn to a waiting one pauses its
// threadpool so that its threads sleep instead of polling for work (ggml resumes it on the next
// decode).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace specdec {

class CpuTurns {
 public:
  static CpuTurns& instance() {
    static CpuTurns turns;
    return turns;
  }

  void acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t ticket = next_++;
    cv_.wait(lock, [&] { return serving_ == ticket; });
  }

  // Returns true when another session is waiting for the turn.
  bool release() {
    bool waiting;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      serving_++;
      waiting = next_ > serving_;
    }
    cv_.notify_all();
    return waiting;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t next_ = 0;
  uint64_t serving_ = 0;
};

}  // namespace specdec

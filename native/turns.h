// CPU turns: the evaluating work of a process's sessions (a generation step, evaluateLogits,
// measureDecode) takes turns, one at a time, first come first served. On a machine with few
// cores, two decodes at once each run at a fraction of their speed: ggml's worker threads spin at
// every barrier of the graph, and with the cores oversubscribed a barrier waits for a descheduled
// thread. Taking turns keeps throughput at what one session gets, shared fairly.
//
// Waiting holds no thread: a task that does not get the turn at once leaves a `start` that the
// task before it calls when it ends (binding/worker.h: it queues the task on the libuv pool), so
// the pool's threads stay free for the rest of the process (file system, crypto, DNS, zlib).
// The turn is per task, not per decode: a step (about 25 ms of rounds, or one prompt chunk), a
// whole evaluateLogits or measureDecode. A task is queued from its own environment's thread, so
// an environment whose JS thread is busy for long holds up the tasks after its own.
#pragma once

#include <deque>
#include <functional>
#include <mutex>

namespace specdec {

class CpuTurns {
 public:
  // Hands a waiting task on when its turn comes: must only queue it, never run it or block.
  // Returns false when the task can no longer run (its environment is gone): the turn passes on.
  using Start = std::function<bool()>;

  static CpuTurns& instance() {
    static CpuTurns turns;
    return turns;
  }

  // true: the caller has the turn now. false: `start` is kept and called when the turn comes.
  bool request(Start start) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!held_) {
      held_ = true;
      return true;
    }
    waiting_.push_back(std::move(start));
    return false;
  }

  // Ends the caller's turn: the first waiter that can still run gets it.
  void release() {
    for (;;) {
      Start next;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (waiting_.empty()) {
          held_ = false;
          return;
        }
        next = std::move(waiting_.front());
        waiting_.pop_front();
      }
      if (next()) return;  // the turn is the waiter's now (held_ stays true)
    }
  }

 private:
  std::mutex mutex_;
  bool held_ = false;
  std::deque<Start> waiting_;
};

}  // namespace specdec

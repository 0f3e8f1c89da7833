// Hands a task whose CPU turn has come (turns.h) to its environment's thread, where it is queued
// on the libuv pool (worker.h, PromiseWorker::RunInTurn). One per environment (AddonData): the
// turn may come from any thread, when the task before it ends.
//
// Teardown: an environment can go (a worker thread terminated) while its tasks wait. Its cleanup
// hook, which runs before Node's own hook of the thread-safe function, closes the gate: a turn
// that comes after that passes on to the next waiter. A turn handed over just before, still in
// the function's queue, is called back with no environment and passes on from there.
//
// While a task waits the turn's thread-safe function keeps the event loop alive (nothing else
// may: the task is not queued yet).
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

namespace specdec {

class TurnDispatch {
 public:
  static std::shared_ptr<TurnDispatch> create(Napi::Env env);

  // On the environment's thread: a task is about to wait for its turn, or has stopped waiting.
  void waiting(Napi::Env env);
  void done(Napi::Env env);
  // From any thread: queues `worker` from its environment's thread. False when the environment
  // is gone (the worker never runs).
  bool dispatch(Napi::AsyncWorker* worker);

 private:
  static void callJs(napi_env env, napi_value, void*, void* data);
  static void cleanup(void* arg);

  std::mutex mutex_;
  bool alive_ = true;
  napi_threadsafe_function tsfn_ = nullptr;
  int waiters_ = 0;  // the environment's thread only
};

}  // namespace specdec

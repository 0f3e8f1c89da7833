// PromiseWorker: runs `work` on the libuv pool and settles a promise with `done(env, result)` on
// the main thread. `work` must only touch plain C++ data (copied from JS before queueing) and
// objects kept alive by shared_ptrs it captures; it may throw SpecdecException (or any
// std::exception, reported as code INTERNAL), which rejects the promise. `settle`, if given, runs
// on the main thread first in both cases (e.g. to clear a busy flag). RunInTurn: work that
// evaluates (llama_decode) waits for its CPU turn (turns.h) before it is queued, holding no thread,
// and hands the turn on when it ends.
#pragma once

#include <napi.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <functional>
#include <memory>
#include <optional>

#include "addon.h"
#include "js_errors.h"
#include "turns.h"

namespace specdec {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Done = std::function<Napi::Value(Napi::Env, Result&)>;
  using Settle = std::function<void()>;

  static Napi::Promise Run(Napi::Env env, Work work, Done done, Settle settle = nullptr) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(done), std::move(settle));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

  static Napi::Promise RunInTurn(Napi::Env env, Work work, Done done, Settle settle) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(done), std::move(settle));
    worker->inTurn_ = true;
    Napi::Promise promise = worker->deferred_.Promise();
    // Queued from this environment's thread when the turn comes (turn_dispatch.h).
    std::shared_ptr<TurnDispatch> turns = AddonData::of(env).turns;
    turns->waiting(env);
    if (CpuTurns::instance().request([turns, worker] { return turns->dispatch(worker); })) {
      turns->done(env);
      worker->Queue();
    }
    return promise;
  }

 protected:
  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (const SpecdecException& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "INTERNAL";
      SetError(e.what());
    }
    if (inTurn_) CpuTurns::instance().release();
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (settle_) settle_();
    try {
      deferred_.Resolve(done_(env, *result_));
    } catch (const SpecdecException& e) {
      deferred_.Reject(makeError(env, e).Value());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    if (settle_) settle_();
    deferred_.Reject(makeError(Env(), code_, e.Message()).Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Done done, Settle settle)
      : Napi::AsyncWorker(env, "specdec"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)),
        settle_(std::move(settle)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  Settle settle_;
  std::optional<Result> result_;
  std::string code_;
  bool inTurn_ = false;
};

// Drops a reference on the thread pool: when it is the last one, freeing a model or a context
// (unmapping weights, releasing the KV cache) takes milliseconds the event loop need not wait for.
template <typename T>
void releaseOnPool(Napi::Env env, std::shared_ptr<T> ref) {
  class Release : public Napi::AsyncWorker {
   public:
    Release(Napi::Env env, std::shared_ptr<T> ref) : Napi::AsyncWorker(env, "specdec:release"), ref_(std::move(ref)) {}
    void Execute() override {
      ref_.reset();
#ifdef __GLIBC__
      // glibc keeps freed buffers of a few MiB in its heaps (its mmap threshold rises after the
      // first such free), so a process that makes and drops many sessions would see its resident
      // memory creep up; hand the free pages back.
      malloc_trim(0);
#endif
    }

   private:
    std::shared_ptr<T> ref_;
  };
  (new Release(env, std::move(ref)))->Queue();
}

}  // namespace specdec

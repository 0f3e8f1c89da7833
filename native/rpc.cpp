#include "rpc.h"

#include <memory>
#include <thread>

#include "args.h"
#include "errors.h"

#ifdef SPECDEC_RPC
#include "ggml-backend-impl.h"
#include "ggml-rpc.h"
#endif

namespace specdec {

std::vector<ggml_backend_dev_t> localGpuDevices() {
  std::vector<ggml_backend_dev_t> devices;
  for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    auto type = ggml_backend_dev_type(dev);
    if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) devices.push_back(dev);
  }
  return devices;
}

#ifdef SPECDEC_RPC

std::vector<ggml_backend_dev_t> rpcDevices(const std::vector<std::string>& endpoints, RpcBaseline& baseline) {
  std::vector<ggml_backend_dev_t> devices;
  for (const std::string& endpoint : endpoints) {
    uint64_t failures = ggml_backend_rpc_failures(endpoint.c_str());
    ggml_backend_reg_t reg = ggml_backend_rpc_add_server(endpoint.c_str());
    // add_server remembers an endpoint it once reached: ask the worker something, to connect now.
    size_t free = 0, total = 0;
    if (reg) ggml_backend_rpc_get_device_memory(endpoint.c_str(), 0, &free, &total);
    if (!reg || ggml_backend_rpc_failures(endpoint.c_str()) != failures) {
      fail("RPC_UNAVAILABLE", "cannot reach the RPC worker at " + endpoint + " (is `specdec rpc-server` running there?)");
    }
    baseline.emplace_back(endpoint, failures);
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); i++) devices.push_back(ggml_backend_reg_dev_get(reg, i));
  }
  return devices;
}

void checkRpc(const RpcBaseline& baseline) {
  for (const auto& [endpoint, failures] : baseline) {
    if (ggml_backend_rpc_failures(endpoint.c_str()) != failures) {
      fail("RPC_UNAVAILABLE", "lost the connection to the RPC worker at " + endpoint +
                                  ": it no longer holds the model; load the model again once the worker is back");
    }
  }
}

namespace {

// A device that reports a set amount of memory and is otherwise the one it wraps; its backends
// say they belong to it, which is where the RPC server asks for a device's memory.
struct MemoryLimitedDevice {
  static inline ggml_backend_device device;
  static inline ggml_backend_dev_t inner = nullptr;
  static inline size_t bytes = 0;

  static ggml_backend_dev_t wrap(ggml_backend_dev_t dev, size_t memoryBytes) {
    inner = dev;
    bytes = memoryBytes;
    device = *dev;
    device.iface.get_memory = [](ggml_backend_dev_t, size_t* free, size_t* total) { *free = *total = bytes; };
    device.iface.get_props = [](ggml_backend_dev_t, ggml_backend_dev_props* props) {
      inner->iface.get_props(inner, props);
      props->memory_free = props->memory_total = bytes;
    };
    device.iface.init_backend = [](ggml_backend_dev_t, const char* params) {
      ggml_backend_t backend = inner->iface.init_backend(inner, params);
      if (backend) backend->device = &device;
      return backend;
    };
    return &device;
  }
};

}  // namespace

Napi::Value RpcServe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    std::string endpoint = argString(info, 0, "endpoint");
    Napi::Object o = argObject(info, 1);
    size_t threads = (size_t)optInt(o, "threads", 1, 1, 1024);
    size_t memoryBytes = (size_t)optNumber(o, "memoryBytes", 0, 0, 9.0e15);
    // GPUs if there are any, else the CPU (as llama.cpp's rpc-server chooses).
    std::vector<ggml_backend_dev_t> devices = localGpuDevices();
    if (devices.empty()) devices.push_back(ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU));
    if (memoryBytes > 0) {
      if (devices.size() > 1) fail("INVALID_ARGUMENT", "a memory limit applies to one device; this machine has several");
      devices[0] = MemoryLimitedDevice::wrap(devices[0], memoryBytes);
    }
    // A thread of its own, not the libuv pool: the server never returns, and Node waits for the
    // pool's threads when the process exits. The promise settles only if serving stops.
    auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
    auto settle = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                                "specdec rpc server", 0, 1);
    std::thread([endpoint, threads, devices, deferred, settle]() mutable {
      ggml_backend_rpc_start_server(endpoint.c_str(), nullptr, threads, devices.size(), devices.data());
      settle.BlockingCall([endpoint, deferred](Napi::Env env, Napi::Function) {
        deferred->Reject(makeError(env, "RPC_UNAVAILABLE", "the RPC server at " + endpoint +
                                                               " stopped: cannot listen there (address in use?)").Value());
      });
      settle.Release();
    }).detach();
    return deferred->Promise();
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
}

#else  // built without the RPC backend

std::vector<ggml_backend_dev_t> rpcDevices(const std::vector<std::string>&, RpcBaseline&) {
  fail("INVALID_ARGUMENT", "this build of specdec has no RPC backend (built with SPECDEC_RPC=OFF)");
}

void checkRpc(const RpcBaseline&) {}

Napi::Value RpcServe(const Napi::CallbackInfo& info) {
  throw makeError(info.Env(), "INVALID_ARGUMENT", "this build of specdec has no RPC backend (built with SPECDEC_RPC=OFF)");
}

#endif

}  // namespace specdec

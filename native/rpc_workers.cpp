#include "rpc_workers.h"

#include <memory>

#include "errors.h"
#include "rpc_auth.h"

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

namespace {

std::string lastFailure(const std::string& endpoint) {
  char why[256] = "";
  ggml_backend_rpc_last_failure(endpoint.c_str(), why, sizeof why);
  return why;
}

}  // namespace

std::vector<ggml_backend_dev_t> rpcDevices(const std::vector<std::string>& endpoints, uint32_t timeoutMs, const std::string& token,
                                           RpcBaseline& baseline) {
  std::vector<ggml_backend_dev_t> devices;
  for (const std::string& endpoint : endpoints) {
    ggml_backend_rpc_set_timeout(endpoint.c_str(), timeoutMs);
    setRpcToken(endpoint, token);
    // A worker closes a connection that holds nothing after a while: an earlier one may be gone.
    RpcConnection held;
    ggml_backend_reg_t reg = nullptr;
    for (int attempt = 0; attempt < 2 && !held.backend; attempt++) {
      ggml_backend_rpc_reconnect(endpoint.c_str());
      held.failures = ggml_backend_rpc_failures(endpoint.c_str());
      reg = ggml_backend_rpc_add_server(endpoint.c_str());
      if (!reg || ggml_backend_reg_dev_count(reg) == 0) break;
      // ggml connects for each use unless something holds the connection: the model holds one,
      // so that its buffers live in one connection (a worker frees them when it ends)
      held.backend.reset(ggml_backend_dev_init(ggml_backend_reg_dev_get(reg, 0), nullptr), ggml_backend_free);
      size_t free = 0, total = 0;
      ggml_backend_rpc_get_device_memory(endpoint.c_str(), 0, &free, &total);
      if (ggml_backend_rpc_failures(endpoint.c_str()) != held.failures) held.backend.reset();
    }
    if (!held.backend) {
      std::string why = lastFailure(endpoint);
      fail("RPC_UNAVAILABLE", "cannot use the RPC worker at " + endpoint + (why.empty() ? "" : " (" + why + ")") +
                                  ": check that `specdec rpc-server` runs there with a free client slot and, if it asks for "
                                  "one, that rpcToken (or SPECDEC_RPC_TOKEN) is its token");
    }
    held.endpoint = endpoint;
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); i++) devices.push_back(ggml_backend_reg_dev_get(reg, i));
    baseline.push_back(std::move(held));
  }
  return devices;
}

void checkRpc(const RpcBaseline& baseline) {
  for (const RpcConnection& c : baseline) {
    if (ggml_backend_rpc_failures(c.endpoint.c_str()) != c.failures) {
      std::string why = lastFailure(c.endpoint);
      fail("RPC_UNAVAILABLE", "lost the connection to the RPC worker at " + c.endpoint + (why.empty() ? "" : " (" + why + ")") +
                                  ": it no longer holds the model; load the model again once the worker is back");
    }
  }
}

void disconnectRpc(const RpcBaseline& baseline, const char* why) {
  for (const RpcConnection& c : baseline) ggml_backend_rpc_disconnect(c.endpoint.c_str(), why);
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

bool rpcServeSocket(intptr_t fd, size_t threads, size_t memoryBytes, uint32_t idleMs) {
  // GPUs if there are any, else the CPU (as llama.cpp's rpc-server chooses).
  std::vector<ggml_backend_dev_t> devices = localGpuDevices();
  if (devices.empty()) devices.push_back(ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU));
  if (memoryBytes > 0) {
    if (devices.size() > 1) fail("INVALID_ARGUMENT", "a memory limit applies to one device; this machine has several");
    devices[0] = MemoryLimitedDevice::wrap(devices[0], memoryBytes);
  }
  return ggml_backend_rpc_serve_socket(fd, nullptr, threads, devices.size(), devices.data(), idleMs);
}

#else  // built without the RPC backend

std::vector<ggml_backend_dev_t> rpcDevices(const std::vector<std::string>&, uint32_t, const std::string&, RpcBaseline&) {
  fail("INVALID_ARGUMENT", "this build of specdec has no RPC backend (built with SPECDEC_RPC=OFF)");
}

void checkRpc(const RpcBaseline&) {}

void disconnectRpc(const RpcBaseline&, const char*) {}

bool rpcServeSocket(intptr_t, size_t, size_t, uint32_t) {
  fail("INVALID_ARGUMENT", "this build of specdec has no RPC backend (built with SPECDEC_RPC=OFF)");
}

#endif

}  // namespace specdec

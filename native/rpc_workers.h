// ggml's RPC backend, both ends: the devices of remote workers a model's layers go to (with a
// check that their connections still hold), and serving this process's compute as a worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ggml-backend.h"

namespace specdec {

// A model's connection to one worker: held open while the model lives, with the endpoint's failure
// count (ggml_backend_rpc_failures) when it was made.
struct RpcConnection {
  std::string endpoint;
  uint64_t failures = 0;
  std::shared_ptr<ggml_backend> backend;
};
using RpcBaseline = std::vector<RpcConnection>;

// Connects to each "host:port" (timeoutMs bounds connecting and every request, 0: none; token
// answers a worker's challenge, "": none) and returns its devices, in order, and the held
// connections. Throws RPC_UNAVAILABLE naming a worker that cannot be used; INVALID_ARGUMENT when
// this build has no RPC backend.
std::vector<ggml_backend_dev_t> rpcDevices(const std::vector<std::string>& endpoints, uint32_t timeoutMs, const std::string& token,
                                           RpcBaseline& baseline);

// This machine's GPUs (discrete or integrated), in ggml's order.
std::vector<ggml_backend_dev_t> localGpuDevices();

// Throws RPC_UNAVAILABLE when a connection of the baseline failed since: the worker has
// forgotten the model's tensors and KV cache, so the model must be loaded again.
void checkRpc(const RpcBaseline& baseline);

// Fails the connections now, e.g. to stop waiting on a worker that does not answer.
void disconnectRpc(const RpcBaseline& baseline, const char* why);

// Serves one RPC client on a connected socket (a supervising process accepted it) with this
// machine's GPUs, or else its CPU, until the connection ends; false if the socket or the devices
// cannot be used. memoryBytes > 0: the memory the device reports (clients size their layer split
// by it, and the worker allocates no more). idleMs > 0: a client idle that long while holding
// nothing is disconnected. Blocks: run it off the main thread.
bool rpcServeSocket(intptr_t fd, size_t threads, size_t memoryBytes, uint32_t idleMs);

}  // namespace specdec

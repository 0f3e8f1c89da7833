// ggml's RPC backend, both ends: the devices of remote workers a model's layers go to (with a
// check that their connections still hold), and serving this process's compute as a worker.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ggml-backend.h"

namespace specdec {

// The failure count of each endpoint (ggml_backend_rpc_failures) when a model was loaded.
using RpcBaseline = std::vector<std::pair<std::string, uint64_t>>;

// Connects to each "host:port" and returns its devices, in order, and the baseline. Throws
// RPC_UNAVAILABLE naming a worker that cannot be reached; INVALID_ARGUMENT when this build has no
// RPC backend.
std::vector<ggml_backend_dev_t> rpcDevices(const std::vector<std::string>& endpoints, RpcBaseline& baseline);

// This machine's GPUs (discrete or integrated), in ggml's order.
std::vector<ggml_backend_dev_t> localGpuDevices();

// Throws RPC_UNAVAILABLE when a connection of the baseline failed since: the worker has
// forgotten the model's tensors and KV cache, so the model must be loaded again.
void checkRpc(const RpcBaseline& baseline);

// rpcServe(endpoint, { threads, memoryBytes }) -> Promise that settles only if serving stops (it
// could not listen): serves this machine's GPUs, or else its CPU, to RPC clients, one client at a
// time. memoryBytes > 0: the memory the device reports to clients (which size their default
// layer split by it).
Napi::Value RpcServe(const Napi::CallbackInfo& info);

}  // namespace specdec

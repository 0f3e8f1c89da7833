#include "derive_draft.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "errors.h"
#include "ggml.h"
#include "gguf.h"
#include "model.h"
#include "quantize.h"

namespace specdec {

namespace {

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlFree {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;

GgufPtr openMetadata(const std::string& path) {
  precheckModelFile(path);  // the same checks as loadModel, so nothing below can trip an assert
  gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
  GgufPtr ctx(gguf_init_from_file(path.c_str(), params));
  if (!ctx) fail("INVALID_MODEL", "cannot read the GGUF metadata of " + path);
  return ctx;
}

std::string architectureOf(gguf_context* ctx, const std::string& path) {
  int64_t key = gguf_find_key(ctx, "general.architecture");
  if (key < 0 || gguf_get_kv_type(ctx, key) != GGUF_TYPE_STRING) fail("INVALID_MODEL", "no general.architecture in " + path);
  return gguf_get_val_str(ctx, key);
}

int layerCountOf(gguf_context* ctx, const std::string& arch, const std::string& path) {
  int64_t key = gguf_find_key(ctx, (arch + ".block_count").c_str());
  if (key < 0 || gguf_get_kv_type(ctx, key) != GGUF_TYPE_UINT32) fail("INVALID_MODEL", "no " + arch + ".block_count in " + path);
  return (int)gguf_get_val_u32(ctx, key);
}

// "blk.12.attn_q.weight" -> 12 (and the rest after "blk.12"); -1 for tensors outside the layers.
int layerOfTensor(const std::string& name, std::string& rest) {
  if (name.rfind("blk.", 0) != 0) return -1;
  size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return -1;
  int layer = 0;
  for (size_t i = 4; i < dot; i++) {
    if (name[i] < '0' || name[i] > '9' || layer > 100000) return -1;
    layer = layer * 10 + (name[i] - '0');
  }
  rest = name.substr(dot);
  return layer;
}

size_t scalarSize(gguf_type type) {
  switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;  // strings, arrays
  }
}

// Metadata arrays with one entry per layer (per-layer head counts, window flags...) keep the
// kept layers' entries.
void sliceLayerArrays(gguf_context* out, gguf_context* in, const std::string& arch, int sourceLayers,
                      const std::vector<int>& layers) {
  const std::string prefix = arch + ".";
  for (int64_t k = 0; k < gguf_get_n_kv(in); k++) {
    const std::string key = gguf_get_key(in, k);
    if (key.rfind(prefix, 0) != 0 || gguf_get_kv_type(in, k) != GGUF_TYPE_ARRAY) continue;
    if (gguf_get_arr_n(in, k) != (size_t)sourceLayers) continue;
    gguf_type type = gguf_get_arr_type(in, k);
    const size_t size = scalarSize(type);
    if (size == 0) continue;
    const auto* data = static_cast<const uint8_t*>(gguf_get_arr_data(in, k));
    std::vector<uint8_t> kept(layers.size() * size);
    for (size_t i = 0; i < layers.size(); i++) std::memcpy(&kept[i * size], data + (size_t)layers[i] * size, size);
    gguf_set_arr_data(out, key.c_str(), type, kept.data(), layers.size());
  }
}

void copyBytes(std::ifstream& from, uint64_t offset, uint64_t size, std::ofstream& to, const std::string& src) {
  from.seekg((std::streamoff)offset);
  std::vector<char> buffer(1 << 20);
  while (size > 0) {
    size_t chunk = (size_t)std::min<uint64_t>(size, buffer.size());
    from.read(buffer.data(), (std::streamsize)chunk);
    if ((size_t)from.gcount() != chunk) fail("INVALID_MODEL", "tensor data past the end of " + src);
    to.write(buffer.data(), (std::streamsize)chunk);
    size -= chunk;
  }
}

// The layer-dropping copy itself (no requantizing).
DeriveResult writeLayers(const DeriveJob& job) {
  if (job.dst.empty()) fail("INVALID_ARGUMENT", "destination path is empty");
  GgufPtr in = openMetadata(job.src);
  std::error_code ec;
  DeriveResult result;
  result.architecture = architectureOf(in.get(), job.src);
  result.sourceLayers = layerCountOf(in.get(), result.architecture, job.src);
  result.layers = job.layers.empty() ? pickLayers(result.sourceLayers, job.keep, job.spacing) : job.layers;
  const std::vector<int>& layers = result.layers;
  for (size_t i = 0; i < layers.size(); i++) {
    int layer = layers[i];
    if (layer < 0 || layer >= result.sourceLayers) {
      fail("INVALID_ARGUMENT", "layer " + std::to_string(layer) + " is out of range: the model has " +
                                   std::to_string(result.sourceLayers) + " layers (0-" + std::to_string(result.sourceLayers - 1) + ")");
    }
    if (i > 0 && layer <= layers[i - 1]) fail("INVALID_ARGUMENT", "layers must be ascending without repeats");
  }
  std::unordered_map<int, int> renumber;
  for (size_t i = 0; i < layers.size(); i++) renumber[layers[i]] = (int)i;

  GgufPtr out(gguf_init_empty());
  gguf_set_kv(out.get(), in.get());
  // gguf writes with the context's alignment, which setting the key does not change: keep the default.
  gguf_remove_key(out.get(), "general.alignment");
  gguf_set_val_u32(out.get(), (result.architecture + ".block_count").c_str(), (uint32_t)layers.size());
  sliceLayerArrays(out.get(), in.get(), result.architecture, result.sourceLayers, layers);

  const int64_t nTensors = gguf_get_n_tensors(in.get());
  ggml_init_params tensorParams = {(size_t)(nTensors + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/true};
  std::unique_ptr<ggml_context, GgmlFree> tensors(ggml_init(tensorParams));
  if (!tensors) fail("OUT_OF_MEMORY", "cannot allocate tensor metadata");
  std::vector<int64_t> kept;  // source tensor ids, in the output's order
  for (int64_t t = 0; t < nTensors; t++) {
    std::string name = gguf_get_tensor_name(in.get(), t), rest;
    int layer = layerOfTensor(name, rest);
    if (layer >= 0) {
      auto found = renumber.find(layer);
      if (found == renumber.end()) continue;
      name = "blk." + std::to_string(found->second) + rest;
    }
    if (name.size() >= GGML_MAX_NAME) fail("INVALID_MODEL", "tensor name too long: " + name);
    ggml_tensor* tensor = ggml_new_tensor(tensors.get(), gguf_get_tensor_type(in.get(), t), GGML_MAX_DIMS,
                                          gguf_get_tensor_ne(in.get(), t));
    ggml_set_name(tensor, name.c_str());
    gguf_add_tensor(out.get(), tensor);
    kept.push_back(t);
  }

  const auto dst = std::filesystem::u8path(job.dst);
  const auto part = std::filesystem::u8path(job.dst + ".part");
  try {
    std::ofstream to(part, std::ios::binary | std::ios::trunc);
    if (!to) fail("IO_ERROR", "cannot write " + job.dst + ".part");
    std::vector<char> meta(gguf_get_meta_size(out.get()));
    gguf_get_meta_data(out.get(), meta.data());
    to.write(meta.data(), (std::streamsize)meta.size());
    std::ifstream from(std::filesystem::u8path(job.src), std::ios::binary);
    if (!from) fail("IO_ERROR", "cannot read " + job.src);
    const size_t alignment = gguf_get_alignment(out.get());
    const char zeros[64] = {0};
    for (int64_t t : kept) {
      const uint64_t size = gguf_get_tensor_size(in.get(), t);
      copyBytes(from, gguf_get_data_offset(in.get()) + gguf_get_tensor_offset(in.get(), t), size, to, job.src);
      size_t pad = (alignment - size % alignment) % alignment;
      while (pad > 0) {
        size_t n = std::min(pad, sizeof zeros);
        to.write(zeros, (std::streamsize)n);
        pad -= n;
      }
    }
    to.close();
    if (!to) fail("IO_ERROR", "writing " + job.dst + " failed (disk full?)");
    std::filesystem::rename(part, dst);
  } catch (const std::filesystem::filesystem_error& e) {
    std::filesystem::remove(part, ec);
    fail("IO_ERROR", "cannot write " + job.dst + ": " + e.what());
  } catch (...) {
    std::filesystem::remove(part, ec);
    throw;
  }
  return result;
}

}  // namespace

std::vector<int> pickLayers(int total, int keep, const std::string& spacing) {
  if (keep < 1 || keep > total) {
    fail("INVALID_ARGUMENT", "cannot keep " + std::to_string(keep) + " of " + std::to_string(total) + " layers");
  }
  std::vector<int> layers;
  if (spacing == "even") {
    for (int i = 0; i < keep; i++) layers.push_back(keep == 1 ? 0 : (int)((int64_t)i * (total - 1) * 2 + (keep - 1)) / (2 * (keep - 1)));
  } else if (spacing == "ends") {
    for (int i = 0; i + 1 < keep; i++) layers.push_back(i);
    layers.push_back(total - 1);
  } else {
    fail("INVALID_ARGUMENT", "spacing must be \"even\" or \"ends\", not \"" + spacing + "\"");
  }
  return layers;
}

DeriveResult deriveDraftFile(const DeriveJob& job) {
  std::error_code ec;
  if (std::filesystem::equivalent(std::filesystem::u8path(job.dst), std::filesystem::u8path(job.src), ec) && !ec) {
    fail("INVALID_ARGUMENT", "the destination is the source file: " + job.dst);
  }
  if (!job.ftype) return writeLayers(job);
  DeriveJob layersOnly = job;
  layersOnly.dst = job.dst + ".layers.part";
  DeriveResult result = writeLayers(layersOnly);
  QuantizeJob quantize{layersOnly.dst, job.dst, *job.ftype, false, job.threads};
  try {
    quantizeModelFile(quantize);
  } catch (...) {
    std::filesystem::remove(std::filesystem::u8path(layersOnly.dst), ec);
    throw;
  }
  std::filesystem::remove(std::filesystem::u8path(layersOnly.dst), ec);
  return result;
}

}  // namespace specdec

#include "gguf_check.h"

#include <cmath>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "errors.h"
#include "gguf.h"

namespace specdec {

namespace {

// llama.cpp's own limits (src/llama-hparams.h), which it asserts instead of reporting.
constexpr int64_t kMaxLayers = 512;
constexpr int64_t kMaxExperts = 1024;
// Sizes no real model comes near; past them llama.cpp's arithmetic may overflow.
constexpr int64_t kMaxWidth = int64_t(1) << 20;
constexpr int64_t kMaxHeads = int64_t(1) << 14;

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};

bool isInteger(gguf_type t) {
  switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
      return true;
    default:
      return false;
  }
}

int64_t integerAt(gguf_type t, const void* data, size_t i) {
  switch (t) {
    case GGUF_TYPE_UINT8: return static_cast<const uint8_t*>(data)[i];
    case GGUF_TYPE_INT8: return static_cast<const int8_t*>(data)[i];
    case GGUF_TYPE_UINT16: return static_cast<const uint16_t*>(data)[i];
    case GGUF_TYPE_INT16: return static_cast<const int16_t*>(data)[i];
    case GGUF_TYPE_UINT32: return static_cast<const uint32_t*>(data)[i];
    case GGUF_TYPE_INT32: return static_cast<const int32_t*>(data)[i];
    case GGUF_TYPE_UINT64: {
      uint64_t v = static_cast<const uint64_t*>(data)[i];
      return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
    }
    case GGUF_TYPE_INT64: return static_cast<const int64_t*>(data)[i];
    default: return 0;
  }
}

class Metadata {
 public:
  Metadata(gguf_context* ctx, std::string path) : ctx_(ctx), path_(std::move(path)) {}

  [[noreturn]] void bad(const std::string& what) const { fail("INVALID_MODEL", "invalid model " + path_ + ": " + what); }

  int64_t find(const std::string& key) const { return gguf_find_key(ctx_, key.c_str()); }

  // Every value of an integer key (a scalar, or an array of integers, as per-layer values are
  // stored), each checked against [lo, hi]; nothing if the key is absent.
  void checkIntegers(const std::string& key, int64_t lo, int64_t hi) const {
    const int64_t id = find(key);
    if (id < 0) return;
    const gguf_type t = gguf_get_kv_type(ctx_, id);
    size_t n = 1;
    gguf_type et = t;
    const void* data = nullptr;
    if (t == GGUF_TYPE_ARRAY) {
      et = gguf_get_arr_type(ctx_, id);
      n = gguf_get_arr_n(ctx_, id);
      if (n == 0) bad(key + " is an empty array");
      if (isInteger(et)) data = gguf_get_arr_data(ctx_, id);
    } else if (isInteger(t)) {
      data = gguf_get_val_data(ctx_, id);
    }
    if (!data) bad(key + " is not an integer");
    for (size_t i = 0; i < n; i++) {
      const int64_t v = integerAt(et, data, i);
      if (v < lo || v > hi) bad(key + " = " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  }

  std::optional<int64_t> integer(const std::string& key) const {
    const int64_t id = find(key);
    if (id < 0 || !isInteger(gguf_get_kv_type(ctx_, id))) return std::nullopt;
    return integerAt(gguf_get_kv_type(ctx_, id), gguf_get_val_data(ctx_, id), 0);
  }

  void checkFloat(const std::string& key, double lo, double hi) const {
    const int64_t id = find(key);
    if (id < 0) return;
    const gguf_type t = gguf_get_kv_type(ctx_, id);
    double v;
    if (t == GGUF_TYPE_FLOAT32) v = gguf_get_val_f32(ctx_, id);
    else if (t == GGUF_TYPE_FLOAT64) v = gguf_get_val_f64(ctx_, id);
    else bad(key + " is not a number");
    if (!std::isfinite(v) || v < lo || v > hi) bad(key + " = " + std::to_string(v) + " is out of range");
  }

  // The vocabulary: llama.cpp maps token text to id and asserts that no two tokens share a text.
  void checkVocabulary() const {
    const int64_t id = find("tokenizer.ggml.tokens");
    if (id < 0) return;  // no vocabulary: llama.cpp reports what it needs
    if (gguf_get_kv_type(ctx_, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx_, id) != GGUF_TYPE_STRING) {
      bad("tokenizer.ggml.tokens is not an array of strings");
    }
    const size_t n = gguf_get_arr_n(ctx_, id);
    if (n == 0 || n > (size_t)INT32_MAX) bad("tokenizer.ggml.tokens has " + std::to_string(n) + " tokens");
    std::unordered_set<std::string_view> seen;
    seen.reserve(n);
    for (size_t i = 0; i < n; i++) {
      if (!seen.insert(std::string_view(gguf_get_arr_str(ctx_, id, i))).second) {
        bad("the vocabulary has two tokens with the same text (token " + std::to_string(i) + ")");
      }
    }
    for (const char* key : {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
      const int64_t k = find(key);
      if (k >= 0 && (gguf_get_kv_type(ctx_, k) != GGUF_TYPE_ARRAY || gguf_get_arr_n(ctx_, k) != n)) {
        bad(std::string(key) + " does not have one entry per token");
      }
    }
  }

 private:
  gguf_context* ctx_;
  std::string path_;
};

}  // namespace

void checkModelMetadata(const std::string& path) {
  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  std::unique_ptr<gguf_context, GgufFree> ctx(gguf_init_from_file(path.c_str(), params));
  if (!ctx) fail("INVALID_MODEL", "invalid model " + path + ": its GGUF header, metadata or tensor list cannot be read");
  Metadata m(ctx.get(), path);

  const int64_t archId = m.find("general.architecture");
  if (archId < 0 || gguf_get_kv_type(ctx.get(), archId) != GGUF_TYPE_STRING) m.bad("general.architecture is missing");
  const std::string a = gguf_get_val_str(ctx.get(), archId);

  // The hyperparameters llama.cpp asserts on or divides by, when the architecture has them.
  m.checkIntegers(a + ".block_count", 1, kMaxLayers);
  m.checkIntegers(a + ".context_length", 1, int64_t(1) << 31);
  m.checkIntegers(a + ".embedding_length", 1, kMaxWidth);
  m.checkIntegers(a + ".feed_forward_length", 0, kMaxWidth * 16);
  m.checkIntegers(a + ".attention.head_count", 0, kMaxHeads);
  m.checkIntegers(a + ".attention.head_count_kv", 0, kMaxHeads);
  m.checkIntegers(a + ".attention.key_length", 0, kMaxWidth);
  m.checkIntegers(a + ".attention.value_length", 0, kMaxWidth);
  m.checkIntegers(a + ".rope.dimension_count", 0, kMaxWidth);
  m.checkIntegers(a + ".expert_count", 0, kMaxExperts);
  m.checkIntegers(a + ".expert_used_count", 0, kMaxExperts);
  m.checkFloat(a + ".attention.layer_norm_rms_epsilon", 0, 1);
  m.checkFloat(a + ".attention.layer_norm_epsilon", 0, 1);
  m.checkFloat(a + ".rope.freq_base", 1e-6, 1e12);
  m.checkFloat(a + ".rope.scale_linear", 1e-6, 1e6);
  const auto heads = m.integer(a + ".attention.head_count");
  const auto headsKv = m.integer(a + ".attention.head_count_kv");
  const auto width = m.integer(a + ".embedding_length");
  if (heads && *heads > 0) {
    if (headsKv && (*headsKv == 0 || *heads % *headsKv != 0)) m.bad("attention.head_count is not a multiple of attention.head_count_kv");
    if (width && !m.integer(a + ".attention.key_length") && *width % *heads != 0) {
      m.bad("embedding_length is not a multiple of attention.head_count");
    }
  }
  m.checkVocabulary();
}

}  // namespace specdec

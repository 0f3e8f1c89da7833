#include "quantize.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "errors.h"
#include "log.h"
#include "model.h"

namespace specdec {

namespace {

// The formats llama-quantize names, less the ones that need an importance matrix (IQ1-IQ3).
const std::map<std::string, llama_ftype>& ftypes() {
  static const std::map<std::string, llama_ftype> table = {
      {"F32", LLAMA_FTYPE_ALL_F32},        {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
      {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},   {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},     {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},
      {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},   {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
      {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S}, {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
      {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
      {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
      {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL}, {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS},
  };
  return table;
}

}  // namespace

llama_ftype quantizationType(const std::string& name) {
  auto found = ftypes().find(name);
  if (found == ftypes().end()) fail("INVALID_ARGUMENT", "unknown quantization type " + name);
  return found->second;
}

void quantizeModelFile(const QuantizeJob& job) {
  precheckModelFile(job.src);
  std::error_code ec;
  if (std::filesystem::equivalent(std::filesystem::u8path(job.dst), std::filesystem::u8path(job.src), ec) && !ec) {
    fail("INVALID_ARGUMENT", "the destination is the source file: " + job.dst);
  }
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = job.ftype;
  params.pure = job.pure;
  params.allow_requantize = true;
  params.nthread = job.threads > 0 ? job.threads : (int)std::thread::hardware_concurrency();
  clearThreadLog();
  if (llama_model_quantize(job.src.c_str(), job.dst.c_str(), &params) != 0) {
    std::remove(job.dst.c_str());
    std::string why = lastThreadError();
    fail("IO_ERROR", "quantizing " + job.src + " failed" + (why.empty() ? "" : ": " + why));
  }
}

}  // namespace specdec

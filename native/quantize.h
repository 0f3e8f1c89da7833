// Writing a GGUF model requantized to another weight format (llama.cpp's llama_model_quantize).
#pragma once

#include <string>

#include "llama.h"

namespace specdec {

struct QuantizeJob {
  std::string src;
  std::string dst;
  llama_ftype ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
  bool pure = false;
  int threads = 0;  // 0: every core
};

// The llama_ftype of a format as llama-quantize names it ("Q4_K_M"); INVALID_ARGUMENT if unknown
// (or one that needs an importance matrix).
llama_ftype quantizationType(const std::string& name);

// Checks the source as loadModel does and refuses a destination that is the source; IO_ERROR
// (the destination removed) when llama.cpp fails. Blocks: run it off the main thread.
void quantizeModelFile(const QuantizeJob& job);

}  // namespace specdec

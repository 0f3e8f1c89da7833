// Checks of a GGUF model's metadata that llama.cpp would otherwise make with an assertion (and
// abort the process) or not at all (and divide by zero later): layer and head counts, widths and
// norms' epsilons in range, a vocabulary without two tokens of the same text. Run on the file
// before llama.cpp loads it; a failure is a SpecdecException INVALID_MODEL.
#pragma once

#include <string>

namespace specdec {

void checkModelMetadata(const std::string& path);

}  // namespace specdec

// The patched ggml-cpu's multi-column kernels against llama.cpp's single-column ones (see the .cpp).
#pragma once

#include <string>
#include <vector>

namespace specdec {

// Checks every column kernel this build has, for several column counts; a message per mismatch
// goes to `failures`. Returns how many (kernel, column count) pairs were checked: 0 where the
// build has no column kernels (not x86, or no AVX2).
int checkColumnKernels(std::vector<std::string>& failures);

}  // namespace specdec

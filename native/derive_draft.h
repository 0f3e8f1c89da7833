// Writing a draft model derived from a main model: a subset of its layers (renumbered), the rest
// of the file (vocabulary, embeddings, output head, metadata) unchanged, so the draft shares the
// main model's vocabulary by construction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "llama.h"

namespace specdec {

struct DeriveJob {
  std::string src;
  std::string dst;
  // Either the source layers to keep (ascending, no repeats) or how many, chosen by `spacing`:
  // "even" spreads them over the model (first and last included), "ends" keeps the first
  // keep-1 and the last.
  std::vector<int> layers;
  int keep = 0;
  std::string spacing = "even";
  std::optional<llama_ftype> ftype;  // requantize the derived model (quantize.h) when set
  int threads = 0;
};

struct DeriveResult {
  std::string architecture;
  int sourceLayers = 0;
  std::vector<int> layers;  // the source layers kept
};

// The layers `keep` of `total` picks with `spacing` (INVALID_ARGUMENT when impossible).
std::vector<int> pickLayers(int total, int keep, const std::string& spacing);

// Checks the source as loadModel does, refuses a destination that is the source and layer lists
// that are empty, out of range or not ascending (INVALID_ARGUMENT); writes `dst` through a
// temporary file beside it (IO_ERROR on failure, nothing left behind). Blocks: run it off the
// main thread.
DeriveResult deriveDraftFile(const DeriveJob& job);

}  // namespace specdec

// The verification batch of a speculative round and its KV sequence layout: the one place where
// rows, positions and sequences are given out.
//
//   rows 0 .. pending-1   the text's tokens not yet in the cache: in every sequence
//   then the token tree   (or the subtree of the child kept at the first place) depth first,
//                         first children first. The nodes down to the first leaf are the primary
//                         path, in sequence 0; every other leaf opens a sequence of its own
//                         (1, 2, ... in that order), and a node is in the sequences of the leaves
//                         below it, so each node sees exactly its ancestors.
//   then the lookahead    window (drafters/lookahead.h), its columns in sequences after the
//                         tree's, at positions counted from the text's last token (which then
//                         joins those sequences too).
//
// A batch with no sequence but 0 (a chain, no window) is evaluated the plain way.
#pragma once

#include <cstdint>
#include <vector>

#include "drafters/lookahead.h"
#include "tree.h"

namespace specdec {

struct VerificationBatch {
  std::vector<llama_token> tokens;
  std::vector<int32_t> offsets;     // by row: its position less the first row's
  std::vector<uint64_t> seqs;       // by row: bit s, sequence s
  std::vector<int32_t> rowOf;       // by tree node: its row (-1: not in the batch)
  std::vector<int32_t> windowRows;  // the rows of the window's last level, in the window's order
  size_t pending = 0;               // rows of pending tokens
  size_t primaryRows = 0;           // rows of sequence 0 alone: the pending tokens and the primary path
  int treeBranches = 0;             // sequences of the tree besides 0
  int branches = 0;                 // all sequences besides 0

  // Lays out `pending`, then the subtree of `start` (DraftTree::kRoot: the whole tree; -2: no tree
  // rows), then the window (null: none; its columns take `windowSequences` sequences).
  void build(const std::vector<llama_token>& pending, const DraftTree& tree, int32_t start,
             const std::vector<LookaheadToken>* window, int windowSequences);

  static constexpr int32_t kNoTree = -2;
};

}  // namespace specdec

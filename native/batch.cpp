#include "batch.h"

namespace specdec {

void VerificationBatch::build(const std::vector<llama_token>& pendingTokens, const DraftTree& tree, int32_t start,
                              const std::vector<LookaheadToken>* window, int windowSequences) {
  pending = pendingTokens.size();
  tokens.assign(pendingTokens.begin(), pendingTokens.end());
  offsets.clear();
  for (size_t i = 0; i < pending; i++) offsets.push_back((int32_t)i);
  seqs.assign(pending, 0);  // set below, once the number of sequences is known
  rowOf.assign(tree.size(), -1);
  windowRows.clear();
  treeBranches = 0;

  size_t primaryNodes = 0;
  const std::vector<int32_t> nodes = start == kNoTree ? std::vector<int32_t>() : tree.order(start, &primaryNodes);
  for (int32_t n : nodes) {
    rowOf[n] = (int32_t)tokens.size();
    tokens.push_back(tree.node(n).token);
    offsets.push_back((int32_t)pending + tree.node(n).depth - 1);
    // A leaf's own sequence: 0 for the primary path's (the last of its nodes), else a new one.
    const bool leaf = tree.node(n).firstChild < 0;
    seqs.push_back(!leaf ? 0 : tokens.size() - pending == primaryNodes ? 1ull : 1ull << ++treeBranches);
  }
  // A node is in the sequences of the leaves below it: children come after their parent, so a
  // walk backwards hands each node's sequences to its parent (the subtree's top has none here).
  for (size_t i = nodes.size(); i-- > 0;) {
    const int32_t parent = tree.node(nodes[i]).parent;
    if (parent >= 0 && rowOf[parent] >= 0) seqs[rowOf[parent]] |= seqs[pending + i];
  }
  primaryRows = pending + primaryNodes;
  branches = treeBranches;

  if (window) {
    branches += windowSequences;
    const uint64_t windowSeqs = ((2ull << branches) - 1) & ~((2ull << treeBranches) - 1);
    // The window hangs off the text's last token: the last pending token, or the kept child that
    // starts the batch, which then belongs to the window's sequences too.
    const int32_t anchor = pending > 0 ? (int32_t)pending - 1 : 0;
    if (pending == 0 && !seqs.empty()) seqs[0] |= windowSeqs;
    for (const LookaheadToken& t : *window) {
      if (t.lastLevel) windowRows.push_back((int32_t)tokens.size());
      tokens.push_back(t.token);
      offsets.push_back(anchor + t.offset);
      seqs.push_back(t.seqs << (treeBranches + 1));
    }
  }
  const uint64_t all = (2ull << branches) - 1;
  for (size_t i = 0; i < pending; i++) seqs[i] = all;  // the pending tokens: in every sequence
}

}  // namespace specdec

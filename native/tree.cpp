#include "tree.h"

#include <algorithm>
#include <functional>

namespace specdec {

void DraftTree::clear() {
  nodes_.clear();
  qs_.clear();
  rootFirst_ = -1;
  depth_ = 0;
}

int32_t DraftTree::childWithToken(int32_t parent, llama_token token) const {
  for (int32_t c = firstChild(parent); c >= 0; c = nodes_[c].nextSibling) {
    if (nodes_[c].token == token) return c;
  }
  return -1;
}

size_t DraftTree::leaves() const {
  size_t n = 0;
  for (const DraftNode& node : nodes_) n += node.firstChild < 0;
  return n;
}

void DraftTree::add(const Draft& draft, int source, size_t maxNodes, size_t maxLeaves) {
  int32_t parent = kRoot;
  for (size_t i = 0; i < draft.tokens.size(); i++) {
    int32_t node = childWithToken(parent, draft.tokens[i]);
    if (node < 0) {
      // A new node: a new leaf unless it extends one (a parent without children).
      const bool newLeaf = parent == kRoot ? rootFirst_ >= 0 : nodes_[parent].firstChild >= 0;
      if (nodes_.size() >= maxNodes || (newLeaf && leaves() >= maxLeaves)) return;
      node = (int32_t)nodes_.size();
      nodes_.push_back({draft.tokens[i], parent, parent == kRoot ? 1 : nodes_[parent].depth + 1});
      depth_ = std::max(depth_, nodes_.back().depth);
      // Appended after its siblings: the first proposal at a place stays the first child.
      int32_t* link = parent == kRoot ? &rootFirst_ : &nodes_[parent].firstChild;
      while (*link >= 0) link = &nodes_[*link].nextSibling;
      *link = node;
    }
    nodes_[node].sources |= 1u << source;
    // A token drawn from a distribution keeps it (at most one drafter samples: the draft model).
    if (!draft.q.empty() && nodes_[node].q < 0) {
      nodes_[node].q = (int32_t)qs_.size();
      qs_.push_back(draft.q[i]);
    }
    parent = node;
  }
}

std::vector<int32_t> DraftTree::order(int32_t start, size_t* primary) const {
  std::vector<int32_t> out;
  *primary = 0;
  bool onPrimary = true;  // the walk follows first children until the first leaf
  std::function<void(int32_t)> visit = [&](int32_t node) {
    out.push_back(node);
    if (onPrimary) (*primary)++;
    if (nodes_[node].firstChild < 0) onPrimary = false;
    for (int32_t c = nodes_[node].firstChild; c >= 0; c = nodes_[c].nextSibling) visit(c);
  };
  if (start == kRoot) {
    for (int32_t c = rootFirst_; c >= 0; c = nodes_[c].nextSibling) visit(c);
  } else {
    visit(start);
  }
  return out;
}

}  // namespace specdec

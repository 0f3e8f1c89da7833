// DraftTree: the candidates of one round from every drafter, merged into one token tree: a
// shared prefix is one path, a token proposed twice at the same place is one node. The path that
// follows first children from the root (the primary path) is the first proposal added.
// Verification evaluates the tree in one batch (batch.h), each node seeing only its ancestors.
#pragma once

#include <cstdint>
#include <vector>

#include "drafters/drafter.h"

namespace specdec {

struct DraftNode {
  llama_token token;
  int32_t parent;          // -1: a child of the root (the position after the accepted text)
  int32_t depth;           // 1 for the root's children
  int32_t firstChild = -1;
  int32_t nextSibling = -1;
  int32_t q = -1;          // index into the tree's distributions, for a token drawn from one
  uint32_t sources = 0;    // bit i: drafter i proposed this node
};

class DraftTree {
 public:
  static constexpr int32_t kRoot = -1;

  void clear();
  bool empty() const { return nodes_.empty(); }
  size_t size() const { return nodes_.size(); }
  int32_t depth() const { return depth_; }  // of the deepest node
  const DraftNode& node(int32_t i) const { return nodes_[i]; }
  int32_t firstChild(int32_t i) const { return i == kRoot ? rootFirst_ : nodes_[i].firstChild; }
  const Distribution* q(int32_t i) const { return nodes_[i].q < 0 ? nullptr : &qs_[nodes_[i].q]; }

  // Adds a drafter's proposal (a chain from the root, with its distributions when drawn from
  // them) as long as the tree stays within maxNodes nodes and maxLeaves leaves.
  void add(const Draft& draft, int source, size_t maxNodes, size_t maxLeaves);

  // The subtree of `start` (kRoot: the whole tree below the root; else start and below) in
  // depth-first order, first children first, so that the primary path comes first. *primary: how
  // many of the nodes lie on the primary path (down to the first leaf). batch.h lays them out.
  std::vector<int32_t> order(int32_t start, size_t* primary) const;

 private:
  int32_t childWithToken(int32_t parent, llama_token token) const;
  size_t leaves() const;

  std::vector<DraftNode> nodes_;
  std::vector<Distribution> qs_;
  int32_t rootFirst_ = -1;
  int32_t depth_ = 0;
};

}  // namespace specdec

// Retrieval drafter: guesses that the text goes on as it did in a corpus the user gave (as REST,
// He et al. 2023). It finds the longest ending of the text, minMatch..maxMatch tokens, that
// occurs in the corpus's datastore (a binary search in its suffix array), gathers what followed
// the occurrences (up to maxSamples of them, spread over all) into a tree of continuations with
// their counts, and proposes the most frequent ones: for each of the `candidates` most frequent
// next tokens, the path that follows the most frequent token after it, as far as a quarter of
// the occurrences agree.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../datastore.h"
#include "drafter.h"

namespace specdec {

class RetrievalDrafter : public Drafter {
 public:
  RetrievalDrafter(std::shared_ptr<const Datastore> store, RetrievalOptions options)
      : store_(std::move(store)), options_(options) {}

  void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, const Grammar* grammar,
               std::vector<Draft>& out) override;
  int maxCandidates() const override { return options_.candidates; }

 private:
  struct TrieNode {
    llama_token token;
    int32_t count;
    std::vector<int32_t> children;
  };
  int32_t child(int32_t node, llama_token token);

  std::shared_ptr<const Datastore> store_;
  RetrievalOptions options_;
  std::vector<TrieNode> trie_;  // node 0: the root
};

}  // namespace specdec

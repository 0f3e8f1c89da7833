// Lookup drafter: guesses that the text goes on as it did after the last earlier occurrence of
// its own ending. It keeps, for every n-gram of n = ngramMin..ngramMax tokens of the prompt and
// of everything generated since, where it last occurred; a proposal takes the longest n-gram
// that ends the context and has occurred before, and copies what followed it. Free to run (a
// few hash lookups), so it pays wherever the output quotes or repeats its input: summaries,
// edits, code that reuses names. A generation may bring references (texts it was given, not in
// the prompt): their n-grams are looked up too, where the context has none as long.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "drafter.h"

namespace specdec {

class LookupDrafter : public Drafter {
 public:
  explicit LookupDrafter(LookupOptions options);

  void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, const Grammar* grammar,
               std::vector<Draft>& out) override;
  // The references of the generation that starts (each tokenized; none: no references), indexed
  // now; they stay until the next call.
  void setReferences(std::vector<std::vector<llama_token>> references);

 private:
  // Where a reference's n-gram ends: the reference and the position its continuation starts at.
  struct Place {
    uint32_t reference;
    uint32_t start;
  };
  // Brings the index in line with `context`: indexes what was appended, or starts over when the
  // context no longer begins with what was indexed.
  void sync(const std::vector<llama_token>& context);
  static uint64_t hash(const llama_token* tokens, int32_t n);

  LookupOptions options_;
  std::vector<llama_token> indexed_;  // the context as of the last sync: its n-grams that a token follows are in last_
  // By n - ngramMin: n-gram hash -> where its continuation starts (the latest occurrence).
  std::vector<std::unordered_map<uint64_t, int32_t>> last_;
  std::vector<std::vector<llama_token>> references_;
  // By n - ngramMin: n-gram hash -> its first occurrence in the references with a continuation.
  std::vector<std::unordered_map<uint64_t, Place>> inReferences_;
};

}  // namespace specdec

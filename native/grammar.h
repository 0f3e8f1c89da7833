// A GBNF grammar the output must follow (structured output), over llama.cpp's grammar engine: its
// state is where the text so far has left the grammar; tokens it does not allow get no
// probability. Copies are cheap enough to follow a draft path and throw away.
//
// Threading: a Grammar belongs to one session and is used by its worker only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llama.h"

namespace specdec {

class Grammar {
 public:
  // Throws INVALID_ARGUMENT when the text does not parse as GBNF with a rule named root.
  Grammar(const llama_vocab* vocab, const std::string& gbnf);
  Grammar(const Grammar& other);
  Grammar& operator=(const Grammar&) = delete;

  // Whether `token` may come next (an end-of-generation token: only where the grammar is complete).
  bool allows(llama_token token) const;
  // Sets the logits of the tokens that may not come next to -infinity (all nVocab of them).
  void mask(float* logits, int32_t nVocab) const;
  // Keeps, in order, those of `tokens` that may come next.
  void filter(std::vector<llama_token>& tokens) const;
  // Moves past `token`, which must be allowed and not end the generation.
  void accept(llama_token token);
  // How many of `tokens` in a row, from here, the grammar allows (an end-of-generation token ends
  // them). This state stays as it is.
  size_t allowedPrefix(const std::vector<llama_token>& tokens) const;

 private:
  struct Free {
    void operator()(llama_sampler* s) const { llama_sampler_free(s); }
  };
  const llama_vocab* vocab_;
  std::unique_ptr<llama_sampler, Free> sampler_;
  mutable std::vector<llama_token_data> scratch_;
};

}  // namespace specdec

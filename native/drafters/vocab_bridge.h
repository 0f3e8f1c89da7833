// Translation between the main model's vocabulary and a draft model's other one, through text,
// for a draft model of another tokenizer. The draft model reads the text of the accepted tokens
// in its own tokens; what it drafts is turned back into main-vocabulary tokens. The verifier
// only ever sees main-vocabulary tokens, so output stays exact whatever the translation does.
//
// Tokenizing a piece of text on its own is not the same as tokenizing it after other text (a
// space prefix, merges across the boundary). So text that follows other text is tokenized
// together with an anchor (the text of a few tokens before it) and the anchor's own tokens are
// cut off; when the boundary merges into the anchor, the translation falls back (the draft side)
// or gives no draft (the main side).
#pragma once

#include <string>
#include <vector>

#include "../model.h"

namespace specdec {

class VocabBridge {
 public:
  // Both models must outlive it (the session holds them).
  VocabBridge(const ModelCore& main, const ModelCore& draft) : main_(main), draft_(draft) {}

  // The draft model's tokens for the text of `context` (main-vocabulary tokens). Appended
  // context re-tokenizes only the last few draft tokens' text and what follows.
  const std::vector<llama_token>& toDraft(const std::vector<llama_token>& context);
  // How many tokens of `context` toDraft() has not translated yet (all after a change).
  size_t untranslated(const std::vector<llama_token>& context) const;
  // Main-vocabulary tokens that continue `context` with `text`; empty when the text's start
  // would merge into the context's last token.
  std::vector<llama_token> toMain(const std::vector<llama_token>& context, const std::string& text) const;

 private:
  void rebuild(const std::vector<llama_token>& context);

  const ModelCore& main_;
  const ModelCore& draft_;
  std::vector<llama_token> mainTokens_;  // the context translated
  std::string text_;                     // its text
  std::vector<llama_token> draftTokens_;
  std::vector<size_t> draftEnds_;        // where each draft token's text ends in text_
};

}  // namespace specdec

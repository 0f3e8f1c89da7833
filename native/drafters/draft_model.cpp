#include "draft_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "../clock.h"

namespace specdec {

DraftModelDrafter::DraftModelDrafter(std::shared_ptr<ModelCore> model, const ModelCore& main,
                                     const EvaluatorOptions& evaluator, ggml_threadpool* threadpool,
                                     ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort,
                                     DraftModelOptions options)
    : eval_(std::move(model), evaluator, threadpool, threadpoolBatch, abort), options_(options) {
  if (options_.translate) bridge_ = std::make_unique<VocabBridge>(main, *eval_.model());
}

// softmax(logits)[token], the draft model's confidence in a greedy guess. Logits more than 20
// below the top add less than 2e-9 each and are skipped, so that this costs a scan, not an exp
// per vocabulary entry.
float DraftModelDrafter::topProbability(const float* logits, llama_token token) const {
  const int32_t n = eval_.model()->nVocab();
  const float top = logits[token];
  const float floor = top - 20.0f;
  float sum = 0;
  for (int32_t i = 0; i < n; i++) {
    if (logits[i] > floor) sum += std::exp(logits[i] - top);
  }
  return 1.0f / sum;
}

void DraftModelDrafter::propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler,
                                const Grammar* grammar, std::vector<Draft>& drafts) {
  drafts.resize(1);
  Draft& out = drafts[0];
  out.clear();
  catchUpMs_ = 0;
  if (maxTokens <= 0 || context.empty()) return;
  maxTokens = (int)std::min<size_t>(maxTokens, eval_.contextSize() - std::min<size_t>(context.size(), eval_.contextSize()));
  if (maxTokens <= 0) return;
  if (bridge_) return proposeTranslated(context, maxTokens, out);
  const auto start = std::chrono::steady_clock::now();
  eval_.sync(context);
  catchUpMs_ = msSince(start);
  history_ = context;
  const int32_t nVocab = eval_.model()->nVocab();
  // Along its own path, the draft model's tokens (greedy) and distributions (q, sampling) are
  // those of the tokens the grammar allows, as the main model's are.
  std::optional<Grammar> path;
  if (grammar) path.emplace(*grammar);
  const Grammar* g = path ? &*path : nullptr;
  for (int i = 0; i < maxTokens; i++) {
    const float* logits = eval_.logits(-1);
    const size_t position = context.size() + i;
    llama_token token;
    if (sampler.greedy() || options_.greedyWhenSampling) {
      token = sampler.argmax(logits, nVocab, history_, g);
      if (i > 0 && options_.minConfidence > 0 && topProbability(logits, token) < options_.minConfidence) break;
    } else {
      out.q.emplace_back();
      sampler.distribution(logits, nVocab, history_, out.q.back(), g);
      token = Sampler::draw(out.q.back(), sampler.uniform(position, Stream::Draft));
    }
    out.tokens.push_back(token);
    history_.push_back(token);
    if (eval_.model()->isEog(token) || i + 1 == maxTokens) break;
    if (path) path->accept(token);
    eval_.decode(&token, 1, false);
  }
}

// Greedy in the draft model's vocabulary, without the session's penalties or grammar (they are
// of main-vocabulary tokens: DrafterSet cuts what the grammar does not allow). maxTokens draft
// tokens, translated and cut to maxTokens main tokens. The last may be a word cut short ("pri"
// of "print"); dropping it, or drafting a token more to drop, cost more than its rejections
// (measured: the same main-model steps, 6% more drafting time).
void DraftModelDrafter::proposeTranslated(const std::vector<llama_token>& context, int maxTokens, Draft& out) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<llama_token>& own = bridge_->toDraft(context);
  if (own.empty() || own.size() + maxTokens + 2 > eval_.contextSize()) return;
  eval_.sync(own);
  catchUpMs_ = msSince(start);
  const ModelCore& draft = *eval_.model();
  const int32_t nVocab = draft.nVocab();
  std::string text;
  for (int i = 0; i < maxTokens; i++) {
    const float* logits = eval_.logits(-1);
    llama_token token = (llama_token)(std::max_element(logits, logits + nVocab) - logits);
    if (i > 0 && options_.minConfidence > 0 && topProbability(logits, token) < options_.minConfidence) break;
    if (draft.isEog(token)) break;
    text += draft.piece(token);
    if (i + 1 == maxTokens) break;
    eval_.decode(&token, 1, false);
  }
  out.tokens = bridge_->toMain(context, text);
  if ((int)out.tokens.size() > maxTokens) out.tokens.resize(maxTokens);
}

}  // namespace specdec

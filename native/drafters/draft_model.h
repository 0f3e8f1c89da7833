// Draft model drafter: a smaller model with the same vocabulary (or a quantized copy of the main
// model) guesses the next tokens one at a time, greedily or by sampling with the session's
// sampler chain. Its KV cache follows the accepted text: each proposal first brings it in line
// (drops the rejected tail, evaluates what was accepted since), so nothing is evaluated twice.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "../evaluator.h"
#include "drafter.h"

namespace specdec {

struct DraftModelOptions {
  // Greedy drafting stops once the draft model's probability of its own next token falls below
  // this (0: never; the draft length controller decides). Measured on the shared models, 0.5
  // cut drafts on text the main model is sure of and the draft is not, and was slower.
  float minConfidence = 0.0f;
  // When sampling: draft the draft model's greedy choice (a deterministic draft, kept when the main
  // model's own draw names it) instead of a token drawn from its distribution.
  bool greedyWhenSampling = false;
};

class DraftModelDrafter : public Drafter {
 public:
  DraftModelDrafter(std::shared_ptr<ModelCore> model, const EvaluatorOptions& evaluator, ggml_threadpool* threadpool,
                    ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort, DraftModelOptions options);

  void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, Draft& out) override;
  size_t catchUp(const std::vector<llama_token>& context) const override {
    return context.size() - eval_.commonPrefix(context);
  }
  double lastCatchUpMs() const override { return catchUpMs_; }

 private:
  float topProbability(const float* logits, llama_token token) const;

  Evaluator eval_;
  DraftModelOptions options_;
  std::vector<llama_token> history_;
  double catchUpMs_ = 0;
};

}  // namespace specdec

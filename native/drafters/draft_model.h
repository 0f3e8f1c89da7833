// Draft model drafter: a smaller model with the same vocabulary (or a quantized copy of the main
// model) guesses the next tokens one at a time, greedily or by sampling with the session's
// sampler chain. Its KV cache follows the accepted text: each proposal first brings it in line
// (drops the rejected tail, evaluates what was accepted since), so nothing is evaluated twice.
// A draft model of another vocabulary (DraftModelOptions::translate) reads and drafts through a
// VocabBridge: its guesses, greedy, become deterministic main-vocabulary drafts.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "../evaluator.h"
#include "drafter.h"
#include "vocab_bridge.h"

namespace specdec {

class DraftModelDrafter : public Drafter {
 public:
  // `main`: the main model, read only when translating (it must outlive the drafter).
  DraftModelDrafter(std::shared_ptr<ModelCore> model, const ModelCore& main, const EvaluatorOptions& evaluator,
                    ggml_threadpool* threadpool, ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort,
                    DraftModelOptions options);

  void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, const Grammar* grammar,
               std::vector<Draft>& out) override;
  // How many tokens of `context` it has to evaluate before it can draft.
  size_t catchUp(const std::vector<llama_token>& context) const {
    return bridge_ ? bridge_->untranslated(context) : context.size() - eval_.commonPrefix(context);
  }
  // Of the last propose(), the milliseconds spent catching up with the context (not drafting).
  double lastCatchUpMs() const { return catchUpMs_; }
  const ModelCore& model() const { return *eval_.model(); }

 private:
  float topProbability(const float* logits, llama_token token) const;
  void proposeTranslated(const std::vector<llama_token>& context, int maxTokens, Draft& out);

  Evaluator eval_;
  DraftModelOptions options_;
  std::vector<llama_token> history_;
  double catchUpMs_ = 0;
  std::unique_ptr<VocabBridge> bridge_;  // set when translating
};

}  // namespace specdec

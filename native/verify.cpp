#include "verify.h"

#include <algorithm>

namespace specdec {

Choice Verifier::choose(const float* logits, const std::vector<llama_token>& history, size_t position,
                        const std::vector<llama_token>& candidates, int32_t sampled, const Distribution* q,
                        const Grammar* grammar) {
  auto keep = [&](llama_token x) -> Choice {
    for (size_t i = 0; i < candidates.size(); i++) {
      if (candidates[i] == x) return {(int32_t)i, x};
    }
    return {-1, x};
  };
  if (sampler_.greedy()) return keep(sampler_.argmax(logits, nVocab_, history, grammar));
  sampler_.distribution(logits, nVocab_, history, p_, grammar);
  if (sampled < 0) return keep(Sampler::draw(p_, sampler_.uniform(position, Stream::Target)));
  const llama_token d = candidates[sampled];
  const float pd = p_.probOf(d);
  const float qd = q->probOf(d);
  if (qd > 0 && sampler_.uniform(position, Stream::Accept) < std::min(1.0, (double)pd / qd)) return {sampled, d};

  // Rejected: draw from the residual norm(max(0, p - q)), which lives on p's support.
  qDense_.assign(nVocab_, 0.0f);
  for (size_t i = 0; i < q->tokens.size(); i++) qDense_[q->tokens[i]] = q->probs[i];
  residual_.tokens.clear();
  residual_.probs.clear();
  double total = 0;
  for (size_t i = 0; i < p_.tokens.size(); i++) {
    float r = p_.probs[i] - qDense_[p_.tokens[i]];
    if (r > 0) {
      residual_.tokens.push_back(p_.tokens[i]);
      residual_.probs.push_back(r);
      total += r;
    }
  }
  const double u = sampler_.uniform(position, Stream::Residual);
  if (total <= 0) return keep(Sampler::draw(p_, u));  // only by rounding: p == q
  for (float& r : residual_.probs) r = (float)(r / total);
  return keep(Sampler::draw(residual_, u));
}

}  // namespace specdec

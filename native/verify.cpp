#include "verify.h"

#include <algorithm>

namespace specdec {

Verdict Verifier::check(const float* logits, const std::vector<llama_token>& history, size_t position,
                        llama_token draft, const Distribution* q) {
  if (acceptAll_) return {true, draft};
  if (sampler_.greedy()) {
    llama_token best = sampler_.argmax(logits, nVocab_, history);
    return {best == draft, best};
  }
  sampler_.distribution(logits, nVocab_, history, p_);
  if (!q) {
    llama_token x = Sampler::draw(p_, sampler_.uniform(position, Stream::Target));
    return {x == draft, x};
  }
  const float pd = p_.probOf(draft);
  const float qd = q->probOf(draft);
  if (qd > 0 && sampler_.uniform(position, Stream::Accept) < std::min(1.0, (double)pd / qd)) return {true, draft};

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
  if (total <= 0) return {false, Sampler::draw(p_, u)};  // only by rounding: p == q
  for (float& r : residual_.probs) r = (float)(r / total);
  return {false, Sampler::draw(residual_, u)};
}

}  // namespace specdec

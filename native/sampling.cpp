#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "errors.h"

namespace specdec {

float Distribution::probOf(llama_token t) const {
  for (size_t i = 0; i < tokens.size(); i++) {
    if (tokens[i] == t) return probs[i];
  }
  return 0.0f;
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {}

namespace {
constexpr const char* kNothingAllowed = "the grammar allows no token here (no token's text can go on with it)";

// The k largest of l (ids 0..nVocab-1) into `out`, largest first, ties by lower id. One pass with a
// heap of the k best so far (its front is the worst of them): most tokens fail the first
// comparison, so this costs little more than reading the logits.
void largest(const float* l, int32_t nVocab, size_t k, std::vector<llama_token>& out) {
  auto better = [l](llama_token a, llama_token b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
  out.clear();
  if (k >= (size_t)nVocab) {
    out.resize(nVocab);
    std::iota(out.begin(), out.end(), 0);
  } else {
    for (llama_token t = 0; t < nVocab; t++) {
      if (out.size() < k) {
        out.push_back(t);
        std::push_heap(out.begin(), out.end(), better);
      } else if (better(t, out.front())) {
        std::pop_heap(out.begin(), out.end(), better);
        out.back() = t;
        std::push_heap(out.begin(), out.end(), better);
      }
    }
  }
  std::sort(out.begin(), out.end(), better);
}
}  // namespace

float logProbabilities(const float* logits, int32_t nVocab, llama_token token, int k, std::vector<llama_token>& tops,
                       std::vector<float>& topLogprobs) {
  const float max = *std::max_element(logits, logits + nVocab);
  double sum = 0;
  for (int32_t t = 0; t < nVocab; t++) sum += std::exp((double)(logits[t] - max));
  const float logZ = max + (float)std::log(sum);
  if (k > 0) {
    std::vector<llama_token> best;
    largest(logits, nVocab, (size_t)k, best);
    for (llama_token t : best) {
      tops.push_back(t);
      topLogprobs.push_back(logits[t] - logZ);
    }
  }
  return logits[token] - logZ;
}

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

double Sampler::uniform(size_t position, Stream stream) const {
  uint64_t h = splitmix64(splitmix64(splitmix64(params_.seed) ^ position) ^ (uint64_t)stream);
  return (double)(h >> 11) * 0x1.0p-53;
}

// Applies repeat / frequency / presence penalties (llama.cpp's definitions) to a copy of the
// logits, or returns the logits untouched when no penalty is active.
const float* Sampler::penalized(const float* logits, int32_t nVocab, const std::vector<llama_token>& history) {
  if (!params_.penalties() || history.empty()) return logits;
  scratch_.assign(logits, logits + nVocab);
  size_t n = params_.repeatLastN < 0 ? history.size() : std::min<size_t>(history.size(), params_.repeatLastN);
  counts_.resize(nVocab, 0);
  for (size_t i = history.size() - n; i < history.size(); i++) {
    llama_token t = history[i];
    if (t >= 0 && t < nVocab) counts_[t]++;
  }
  for (size_t i = history.size() - n; i < history.size(); i++) {
    llama_token t = history[i];
    if (t < 0 || t >= nVocab || counts_[t] == 0) continue;
    float& l = scratch_[t];
    l = l <= 0 ? l * params_.repeatPenalty : l / params_.repeatPenalty;
    l -= (float)counts_[t] * params_.frequencyPenalty + params_.presencePenalty;
    counts_[t] = 0;  // each distinct token once
  }
  return scratch_.data();
}

const float* Sampler::constrained(const float* logits, int32_t nVocab, const Grammar& grammar) {
  if (logits != scratch_.data()) scratch_.assign(logits, logits + nVocab);
  grammar.mask(scratch_.data(), nVocab);
  if (!std::any_of(scratch_.begin(), scratch_.begin() + nVocab, [](float l) { return std::isfinite(l); })) {
    fail("INVALID_ARGUMENT", kNothingAllowed);
  }
  return scratch_.data();
}

void Sampler::bestAllowed(const float* l, int32_t nVocab, const Grammar& grammar, size_t want,
                          std::vector<llama_token>& out) {
  // The best few hundred first, with one grammar check for all of them; the whole vocabulary only
  // when too few of them are allowed.
  for (size_t considered : {std::max<size_t>(256, 4 * want), (size_t)nVocab}) {
    largest(l, nVocab, considered, candidates_);
    grammar.filter(candidates_);
    if (candidates_.size() >= want || considered >= (size_t)nVocab) break;
  }
  if (candidates_.empty()) fail("INVALID_ARGUMENT", kNothingAllowed);
  candidates_.resize(std::min(candidates_.size(), want));
  out.swap(candidates_);
}

llama_token Sampler::argmax(const float* logits, int32_t nVocab, const std::vector<llama_token>& history,
                            const Grammar* grammar) {
  const float* l = penalized(logits, nVocab, history);
  llama_token best = (llama_token)(std::max_element(l, l + nVocab) - l);  // first maximum, as llama.cpp's greedy
  // The first maximum, when the grammar allows it, is the first maximum of the allowed tokens too.
  if (!grammar || grammar->allows(best)) return best;
  bestAllowed(l, nVocab, *grammar, 1, order_);
  return order_[0];
}

llama_token Sampler::sample(const float* logits, int32_t nVocab, const std::vector<llama_token>& history,
                            size_t position, const Grammar* grammar) {
  if (params_.greedy()) return argmax(logits, nVocab, history, grammar);
  Distribution dist;
  distribution(logits, nVocab, history, dist, grammar);
  return draw(dist, uniform(position, Stream::Target));
}

void Sampler::distribution(const float* logits, int32_t nVocab, const std::vector<llama_token>& history,
                           Distribution& out, const Grammar* grammar) {
  out.tokens.clear();
  out.probs.clear();
  if (params_.greedy()) {
    out.tokens.push_back(argmax(logits, nVocab, history, grammar));
    out.probs.push_back(1.0f);
    return;
  }
  const float* l = penalized(logits, nVocab, history);
  if (nVocab <= 0) return;
  size_t k = params_.topK > 0 ? std::min<size_t>(params_.topK, nVocab) : nVocab;
  // Under a grammar, top-k is the k best tokens it allows (found among the best few hundred);
  // without top-k every logit it does not allow is masked.
  const bool allowedTopK = grammar && k < (size_t)nVocab;
  if (grammar && !allowedTopK) l = constrained(l, nVocab, *grammar);
  // top-k: the k largest logits, sorted descending (ties by lower id, so results are stable).
  if (allowedTopK) {
    bestAllowed(l, nVocab, *grammar, k, order_);
  } else {
    largest(l, nVocab, k, order_);
  }

  // Probabilities at temperature 1 for top-p and min-p.
  const float maxLogit = l[order_[0]];
  std::vector<float>& p = out.probs;
  p.resize(order_.size());
  double sum = 0;
  for (size_t i = 0; i < order_.size(); i++) sum += (p[i] = std::exp(l[order_[i]] - maxLogit));
  size_t keep = order_.size();
  while (keep > 1 && !std::isfinite(l[order_[keep - 1]])) keep--;  // what the grammar does not allow
  if (params_.topP < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < keep; i++) {
      cum += p[i] / sum;
      if (cum >= params_.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.minP > 0.0f) {
    const float threshold = params_.minP * p[0];  // p[0] is the max, unnormalised
    size_t i = 1;
    while (i < keep && p[i] >= threshold) i++;
    keep = i;
  }
  // Temperature over the kept candidates.
  out.tokens.assign(order_.begin(), order_.begin() + keep);
  p.resize(keep);
  double total = 0;
  for (size_t i = 0; i < keep; i++) total += (p[i] = std::exp((l[out.tokens[i]] - maxLogit) / params_.temperature));
  for (float& v : p) v = (float)(v / total);
}

llama_token Sampler::draw(const Distribution& dist, double u) {
  double cum = 0;
  for (size_t i = 0; i < dist.tokens.size(); i++) {
    cum += dist.probs[i];
    if (u < cum) return dist.tokens[i];
  }
  return dist.tokens.back();
}

}  // namespace specdec

// Draft length controller: picks how many tokens to draft in each round (0: decode plainly) from
// what it measures, as the k with the most tokens per millisecond:
// - tokens: a round of k yields each draft with the chance that it and all before it are kept;
//   the acceptance at every draft position is measured (and shared by all lengths: a round of 4
//   tells about positions 1 and 2 too);
// - milliseconds: a round's time is measured whole (drafting, the main model's batch at its
//   depth, verification and sampling, the draft model's cold caches after a main-model batch,
//   rounds whose first draft is rejected before any batch; not the session's first drafting
//   round, colder than any after it) and fitted with a line a + b * k over the lengths tried, the
//   slope held towards the prior's shape when the lengths tried are close;
// - plain decoding's rate is measured directly; until it is, the main model's measured single
//   step stands in for it (setPlainEstimate).
// Everything fades with age, so it follows the text as acceptance changes. Rounds go in segments
// of a few with one length, and every few segments one is a try of a length next to the best
// (so that the line stays measured) or, while drafting is not far ahead or plain decoding was
// never measured, of plain decoding. From plain decoding, a try of drafting is one round, as is
// the first timed drafting round: it tells what a round costs. Where that cost leaves drafting ahead at
// the prior's acceptance, the try goes on for a segment (whether one round's drafts are kept is
// luck); each try that finds drafting slower doubles the wait for the next.
// The first drafts use the longest length, if the prior says drafting pays at all: the chance of
// a draft being kept at each position as measured for the pair in earlier generations
// (setPriorAcceptance), or else controller.cpp's kPriorAcceptance; the cost of a main-model decode
// of n tokens and of a draft step as this model's CostCurve has measured them, or else as
// measured on a 2-core x86 CPU with a draft step costing half the draft/main size ratio of a main
// step. Before its first draft in a generation the drafter has to evaluate the prompt: that is
// paid once, whatever the lengths, and drafting starts only if what it could save over the tokens
// left (at the prior's rate, against plain decoding measured first) outweighs it.
#pragma once

#include <cstddef>
#include <vector>

namespace specdec {

// What a round costs before anything is measured, in single main-model steps.
struct CostPrior {
  std::vector<double> ratio;  // V(n) / V(1) of the main model, n = 0..maxTokens + 1 (CostCurve::ratios)
  double draftStep = 0;       // one draft-model step (0: no draft model)
  double draftRound = 0;      // a round's fixed draft-model cost: its catch-up and its first step on cold caches
  double paramRatio = 0;      // draft / main parameters: the price of the draft model's prompt evaluation
};

class DraftController {
 public:
  DraftController(int maxTokens, bool adaptive, const CostPrior& prior);

  // Tokens to draft in the next round (0: decode plainly). catchUp: tokens of the prompt (and
  // of text decoded plainly since) that the drafter has yet to evaluate before its first draft;
  // remaining: tokens left to generate at most.
  int next(size_t catchUp, size_t remaining);
  // The chance of a draft being kept at each position (given the ones before) measured for this
  // pair in earlier generations (AcceptanceRecord::acceptance); empty: not measured (the fixed
  // prior). What this session measured is held towards it, and it decides whether drafting pays
  // before anything is measured.
  void setPriorAcceptance(const std::vector<double>& measured);
  // A generation starts: where plain decoding had won, drafting is tried in its first round
  // rather than after the backed-off wait (a new text, or references, may make it pay).
  void startGeneration();
  // The main model evaluated `tokens` prompt tokens in ms.
  void recordPrefill(size_t tokens, double ms);
  // What a plain step is expected to take (the main model's cost curve), in ms (0: unknown): it
  // stands in for plain decoding's rate until that is measured.
  void setPlainEstimate(double ms) { plainEstimateMs_ = ms; }
  // Of a draft of k tokens, how many the main model is expected to keep (measured acceptance by
  // position, held towards the prior).
  double expectedKept(int k) const;
  // The chance that a draft's token at `position` (< maxTokens) is kept, given the ones before.
  double acceptance(int position) const;
  // Nodes a token tree of depth k may have: the chain's k, and as many more as fit in a quarter
  // of a round's measured time at the fitted cost per drafted token (no limit before anything is
  // measured, or when not adaptive).
  size_t nodeBudget(int k) const;
  // The round just run took ms, drafting k (as next() said, or fewer near the end of the output
  // or the context); the main model evaluated and kept `tokens` (a token output but still pending
  // is the next round's); `checked` drafts were verified, the first `accepted` of them kept.
  // `evaluated`: the main model evaluated a batch; a round whose first draft was rejected against
  // the logits at hand ran none, and its acceptance counts but not its time.
  void recordRound(int k, int tokens, double ms, int checked, int accepted, bool evaluated = true);
  // Of drafts verified in a round that is not this controller's (another drafter's tokens beside
  // them), `checked` were verified and the first `accepted` kept: acceptance only, no time.
  void recordAcceptance(int checked, int accepted);
  // Rounds so far in which drafting was chosen but the drafter's evaluation of the prompt first
  // was not expected to pay.
  int promptRefusals() const { return promptRefusals_; }

 private:
  // Whether the drafter's evaluation of catchUp prompt tokens, priced from the main model's
  // prompt time by the parameter ratio, is outweighed by the prior's saving over the `remaining`
  // tokens at the measured rate (false while nothing is measured).
  bool catchUpPays(size_t catchUp, size_t remaining) const;
  void countAcceptance(int checked, int accepted);
  int bestDraftLength() const;
  // Whether plain decoding is expected to be at least as fast as drafting `drafting` (before
  // anything is measured: the prior's verdict).
  bool plainBest(int drafting) const;
  // Tokens per ms (0: nothing measured to tell); atLeastPrior: with no position's acceptance
  // below the prior's.
  double rate(int k, bool atLeastPrior = false) const;
  double expectedTokens(int k, bool atLeastPrior = false) const;
  double roundMs(int k) const;
  double slope() const;  // fitted ms per drafted token
  double priorCost(double k) const;  // roundCost_ between whole lengths

  int maxTokens_;
  bool adaptive_;
  bool draftingPays_;         // the prior's verdict
  double startSaving_ = 0;    // the share of decoding time the prior expects drafting to save
  double priorChord_;         // the prior's cost per drafted token from 1 to maxTokens, in plain steps
  std::vector<double> roundCost_;        // the prior's cost of a round drafting k, in plain steps
  std::vector<double> priorAcceptance_;  // by position
  double priorWeight_ = 0;               // rounds' worth of it in a position's acceptance
  double paramRatio_;
  double prefillMsPerToken_ = 0;  // the main model's; 0 = not measured
  double plainEstimateMs_ = 0;
  // Faded sums: plain decoding's tokens and ms; drafting rounds' weight, k, k^2, ms and k * ms;
  // acceptance by draft position.
  double plainTokens_ = 0, plainMs_ = 0;
  double w_ = 0, sk_ = 0, skk_ = 0, sy_ = 0, sky_ = 0;
  std::vector<double> checked_, accepted_;
  bool draftedBefore_ = false;  // a drafting round has been recorded
  int segmentK_ = 0;
  int promptRefusals_ = 0;
  int segmentRounds_ = 0;  // of the segment under way, at length segmentK_
  int segmentLength_ = 0;  // rounds the segment under way is to have
  bool trialPending_ = false;  // the segment under way is a try of drafting
  bool trialExtended_ = false;  // ... that went on after its first round
  int failedTrials_ = 0;       // tries in a row that found drafting slower than plain decoding
  int segmentsSinceTry_ = 0;
  int tryTurn_ = 0;  // which try is next: odd: plain decoding (if drafting's lead is small); 0: shorter; 2: longer
};

}  // namespace specdec

#include "place_record.h"

#include <algorithm>

namespace specdec {

namespace {
constexpr double kFade = 0.95;  // per observation of a place
constexpr double kPrior = 0.7, kPriorWeight = 2;
// A draft token costs about a tenth of a main-model step in the batch (the cost curve's slope) and
// is worth its chance of being kept, measured against a round's rate of about two tokens per step.
constexpr double kMinPathChance = 0.2;
constexpr double kMinFirstShare = 0.2, kMinFirstOffers = 10;
}  // namespace

void PlaceRecord::record(size_t place, bool kept) {
  if (offered_.size() <= place) {
    offered_.resize(place + 1, 0.0);
    kept_.resize(place + 1, 0.0);
  }
  offered_[place] = offered_[place] * kFade + 1;
  kept_[place] = kept_[place] * kFade + (kept ? 1 : 0);
}

double PlaceRecord::chance(size_t place) const {
  const double offered = place < offered_.size() ? offered_[place] : 0, kept = place < kept_.size() ? kept_[place] : 0;
  return (kept + kPriorWeight * kPrior) / (offered + kPriorWeight);
}

double PlaceRecord::expectedKept(size_t length) const {
  double kept = 0, chance = 1;
  for (size_t i = 0; i < length; i++) kept += (chance *= this->chance(i));
  return kept;
}

size_t PlaceRecord::likelyLength(size_t length, double alone) const {
  const size_t likely = likelyLengthFrom(length, 0, alone * chance(0));
  return alone < 1 ? likely : std::max(likely, std::min<size_t>(length, 1));  // a lone first token goes
}

size_t PlaceRecord::likelyLengthFrom(size_t length, size_t from, double chanceAtFrom) const {
  double chance = chanceAtFrom;
  for (size_t i = from; i < length; i++) {
    if (i > from) chance *= this->chance(i);
    if (chance < kMinPathChance) return i;
  }
  return length;
}

bool PlaceRecord::poorFirstPlace() const {
  return !offered_.empty() && offered_[0] >= kMinFirstOffers && kept_[0] < kMinFirstShare * offered_[0];
}

}  // namespace specdec

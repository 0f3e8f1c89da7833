// AcceptanceRecord: how often a draft model's tokens were kept by this main model, by draft
// position (given the ones before), learnt from every session of the model, per draft model,
// setting (alone, or beside free drafters) and decoding (greedy or sampling); faded per round, so
// it follows the last few generations. A new session's or generation's draft-length controller
// starts from it instead of a fixed prior: the pair at hand, not the one the prior was measured on.
//
// Threading: sessions of the model on their workers; all methods lock.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace specdec {

class AcceptanceRecord {
 public:
  struct Key {
    uint64_t draftModel;  // ModelCore::id()
    bool besideFree;      // the draft model drafts where free drafters fall short
    bool sampling;
    bool operator<(const Key& o) const {
      return std::tie(draftModel, besideFree, sampling) < std::tie(o.draftModel, o.besideFree, o.sampling);
    }
  };

  // A round verified `checked` draft positions and kept the first `accepted`.
  void record(const Key& key, int checked, int accepted);
  // The chance of a draft being kept at positions 0..positions-1, given the ones before: measured
  // where enough rounds reached the position, else the deepest measured position's (deeper
  // positions are kept at least as often where a draft model is kept at all); empty when not even
  // the first is measured.
  std::vector<double> acceptance(const Key& key, int positions) const;

 private:
  struct Positions {
    std::vector<double> checked, accepted;  // faded counts by position
  };
  mutable std::mutex mutex_;
  std::map<Key, Positions> records_;
};

}  // namespace specdec

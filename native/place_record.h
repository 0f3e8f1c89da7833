// A free drafter's record by place in the token tree (faded): how often a place it offered a token
// at was verified (its parent kept), and how often the main model kept its token there. From it,
// the chance that a token of its proposal is kept, and how far a proposal is worth verifying.
#pragma once

#include <cstddef>
#include <vector>

namespace specdec {

class PlaceRecord {
 public:
  void record(size_t place, bool kept);
  // The chance that the main model keeps the drafter's token at `place`, given that it kept the
  // ones before: its share there, held towards a prior by a couple of places' worth.
  double chance(size_t place) const;
  // How much of a proposal of `length` tokens is worth verifying: as far as the chance of being
  // kept all the way stays above a floor. `alone`: the chance that its first token matters at all
  // (none of the tokens proposed beside it is kept); a lone first token always goes.
  size_t likelyLength(size_t length, double alone) const;
  // The same for a proposal whose tokens before `from` cost nothing (another drafter's path has
  // them) and whose token at `from` is kept with chance `chanceAtFrom`, counted from the round's
  // start: its length, or `from` when not even that token is worth verifying.
  size_t likelyLengthFrom(size_t length, size_t from, double chanceAtFrom) const;
  // Of a proposal of `length` tokens, how many the main model is expected to keep.
  double expectedKept(size_t length) const;
  // The first place is seldom kept (measured enough to tell): the drafter should sit out a while.
  bool poorFirstPlace() const;

 private:
  std::vector<double> offered_, kept_;
};

}  // namespace specdec

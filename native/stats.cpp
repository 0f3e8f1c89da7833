#include "stats.h"

#include "tree.h"

namespace specdec {

namespace {
void addTo(int32_t& to, int32_t from) { to += from; }
void addTo(double& to, double from) { to += from; }
void addTo(std::vector<int32_t>& to, const std::vector<int32_t>& from) {
  if (to.size() < from.size()) to.resize(from.size(), 0);
  for (size_t i = 0; i < from.size(); i++) to[i] += from[i];
}
void countAt(std::vector<int32_t>& at, size_t place) {
  if (at.size() <= place) at.resize(place + 1, 0);
  at[place]++;
}
}  // namespace

void GenerationStats::add(const GenerationStats& g) {
  eachFigure([&](const char*, auto figure) { addTo(this->*figure, g.*figure); });
  if (drafters.size() < g.drafters.size()) drafters.resize(g.drafters.size());
  for (size_t i = 0; i < g.drafters.size(); i++) {
    drafters[i].name = g.drafters[i].name;
    Drafter::eachFigure([&](const char*, auto figure) { addTo(drafters[i].*figure, g.drafters[i].*figure); });
  }
  stopReason = g.stopReason;
}

void GenerationStats::countPlace(size_t place, bool kept) {
  countAt(draftedAt, place);
  drafted++;
  if (draftedAt.size() > acceptedAt.size()) acceptedAt.resize(draftedAt.size(), 0);
  if (kept) {
    acceptedAt[place]++;
    accepted++;
  }
}

void GenerationStats::countProposed(const DraftTree& tree) {
  for (size_t n = 0; n < tree.size(); n++) {
    const DraftNode& node = tree.node((int32_t)n);
    for (size_t i = 0; i < drafters.size(); i++) {
      if (!((node.sources >> i) & 1u)) continue;
      drafters[i].proposed++;
      countAt(drafters[i].proposedAt, node.depth - 1);
    }
  }
}

void GenerationStats::countKept(const DraftNode& node) {
  for (size_t i = 0; i < drafters.size(); i++) {
    if (!((node.sources >> i) & 1u)) continue;
    drafters[i].accepted++;
    countAt(drafters[i].acceptedAt, node.depth - 1);
  }
}

}  // namespace specdec

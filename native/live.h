// How many objects of a kind are alive (LiveCount<ModelCore>::count()): the dispose tests read it
// to prove that disposing frees the native objects, not only the JS handles.
#pragma once

#include <atomic>

namespace specdec {

template <typename Tag>
class LiveCount {
 public:
  LiveCount() { count()++; }
  LiveCount(const LiveCount&) { count()++; }
  LiveCount& operator=(const LiveCount&) { return *this; }
  ~LiveCount() { count()--; }
  static std::atomic<int>& count() {
    static std::atomic<int> n{0};
    return n;
  }
};

}  // namespace specdec

#include "text.h"

#include <algorithm>

namespace specdec {

size_t incompleteUtf8Tail(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; back++) {
    unsigned char c = (unsigned char)s[n - back];
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

TextStream::TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
}

bool TextStream::push(const std::string& piece) {
  pending_ += piece;
  size_t first = std::string::npos;
  for (const auto& stop : stops_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    ready_.append(pending_, 0, first);
    pending_.clear();
    return true;
  }
  size_t hold = std::max(heldForStops(), incompleteUtf8Tail(pending_));
  size_t release = pending_.size() - hold;
  ready_.append(pending_, 0, release);
  pending_.erase(0, release);
  return false;
}

// The longest suffix of pending_ that is a proper prefix of some stop sequence.
size_t TextStream::heldForStops() const {
  size_t best = 0;
  for (const auto& stop : stops_) {
    size_t maxLen = std::min(stop.size() - 1, pending_.size());
    for (size_t len = maxLen; len > best; len--) {
      if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
        best = len;
        break;
      }
    }
  }
  return best;
}

std::string TextStream::take() {
  std::string out;
  out.swap(ready_);
  return out;
}

void TextStream::flush() {
  ready_ += pending_;
  pending_.clear();
}

}  // namespace specdec

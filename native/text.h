// TextStream: turns generated token pieces into text that is safe to hand to JavaScript: only
// complete UTF-8 sequences, and never the beginning of what may turn out to be a stop sequence.
// When a stop sequence completes, the text before it is released and the rest dropped.
#pragma once

#include <string>
#include <vector>

namespace specdec {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops = {});
  // Appends one token's bytes. Returns true when a stop sequence has just completed.
  bool push(const std::string& piece);
  // The text released since the last take().
  std::string take();
  // Releases everything still held (end of generation without a stop match).
  void flush();

 private:
  size_t heldForStops() const;

  std::vector<std::string> stops_;
  std::string pending_;
  std::string ready_;
};

// Number of bytes at the end of s that begin a UTF-8 sequence not yet complete.
size_t incompleteUtf8Tail(const std::string& s);

}  // namespace specdec

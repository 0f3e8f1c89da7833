// Datastore: a corpus tokenized with the main model's tokenizer, and the suffix array of its
// tokens, in one file that is memory-mapped for use. The retrieval drafter finds the longest
// ending of the text that occurs in the corpus (a binary search in the suffix array) and proposes
// what followed it there.
//
// File layout (little-endian): DatastoreHeader, then nTokens int32 token ids (documents one after
// another, each followed by the separator id nVocab, which no text contains), then nTokens uint32
// suffix array entries (suffixes in lexicographic order, a suffix before any longer one it
// begins).
//
// Threading and lifetime: a Datastore is read-only once opened and shared (shared_ptr) by the
// sessions that use it; a DatastoreBuilder belongs to one build, used by one worker at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llama.h"
#include "model.h"

namespace specdec {

struct DatastoreHeader {
  char magic[8];
  uint32_t version;
  uint32_t nVocab;
  uint64_t vocabFingerprint;   // ModelCore::vocabFingerprint() of the tokenizer used
  uint64_t corpusFingerprint;  // given by the builder's caller: what the corpus was made of
  uint64_t nTokens;            // separators included
  uint64_t nDocuments;
};

class DatastoreBuilder {
 public:
  explicit DatastoreBuilder(std::shared_ptr<ModelCore> model) : model_(std::move(model)) {}
  // Adds one document. addFile throws IO_ERROR when the file cannot be read.
  void addText(const std::string& text);
  void addFile(const std::string& path);
  uint64_t tokens() const { return tokens_.size(); }
  // Builds the suffix array and writes the file (to a temporary name, then renamed into place).
  // Throws INVALID_ARGUMENT for an empty corpus, IO_ERROR when it cannot write.
  void write(const std::string& path, uint64_t corpusFingerprint);

 private:
  std::shared_ptr<ModelCore> model_;
  std::vector<int32_t> tokens_;
  uint64_t documents_ = 0;
};

class Datastore {
 public:
  // Reads just the header. Throws IO_ERROR (cannot read) or INVALID_DATASTORE (not one, another
  // version, or sizes that do not match the file).
  static DatastoreHeader readHeader(const std::string& path);
  // Reads and checks the file (or shares the copy another session of this process read of the
  // same, unchanged file); throws as readHeader, and VOCAB_MISMATCH unless it was built with
  // `model`'s tokenizer.
  static std::shared_ptr<Datastore> open(const std::string& path, const ModelCore& model);
  Datastore(const Datastore&) = delete;
  Datastore& operator=(const Datastore&) = delete;

  uint64_t size() const { return header_.nTokens; }
  const int32_t* tokens() const { return tokens_; }
  const uint32_t* suffixes() const { return suffixes_; }
  int32_t separator() const { return (int32_t)header_.nVocab; }
  // The suffix-array range [first, last) of the suffixes that begin with pattern[0..n).
  std::pair<uint64_t, uint64_t> find(const llama_token* pattern, size_t n) const;

 private:
  Datastore() = default;

  DatastoreHeader header_{};
  std::vector<char> data_;  // the whole file
  const int32_t* tokens_ = nullptr;
  const uint32_t* suffixes_ = nullptr;
};

// The suffix array of s (values in [0, upper]) by induced sorting (SA-IS), in linear time.
std::vector<uint32_t> suffixArray(const std::vector<int32_t>& s, int32_t upper);

}  // namespace specdec

#include "datastore.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "errors.h"

namespace specdec {

namespace {

constexpr char kMagic[8] = {'S', 'P', 'D', 'C', 'S', 'T', 'O', 'R'};
constexpr uint32_t kVersion = 1;

// SA-IS (Nong, Zhang and Chan 2009), after the AtCoder Library's formulation.
std::vector<int32_t> saIs(const std::vector<int32_t>& s, int32_t upper) {
  const int32_t n = (int32_t)s.size();
  if (n == 0) return {};
  if (n == 1) return {0};
  if (n == 2) return s[0] < s[1] ? std::vector<int32_t>{0, 1} : std::vector<int32_t>{1, 0};
  std::vector<int32_t> sa(n);
  std::vector<bool> ls(n);  // true: an S-type position (its suffix is smaller than the next one)
  for (int32_t i = n - 2; i >= 0; i--) ls[i] = s[i] == s[i + 1] ? ls[i + 1] : s[i] < s[i + 1];
  std::vector<int32_t> sumL(upper + 1), sumS(upper + 1);
  for (int32_t i = 0; i < n; i++) {
    if (!ls[i]) {
      sumS[s[i]]++;
    } else {
      sumL[s[i] + 1]++;
    }
  }
  for (int32_t i = 0; i <= upper; i++) {
    sumS[i] += sumL[i];
    if (i < upper) sumL[i + 1] += sumS[i];
  }
  std::vector<int32_t> buf(upper + 1);
  auto induce = [&](const std::vector<int32_t>& lms) {
    std::fill(sa.begin(), sa.end(), -1);
    std::copy(sumS.begin(), sumS.end(), buf.begin());
    for (int32_t d : lms) {
      if (d != n) sa[buf[s[d]]++] = d;
    }
    std::copy(sumL.begin(), sumL.end(), buf.begin());
    sa[buf[s[n - 1]]++] = n - 1;
    for (int32_t i = 0; i < n; i++) {
      const int32_t v = sa[i];
      if (v >= 1 && !ls[v - 1]) sa[buf[s[v - 1]]++] = v - 1;
    }
    std::copy(sumL.begin(), sumL.end(), buf.begin());
    for (int32_t i = n - 1; i >= 0; i--) {
      const int32_t v = sa[i];
      if (v >= 1 && ls[v - 1]) sa[--buf[s[v - 1] + 1]] = v - 1;
    }
  };
  std::vector<int32_t> lmsMap(n + 1, -1);
  std::vector<int32_t> lms;
  for (int32_t i = 1; i < n; i++) {
    if (!ls[i - 1] && ls[i]) {
      lmsMap[i] = (int32_t)lms.size();
      lms.push_back(i);
    }
  }
  const int32_t m = (int32_t)lms.size();
  induce(lms);
  if (m) {
    std::vector<int32_t> sortedLms;
    sortedLms.reserve(m);
    for (int32_t v : sa) {
      if (lmsMap[v] != -1) sortedLms.push_back(v);
    }
    std::vector<int32_t> recS(m);
    int32_t recUpper = 0;
    recS[lmsMap[sortedLms[0]]] = 0;
    for (int32_t i = 1; i < m; i++) {
      int32_t l = sortedLms[i - 1], r = sortedLms[i];
      const int32_t endL = lmsMap[l] + 1 < m ? lms[lmsMap[l] + 1] : n;
      const int32_t endR = lmsMap[r] + 1 < m ? lms[lmsMap[r] + 1] : n;
      bool same = true;
      if (endL - l != endR - r) {
        same = false;
      } else {
        while (l < endL && s[l] == s[r]) {
          l++;
          r++;
        }
        if (l == n || s[l] != s[r]) same = false;
      }
      if (!same) recUpper++;
      recS[lmsMap[sortedLms[i]]] = recUpper;
    }
    lmsMap = {};
    const std::vector<int32_t> recSa = saIs(recS, recUpper);
    for (int32_t i = 0; i < m; i++) sortedLms[i] = lms[recSa[i]];
    induce(sortedLms);
  }
  return sa;
}

// An open datastore file and its size, read once: the header and the body come from the same
// file even if the path is replaced meanwhile. Paths are UTF-8 (u8path: on Windows too).
struct StoreFile {
  std::ifstream in;
  uint64_t size = 0;
  explicit StoreFile(const std::string& path) : in(std::filesystem::u8path(path), std::ios::binary) {
    if (!in) fail("IO_ERROR", "cannot read " + path + ": " + std::strerror(errno));
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    if (end < 0) fail("IO_ERROR", "cannot read " + path);
    size = (uint64_t)end;
    in.seekg(0);
  }
  // Reads n bytes at offset; false when the file is shorter.
  bool read(void* to, size_t n, uint64_t offset) {
    in.clear();
    in.seekg((std::streamoff)offset);
    in.read(static_cast<char*>(to), (std::streamsize)n);
    return (size_t)in.gcount() == n;
  }
};

// The header of an open store, checked against the file's size.
DatastoreHeader checkedHeader(StoreFile& file, const std::string& path) {
  DatastoreHeader h{};
  if (file.size < sizeof h || !file.read(&h, sizeof h, 0) || std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
    fail("INVALID_DATASTORE", path + " is not a specdec datastore");
  }
  if (h.version != kVersion) {
    fail("INVALID_DATASTORE", path + " is a datastore of format version " + std::to_string(h.version) + ", this build reads version " +
                                  std::to_string(kVersion) + ": build it again");
  }
  if (h.nTokens == 0 || h.nTokens > (uint64_t)INT32_MAX || h.nDocuments == 0 || h.nDocuments > h.nTokens ||
      file.size != sizeof h + h.nTokens * (sizeof(int32_t) + sizeof(uint32_t))) {
    fail("INVALID_DATASTORE", path + " is damaged: its size does not match its header");
  }
  return h;
}

}  // namespace

std::vector<uint32_t> suffixArray(const std::vector<int32_t>& s, int32_t upper) {
  const std::vector<int32_t> sa = saIs(s, upper);
  return std::vector<uint32_t>(sa.begin(), sa.end());
}

// ---- DatastoreBuilder -------------------------------------------------------------------------

void DatastoreBuilder::addText(const std::string& text) {
  const std::vector<llama_token> t = model_->tokenize(text, false, false);
  if (tokens_.size() + t.size() + 1 > (uint64_t)INT32_MAX) fail("INVALID_ARGUMENT", "the corpus has more than 2^31 tokens");
  tokens_.insert(tokens_.end(), t.begin(), t.end());
  tokens_.push_back(model_->nVocab());  // the separator
  documents_++;
}

void DatastoreBuilder::addFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("IO_ERROR", "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("IO_ERROR", "cannot read " + path + ": " + std::strerror(errno));
  addText(text.str());
}

void DatastoreBuilder::write(const std::string& path, uint64_t corpusFingerprint) {
  if (documents_ == 0 || tokens_.size() == documents_) fail("INVALID_ARGUMENT", "the corpus is empty (no tokens)");
  const std::vector<uint32_t> sa = suffixArray(tokens_, model_->nVocab());
  DatastoreHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.nVocab = (uint32_t)model_->nVocab();
  h.vocabFingerprint = model_->vocabFingerprint();
  h.corpusFingerprint = corpusFingerprint;
  h.nTokens = tokens_.size();
  h.nDocuments = documents_;
  // Written beside the target under a name of its own, then moved over it (replacing an older
  // store; std::filesystem::rename does on Windows too), so that no reader sees half a file.
  namespace fs = std::filesystem;
  const fs::path target = fs::u8path(path);
  const fs::path temp = fs::u8path(path + ".tmp" + std::to_string(std::random_device{}()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail("IO_ERROR", "cannot write " + temp.u8string() + ": " + std::strerror(errno));
    out.write(reinterpret_cast<const char*>(&h), sizeof h);
    out.write(reinterpret_cast<const char*>(tokens_.data()), (std::streamsize)(tokens_.size() * sizeof(int32_t)));
    out.write(reinterpret_cast<const char*>(sa.data()), (std::streamsize)(sa.size() * sizeof(uint32_t)));
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      fail("IO_ERROR", "cannot write " + temp.u8string() + ": " + std::strerror(errno));
    }
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    fail("IO_ERROR", "cannot move the datastore into " + path + ": " + ec.message());
  }
  tokens_ = {};
  documents_ = 0;
}

// ---- Datastore --------------------------------------------------------------------------------

DatastoreHeader Datastore::readHeader(const std::string& path) {
  StoreFile file(path);
  return checkedHeader(file, path);
}

// The file is read into memory, not mapped: a mapped file truncated or overwritten by another
// program while a session drafts from it kills the process (SIGBUS, or garbage in the suffix
// array read unchecked). Read once and checked, it is this process's own. Sessions of one process
// share one copy while the file (its canonical path, size and modification time) stays the same.
std::shared_ptr<Datastore> Datastore::open(const std::string& path, const ModelCore& model) {
  StoreFile file(path);
  const DatastoreHeader h = checkedHeader(file, path);
  if (h.nVocab != (uint32_t)model.nVocab() || h.vocabFingerprint != model.vocabFingerprint()) {
    fail("VOCAB_MISMATCH", path + " was built with another tokenizer than the model's: build it again with this model");
  }
  std::error_code ec;
  const auto where = std::filesystem::weakly_canonical(std::filesystem::u8path(path), ec);
  const auto modified = std::filesystem::last_write_time(std::filesystem::u8path(path), ec);
  const std::string key = where.u8string() + ":" + std::to_string(file.size) + ":" +
                          std::to_string((long long)modified.time_since_epoch().count());
  static std::mutex cacheMutex;
  static std::map<std::string, std::weak_ptr<Datastore>> cache;
  std::lock_guard<std::mutex> lock(cacheMutex);
  if (auto shared = cache[key].lock()) return shared;

  std::shared_ptr<Datastore> store(new Datastore());
  store->data_.resize(file.size);
  if (!file.read(store->data_.data(), store->data_.size(), 0)) {
    fail("INVALID_DATASTORE", path + " changed while it was read (it is shorter than its header says)");
  }
  std::memcpy(&store->header_, store->data_.data(), sizeof h);
  if (std::memcmp(&store->header_, &h, sizeof h) != 0) fail("INVALID_DATASTORE", path + " changed while it was opened");
  store->tokens_ = reinterpret_cast<const int32_t*>(store->data_.data() + sizeof h);
  store->suffixes_ = reinterpret_cast<const uint32_t*>(store->tokens_ + h.nTokens);
  // Every token id and suffix entry in range, so that nothing read later can go astray. A file
  // whose suffix array is in range but out of order only gives worse drafts, never wrong output.
  for (uint64_t i = 0; i < h.nTokens; i++) {
    if (store->tokens_[i] < 0 || store->tokens_[i] > (int32_t)h.nVocab) fail("INVALID_DATASTORE", path + " is damaged: a token id is out of range");
    if (store->suffixes_[i] >= h.nTokens) fail("INVALID_DATASTORE", path + " is damaged: a suffix array entry is out of range");
  }
  for (auto it = cache.begin(); it != cache.end();) it = it->second.expired() ? cache.erase(it) : std::next(it);
  cache[key] = store;
  return store;
}

std::pair<uint64_t, uint64_t> Datastore::find(const llama_token* pattern, size_t n) const {
  // compare(i): the order of suffix sa[i], cut to n tokens, against the pattern.
  auto compare = [&](uint64_t i) {
    const uint64_t start = suffixes_[i];
    const uint64_t len = std::min<uint64_t>(n, header_.nTokens - start);
    for (uint64_t j = 0; j < len; j++) {
      if (tokens_[start + j] != pattern[j]) return tokens_[start + j] < pattern[j] ? -1 : 1;
    }
    return len < n ? -1 : 0;
  };
  uint64_t lo = 0, hi = header_.nTokens;
  while (lo < hi) {  // the first suffix not below the pattern
    const uint64_t mid = lo + (hi - lo) / 2;
    if (compare(mid) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const uint64_t first = lo;
  hi = header_.nTokens;
  while (lo < hi) {  // the first suffix above it
    const uint64_t mid = lo + (hi - lo) / 2;
    if (compare(mid) <= 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return {first, lo};
}

}  // namespace specdec

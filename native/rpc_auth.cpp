#include "rpc_auth.h"

#include <cstring>
#include <mutex>
#include <unordered_map>

#ifdef _WIN32
#include <winsock2.h>
#else
#include <sys/socket.h>
#endif

#include "sha256.h"

#ifdef SPECDEC_RPC
#include "ggml-rpc.h"
#endif

namespace specdec {

namespace {

std::mutex tokensMutex;
std::unordered_map<std::string, std::string> tokens;

bool sendAll(intptr_t fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    auto n = ::send(fd, reinterpret_cast<const char*>(data), (int)size, 0);
    if (n <= 0) return false;
    data += n;
    size -= (size_t)n;
  }
  return true;
}

bool recvAll(intptr_t fd, uint8_t* data, size_t size) {
  while (size > 0) {
    auto n = ::recv(fd, reinterpret_cast<char*>(data), (int)size, 0);
    if (n <= 0) return false;
    data += n;
    size -= (size_t)n;
  }
  return true;
}

// ggml's connect hook: answers the worker's challenge when a token is set for the endpoint.
const char* answerChallenge(const char* endpoint, intptr_t fd, void*) {
  std::string token;
  {
    std::lock_guard<std::mutex> lock(tokensMutex);
    auto it = tokens.find(endpoint);
    if (it == tokens.end() || it->second.empty()) return nullptr;
    token = it->second;
  }
  uint8_t challenge[sizeof kRpcAuthMagic - 1 + kRpcAuthNonceBytes];
  if (!recvAll(fd, challenge, sizeof challenge)) {
    return "no token challenge from the worker (it was started without --token, or did not answer)";
  }
  if (std::memcmp(challenge, kRpcAuthMagic, sizeof kRpcAuthMagic - 1) != 0) {
    return "the worker does not ask for a token (not a specdec rpc-server started with --token)";
  }
  auto mac = rpcAuthAnswer(token, challenge + sizeof kRpcAuthMagic - 1);
  uint8_t ok = 0;
  if (!sendAll(fd, mac.data(), mac.size()) || !recvAll(fd, &ok, 1) || ok != 1) {
    return "the worker refused the token";
  }
  return nullptr;
}

}  // namespace

std::array<uint8_t, 32> rpcAuthAnswer(const std::string& token, const uint8_t* nonce) {
  std::string message(kRpcAuthContext);
  message.append(reinterpret_cast<const char*>(nonce), kRpcAuthNonceBytes);
  return hmacSha256(token, message);
}

void setRpcToken(const std::string& endpoint, const std::string& token) {
  {
    std::lock_guard<std::mutex> lock(tokensMutex);
    tokens[endpoint] = token;
  }
#ifdef SPECDEC_RPC
  static std::once_flag installed;
  std::call_once(installed, [] { ggml_backend_rpc_set_connect_hook(answerChallenge, nullptr); });
#endif
}

}  // namespace specdec

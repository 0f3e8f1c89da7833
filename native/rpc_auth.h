// Token authentication for RPC workers. A worker started with a token (lib/rpc.ts) sends each new
// connection kRpcAuthMagic and a random nonce; the client answers HMAC-SHA256(token,
// kRpcAuthContext + nonce) and gets one byte 1 before ggml's protocol starts; a wrong answer is
// disconnected. The token never crosses the network. Without a token nothing is exchanged, as
// with any ggml RPC peer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace specdec {

inline constexpr char kRpcAuthMagic[] = "SPDCAUTH";
inline constexpr char kRpcAuthContext[] = "specdec rpc auth v1";
inline constexpr size_t kRpcAuthNonceBytes = 32;

// The client's answer to a nonce of kRpcAuthNonceBytes.
std::array<uint8_t, 32> rpcAuthAnswer(const std::string& token, const uint8_t* nonce);

// The token to answer endpoint's challenge with ("" for none); connections made from now on.
void setRpcToken(const std::string& endpoint, const std::string& token);

}  // namespace specdec

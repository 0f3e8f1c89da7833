// quantizeModel(src, dst, { type, pure, threads }): writes a GGUF model requantized to another
// weight format (llama.cpp's llama_model_quantize), on the libuv pool. The source is checked as
// loadModel checks it; the destination must not be the source.
#pragma once

#include <napi.h>

namespace specdec {

Napi::Value QuantizeModel(const Napi::CallbackInfo& info);

}  // namespace specdec

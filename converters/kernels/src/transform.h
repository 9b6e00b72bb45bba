// Per-output epilogue shared by all paths (LCE output transform, specs/x86-kernels.md §2):
//   float: y = float(clamp(2*acc, cmin, cmax)) * m' + b'   (multiply then add, no FMA)
//   int8:  the same with m', b' pre-divided by the scale, rounded half away from zero, saturated
//   bitpacked: bit = acc > threshold
// Header-only inside an anonymous namespace so each ISA-specific TU gets its own copy.
#pragma once
#include <cmath>
#include <cstdint>

#include "bconv.h"

namespace tfqnn {
namespace {

inline int32_t clamp_i32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

// `acc2` is twice the accumulator (doubling keeps zero padding exact for odd channel counts).
inline float transform_float(int32_t acc2, const BconvArgs* a, int c) {
  const int32_t x = clamp_i32(acc2, a->clamp_min, a->clamp_max);
  const float prod = static_cast<float>(x) * a->mul[c];
  return prod + a->bias[c];
}

inline int8_t transform_int8(int32_t acc2, const BconvArgs* a, int c) {
  const float y = transform_float(acc2, a, c);
  const float r = std::round(y);  // half away from zero
  if (!(r > -128.0f)) return -128;  // also NaN
  if (r > 127.0f) return 127;
  return static_cast<int8_t>(static_cast<int32_t>(r));
}

// Write the outputs of `n_ch` consecutive channels starting at global channel `c0` of one pixel;
// `acc` holds accumulators, or doubled accumulators when `doubled` (zero-padded border pixels).
inline void write_pixel(const BconvArgs* a, int64_t pixel, int c0, int n_ch, const int32_t* acc, bool doubled = false) {
  const int32_t mult = doubled ? 1 : 2;
  const BconvGeom& g = a->g;
  if (g.out_type == kOutFloat) {
    float* out = static_cast<float*>(a->output) + pixel * g.cout + c0;
    for (int i = 0; i < n_ch; ++i) out[i] = transform_float(acc[i] * mult, a, c0 + i);
  } else if (g.out_type == kOutInt8) {
    int8_t* out = static_cast<int8_t*>(a->output) + pixel * g.cout + c0;
    for (int i = 0; i < n_ch; ++i) out[i] = transform_int8(acc[i] * mult, a, c0 + i);
  } else {
    uint32_t* out = static_cast<uint32_t*>(a->output) + pixel * g.out_words;
    for (int i = 0; i < n_ch; ++i) {
      const int c = c0 + i;
      if (acc[i] * (doubled ? 1 : 2) > 2 * int64_t(a->thresholds[c])) out[c >> 5] |= uint32_t(1) << (c & 31);
    }
  }
}

}  // namespace
}  // namespace tfqnn

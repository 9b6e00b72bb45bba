// Portable scalar LceBconv2d: the direct loops of the LCE reference semantics
// (specs/x86-kernels.md §2): acc = sum over in-image taps of popcount(x XOR w); out-of-image
// taps contribute popcount(w) (pad value +1, bit 0) or cin_pg/2 (zero padding; kept exact for
// odd cin_pg by working with the doubled accumulator 2*acc, which is what the transform uses).
// Compiled without ISA flags; it is also the oracle the SIMD paths are tested against.
#include <cstring>

#include "bconv.h"
#include "transform.h"

namespace tfqnn {
namespace {
inline int popcount32(uint32_t v) { return __builtin_popcount(v); }
}  // namespace

void bconv_scalar(BconvArgs* a) {
  const BconvGeom& g = a->g;
  if (g.out_type == kOutBitpacked) {
    std::memset(a->output, 0, sizeof(int32_t) * int64_t(g.batch) * g.out_h * g.out_w * g.out_words);
  }
  int32_t acc[32];
  const int32_t mult = g.zero_pad ? 2 : 1;  // zero padding: accumulate 2*acc
  for (int n = 0; n < g.batch; ++n) {
    for (int oy = 0; oy < g.out_h; ++oy) {
      for (int ox = 0; ox < g.out_w; ++ox) {
        const int64_t pixel = (int64_t(n) * g.out_h + oy) * g.out_w + ox;
        for (int c0 = 0; c0 < g.cout; c0 += 32) {
          const int n_ch = g.cout - c0 < 32 ? g.cout - c0 : 32;
          for (int i = 0; i < n_ch; ++i) {
            const int c = c0 + i;
            const int grp = c / g.cout_pg;
            int32_t s = 0;
            for (int ky = 0; ky < g.kh; ++ky) {
              const int iy = oy * g.stride_h - g.pad_h + ky * g.dil_h;
              for (int kx = 0; kx < g.kw; ++kx) {
                const int ix = ox * g.stride_w - g.pad_w + kx * g.dil_w;
                const uint32_t* w = reinterpret_cast<const uint32_t*>(a->filter) +
                                    ((int64_t(c) * g.kh + ky) * g.kw + kx) * g.words_pg;
                if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) {
                  if (g.zero_pad) {
                    s += g.cin_pg;  // doubled: 2 * (cin_pg / 2)
                  } else {
                    for (int j = 0; j < g.words_pg; ++j) s += mult * popcount32(w[j]);
                  }
                  continue;
                }
                const uint32_t* x = reinterpret_cast<const uint32_t*>(a->input) +
                                    ((int64_t(n) * g.in_h + iy) * g.in_w + ix) * g.words_in +
                                    int64_t(grp) * g.words_pg;
                for (int j = 0; j < g.words_pg; ++j) s += mult * popcount32(x[j] ^ w[j]);
              }
            }
            acc[i] = s;
          }
          write_pixel(a, pixel, c0, n_ch, acc, g.zero_pad != 0);
        }
      }
    }
  }
}

void quantize_float_scalar(const float* x, int64_t pixels, int channels, uint32_t* out) {
  const int words = (channels + 31) / 32;
  for (int64_t p = 0; p < pixels; ++p, x += channels, out += words)
    for (int w = 0; w < words; ++w) {
      uint32_t bits = 0;
      const int n = channels - 32 * w < 32 ? channels - 32 * w : 32;
      for (int i = 0; i < n; ++i) bits |= uint32_t(x[32 * w + i] < 0.0f) << i;
      out[w] = bits;
    }
}

}  // namespace tfqnn

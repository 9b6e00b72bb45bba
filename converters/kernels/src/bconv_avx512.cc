// AVX-512 VPOPCNTDQ LceBconv2d micro-kernel: 4 output pixels x 32 output channels in 16 zmm
// accumulators; per 64-bit input word: one broadcast per pixel, 4 weight loads and
// 16 x (VPXORQ, VPOPCNTQ, VPADDQ). Compiled with -mavx512f -mavx512vpopcntdq (own TU).
#include <immintrin.h>

#include "blocked.h"

namespace tfqnn {
namespace {

struct MicroAvx512 {
  static void run(const BconvArgs* a, int grp, int blk, int oy, const int* xs, int32_t (*out)[32]) {
    const BconvGeom& g = a->g;
    const int64_t w64 = g.w64;
    const uint64_t* wbase = a->packed_filter + (int64_t(grp) * g.blocks + blk) * g.kh * g.kw * w64 * 32;
    const uint64_t* xbase = a->padded + int64_t(grp) * g.pad_rows * g.pad_cols * w64;
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00;
    __m512i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512i c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512i c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    for (int ky = 0; ky < g.kh; ++ky) {
      const uint64_t* xrow = xbase + int64_t(oy * g.stride_h + ky * g.dil_h) * g.pad_cols * w64;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int off = kx * g.dil_w;
        const uint64_t* x0 = xrow + int64_t(xs[0] * g.stride_w + off) * w64;
        const uint64_t* x1 = xrow + int64_t(xs[1] * g.stride_w + off) * w64;
        const uint64_t* x2 = xrow + int64_t(xs[2] * g.stride_w + off) * w64;
        const uint64_t* x3 = xrow + int64_t(xs[3] * g.stride_w + off) * w64;
        const uint64_t* w = wbase + int64_t(ky * g.kw + kx) * w64 * 32;
        for (int64_t j = 0; j < w64; ++j) {
          const __m512i w0 = _mm512_loadu_si512(w + j * 32);
          const __m512i w1 = _mm512_loadu_si512(w + j * 32 + 8);
          const __m512i w2 = _mm512_loadu_si512(w + j * 32 + 16);
          const __m512i w3 = _mm512_loadu_si512(w + j * 32 + 24);
#define TFQNN_PIX(P, X)                                                                   \
  {                                                                                       \
    const __m512i b = _mm512_set1_epi64(static_cast<long long>(X[j]));                    \
    c##P##0 = _mm512_add_epi64(c##P##0, _mm512_popcnt_epi64(_mm512_xor_si512(b, w0)));    \
    c##P##1 = _mm512_add_epi64(c##P##1, _mm512_popcnt_epi64(_mm512_xor_si512(b, w1)));    \
    c##P##2 = _mm512_add_epi64(c##P##2, _mm512_popcnt_epi64(_mm512_xor_si512(b, w2)));    \
    c##P##3 = _mm512_add_epi64(c##P##3, _mm512_popcnt_epi64(_mm512_xor_si512(b, w3)));    \
  }
          TFQNN_PIX(0, x0)
          TFQNN_PIX(1, x1)
          TFQNN_PIX(2, x2)
          TFQNN_PIX(3, x3)
#undef TFQNN_PIX
        }
      }
    }
#define TFQNN_STORE(P, Q) \
  _mm256_store_si256(reinterpret_cast<__m256i*>(out[P] + 8 * Q), _mm512_cvtepi64_epi32(c##P##Q));
    TFQNN_STORE(0, 0) TFQNN_STORE(0, 1) TFQNN_STORE(0, 2) TFQNN_STORE(0, 3)
    TFQNN_STORE(1, 0) TFQNN_STORE(1, 1) TFQNN_STORE(1, 2) TFQNN_STORE(1, 3)
    TFQNN_STORE(2, 0) TFQNN_STORE(2, 1) TFQNN_STORE(2, 2) TFQNN_STORE(2, 3)
    TFQNN_STORE(3, 0) TFQNN_STORE(3, 1) TFQNN_STORE(3, 2) TFQNN_STORE(3, 3)
#undef TFQNN_STORE
  }
};

}  // namespace

void bconv_avx512(BconvArgs* a) { run_blocked<MicroAvx512>(a); }

// 16 floats per compare (ordered less-than: NaN, +0 and -0 give 0); tails by masked loads.
void quantize_float_avx512(const float* x, int64_t pixels, int channels, uint32_t* out) {
  const int words = (channels + 31) / 32;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t p = 0; p < pixels; ++p, x += channels, out += words)
    for (int w = 0; w < words; ++w) {
      const int n = channels - 32 * w < 32 ? channels - 32 * w : 32;
      const float* src = x + 32 * w;
      uint32_t bits;
      if (n == 32) {
        const uint32_t lo = _mm512_cmp_ps_mask(_mm512_loadu_ps(src), zero, _CMP_LT_OQ);
        const uint32_t hi = _mm512_cmp_ps_mask(_mm512_loadu_ps(src + 16), zero, _CMP_LT_OQ);
        bits = lo | (hi << 16);
      } else {
        const __mmask16 m0 = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
        const __mmask16 m1 = n > 16 ? __mmask16((1u << (n - 16)) - 1) : __mmask16(0);
        const uint32_t lo = _mm512_mask_cmp_ps_mask(m0, _mm512_maskz_loadu_ps(m0, src), zero, _CMP_LT_OQ);
        const uint32_t hi = _mm512_mask_cmp_ps_mask(m1, _mm512_maskz_loadu_ps(m1, src + 16), zero, _CMP_LT_OQ);
        bits = lo | (hi << 16);
      }
      out[w] = bits;
    }
}

}  // namespace tfqnn

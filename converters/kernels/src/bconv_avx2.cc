// AVX2 LceBconv2d micro-kernel: same blocked layout as the AVX-512 path; the 32 channels of a
// block are done as 4 sub-blocks of 8 (2 ymm of 4 x uint64 per pixel, 4 pixels). AVX2 has no
// vector popcount: nibble lookup with VPSHUFB, then VPSADBW sums the bytes of each 64-bit lane.
// Compiled with -mavx2 -mpopcnt (own TU).
#include <immintrin.h>

#include "blocked.h"

namespace tfqnn {
namespace {

inline __m256i popcnt_bytes(__m256i v, __m256i lut, __m256i low) {
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

struct MicroAvx2 {
  static void run(const BconvArgs* a, int grp, int blk, int oy, const int* xs, int32_t (*out)[32]) {
    const BconvGeom& g = a->g;
    const int64_t w64 = g.w64;
    const uint64_t* wbase = a->packed_filter + (int64_t(grp) * g.blocks + blk) * g.kh * g.kw * w64 * 32;
    const uint64_t* xbase = a->padded + int64_t(grp) * g.pad_rows * g.pad_cols * w64;
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    for (int sub = 0; sub < 4; ++sub) {
      __m256i a00 = zero, a01 = zero, a10 = zero, a11 = zero, a20 = zero, a21 = zero, a30 = zero, a31 = zero;
      for (int ky = 0; ky < g.kh; ++ky) {
        const uint64_t* xrow = xbase + int64_t(oy * g.stride_h + ky * g.dil_h) * g.pad_cols * w64;
        for (int kx = 0; kx < g.kw; ++kx) {
          const int off = kx * g.dil_w;
          const uint64_t* x0 = xrow + int64_t(xs[0] * g.stride_w + off) * w64;
          const uint64_t* x1 = xrow + int64_t(xs[1] * g.stride_w + off) * w64;
          const uint64_t* x2 = xrow + int64_t(xs[2] * g.stride_w + off) * w64;
          const uint64_t* x3 = xrow + int64_t(xs[3] * g.stride_w + off) * w64;
          const uint64_t* w = wbase + int64_t(ky * g.kw + kx) * w64 * 32 + sub * 8;
          for (int64_t j = 0; j < w64; ++j) {
            const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * 32));
            const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * 32 + 4));
#define TFQNN_PIX(P, X)                                                                              \
  {                                                                                                  \
    const __m256i b = _mm256_set1_epi64x(static_cast<long long>(X[j]));                              \
    a##P##0 = _mm256_add_epi64(a##P##0, _mm256_sad_epu8(popcnt_bytes(_mm256_xor_si256(b, w0), lut, low), zero)); \
    a##P##1 = _mm256_add_epi64(a##P##1, _mm256_sad_epu8(popcnt_bytes(_mm256_xor_si256(b, w1), lut, low), zero)); \
  }
            TFQNN_PIX(0, x0)
            TFQNN_PIX(1, x1)
            TFQNN_PIX(2, x2)
            TFQNN_PIX(3, x3)
#undef TFQNN_PIX
          }
        }
      }
      alignas(32) uint64_t tmp[8][4];
#define TFQNN_STORE(P)                                                         \
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp[2 * P]), a##P##0);         \
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp[2 * P + 1]), a##P##1);
      TFQNN_STORE(0) TFQNN_STORE(1) TFQNN_STORE(2) TFQNN_STORE(3)
#undef TFQNN_STORE
      for (int p = 0; p < 4; ++p)
        for (int i = 0; i < 8; ++i) out[p][sub * 8 + i] = static_cast<int32_t>(tmp[2 * p + i / 4][i % 4]);
    }
  }
};

}  // namespace

void bconv_avx2(BconvArgs* a) { run_blocked<MicroAvx2>(a); }

// 8 floats per compare (ordered less-than: NaN, +0 and -0 give 0); the tail word is scalar.
void quantize_float_avx2(const float* x, int64_t pixels, int channels, uint32_t* out) {
  const int words = (channels + 31) / 32;
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t p = 0; p < pixels; ++p, x += channels, out += words)
    for (int w = 0; w < words; ++w) {
      const int n = channels - 32 * w < 32 ? channels - 32 * w : 32;
      const float* src = x + 32 * w;
      uint32_t bits = 0;
      if (n == 32) {
        for (int q = 0; q < 4; ++q)
          bits |= uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(src + 8 * q), zero, _CMP_LT_OQ))) << (8 * q);
      } else {
        for (int i = 0; i < n; ++i) bits |= uint32_t(src[i] < 0.0f) << i;
      }
      out[w] = bits;
    }
}

}  // namespace tfqnn

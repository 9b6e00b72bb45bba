// Blocked LceBconv2d driver shared by the SIMD paths (included by bconv_avx2.cc and
// bconv_avx512.cc, each compiled with its own ISA flags; everything here is TU-local).
//
// Layout (specs/x86-kernels.md §3): the filter is repacked once to
// [groups][blocks of 32 out-channels][kh][kw][w64][32 lanes] of uint64 (lanes run across output
// channels, missing channels are zero), and each batch item's input is copied per group into a
// zero-bordered uint64 buffer (bit 0 = +1 padding). A micro-kernel computes 4 output pixels x 32
// output channels with no horizontal reduction. Zero padding (pad_values = 0) keeps the +1
// border and adds, for each out-of-image tap of a border pixel, the exact integer correction
// cin_pg/2 - popcount(filter tap) of the LCE reference, in the doubled accumulator 2*acc so
// that odd cin_pg stays exact.
#pragma once
#include <cstdint>
#include <cstring>

#include "bconv.h"
#include "rows.h"
#include "transform.h"

namespace tfqnn {
namespace {

inline void pack_filter(BconvArgs* a) {
  const BconvGeom& g = a->g;
  const int64_t total = int64_t(g.groups) * g.blocks * g.kh * g.kw * g.w64 * 32;
  std::memset(a->packed_filter, 0, sizeof(uint64_t) * total);
  const uint32_t* f = reinterpret_cast<const uint32_t*>(a->filter);
  for (int grp = 0; grp < g.groups; ++grp)
    for (int blk = 0; blk < g.blocks; ++blk)
      for (int lane = 0; lane < 32; ++lane) {
        const int cl = blk * 32 + lane;
        if (cl >= g.cout_pg) continue;
        const int c = grp * g.cout_pg + cl;
        for (int ky = 0; ky < g.kh; ++ky)
          for (int kx = 0; kx < g.kw; ++kx) {
            const uint32_t* w = f + ((int64_t(c) * g.kh + ky) * g.kw + kx) * g.words_pg;
            uint64_t* dst = a->packed_filter + ((((int64_t(grp) * g.blocks + blk) * g.kh + ky) * g.kw + kx) * g.w64) * 32;
            int32_t pc = 0;
            for (int j = 0; j < g.w64; ++j) {
              const uint64_t lo = w[2 * j];
              const uint64_t hi = (2 * j + 1 < g.words_pg) ? w[2 * j + 1] : 0;
              dst[j * 32 + lane] = lo | (hi << 32);
              pc += __builtin_popcountll(lo | (hi << 32));
            }
            a->tap_popcount[(ky * g.kw + kx) * g.cout + c] = pc;
          }
      }
}

inline void pad_input(BconvArgs* a, int n) {
  const BconvGeom& g = a->g;
  const int64_t plane = int64_t(g.pad_rows) * g.pad_cols * g.w64;
  std::memset(a->padded, 0, sizeof(uint64_t) * plane * g.groups);
  for (int grp = 0; grp < g.groups; ++grp)
    for (int y = 0; y < g.in_h; ++y) {
      const int r = y + g.pad_h;
      if (r >= g.pad_rows) break;
      for (int x = 0; x < g.in_w; ++x) {
        const int col = x + g.pad_w;
        if (col >= g.pad_cols) break;
        const int32_t* src = a->input + ((int64_t(n) * g.in_h + y) * g.in_w + x) * g.words_in + int64_t(grp) * g.words_pg;
        uint64_t* dst = a->padded + grp * plane + (int64_t(r) * g.pad_cols + col) * g.w64;
        std::memcpy(dst, src, sizeof(int32_t) * g.words_pg);
      }
    }
}

// Exact zero-padding correction for the out-of-image taps of one border pixel; turns `acc`
// into the doubled accumulator 2*acc.
inline void zero_pad_correct(const BconvArgs* a, int oy, int ox, int c0, int n_ch, int32_t* acc) {
  const BconvGeom& g = a->g;
  for (int i = 0; i < n_ch; ++i) acc[i] *= 2;
  for (int ky = 0; ky < g.kh; ++ky) {
    const int iy = oy * g.stride_h - g.pad_h + ky * g.dil_h;
    for (int kx = 0; kx < g.kw; ++kx) {
      const int ix = ox * g.stride_w - g.pad_w + kx * g.dil_w;
      if (iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w) continue;
      const int32_t* pc = a->tap_popcount + (ky * g.kw + kx) * g.cout + c0;
      for (int i = 0; i < n_ch; ++i) acc[i] += g.cin_pg - 2 * pc[i];
    }
  }
}

template <class Micro>
void run_rows(BconvArgs* a, int n, int row_begin, int row_end) {
  const BconvGeom& g = a->g;
  alignas(64) int32_t acc[4][32];
  for (int grp = 0; grp < g.groups; ++grp)
    for (int oy = row_begin; oy < row_end; ++oy) {
      const bool row_border = oy * g.stride_h - g.pad_h < 0 ||
                              oy * g.stride_h - g.pad_h + (g.kh - 1) * g.dil_h >= g.in_h;
      for (int ox0 = 0; ox0 < g.out_w; ox0 += 4) {
        const int valid = g.out_w - ox0 < 4 ? g.out_w - ox0 : 4;
        int xs[4];
        for (int p = 0; p < 4; ++p) xs[p] = ox0 + (p < valid ? p : valid - 1);
        for (int blk = 0; blk < g.blocks; ++blk) {
          Micro::run(a, grp, blk, oy, xs, acc);
          const int c0 = grp * g.cout_pg + blk * 32;
          const int n_ch = g.cout_pg - blk * 32 < 32 ? g.cout_pg - blk * 32 : 32;
          for (int p = 0; p < valid; ++p) {
            const int ox = ox0 + p;
            if (g.zero_pad) {
              const bool border = row_border || ox * g.stride_w - g.pad_w < 0 ||
                                  ox * g.stride_w - g.pad_w + (g.kw - 1) * g.dil_w >= g.in_w;
              if (border) {
                zero_pad_correct(a, oy, ox, c0, n_ch, acc[p]);
                write_pixel(a, (int64_t(n) * g.out_h + oy) * g.out_w + ox, c0, n_ch, acc[p], true);
                continue;
              }
            }
            write_pixel(a, (int64_t(n) * g.out_h + oy) * g.out_w + ox, c0, n_ch, acc[p]);
          }
        }
      }
    }
}

template <class Micro>
void run_blocked(BconvArgs* a) {
  if (!a->filter_ready) {
    pack_filter(a);
    a->filter_ready = 1;
  }
  run_by_rows<pad_input, run_rows<Micro>>(a);
}

}  // namespace
}  // namespace tfqnn

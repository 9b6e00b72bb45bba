// AMX-INT8 LceBconv2d path: the binary convolution as an exact int8 GEMM on +-1 values.
//
// A binary product x*w with x, w in {-1, +1} is an int8 product, so the +-1 dot product D of an
// output (the quantity LCE's popcount encodes: D = K - 2*popcount(x XOR w)) is computed by
// TDPBSSD tiles: 16 pixels x 64 input channels (A, bytes) times 64 input channels x 16 output
// channels (B, VNNI layout: row r holds channels 4r..4r+3 of each output channel) accumulate into
// 16 x 16 int32 (C). Sapphire-Rapids-class cores retire one TDPBSSD (16*16*64 = 16384 MACs) per
// 16 cycles, 1024 MACs/cycle, against ~341 binary MACs/cycle for XOR+POPCNT+ADD on AVX-512.
//
// The input is unpacked once per batch item to a padded +-1 byte image (channel padding and
// zero-padding taps are 0, so SAME with pad_values = 0 needs no correction and one-padding is a
// +1 border); an A tile is read straight from it with a row stride of stride_w pixels (implicit
// GEMM, no im2col). Blocking: 2 A tiles (two pixel runs) x 1 B tile (16 output channels) -> 2 C
// tiles; consecutive blocks alternate between two C pairs so the TMUL never waits for a store, and
// the epilogue of one block runs while the next computes. Epilogue: acc2 = K - D is LCE's doubled
// accumulator (transform.h), applied 16 lanes at a time (float, bitpacked) or per element (int8).
// Compiled with -mamx-tile -mamx-int8 and AVX-512BW.
#include <immintrin.h>

#include <chrono>
#include <cstring>

#include "bconv.h"
#include "rows.h"
#include "transform.h"

namespace tfqnn {
namespace {

struct TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64, "AMX tile configuration is 64 bytes");

// Pixels per A tile: out_w split into the fewest runs of <= 16, evenly (28 -> 2 x 14).
inline int tile_rows(int out_w) {
  const int runs = (out_w + 15) / 16;
  return (out_w + runs - 1) / runs;
}

inline const int8_t* filter_tile(const BconvArgs* a, int grp, int nb, int ky, int kx) {
  const BconvGeom& g = a->g;
  const int64_t cchunks = g.cpad / 64;
  return a->amx_filter + ((((int64_t(grp) * g.nblk16 + nb) * g.kh + ky) * g.kw + kx) * cchunks) * 1024;
}

// +-1 bytes in VNNI tile order; 0 for channels past cin_pg or cout_pg.
void pack_filter_amx(BconvArgs* a) {
  const BconvGeom& g = a->g;
  const int cchunks = g.cpad / 64;
  const uint32_t* f = reinterpret_cast<const uint32_t*>(a->filter);
  for (int grp = 0; grp < g.groups; ++grp)
    for (int nb = 0; nb < g.nblk16; ++nb)
      for (int ky = 0; ky < g.kh; ++ky)
        for (int kx = 0; kx < g.kw; ++kx) {
          int8_t* tile = const_cast<int8_t*>(filter_tile(a, grp, nb, ky, kx));
          std::memset(tile, 0, size_t(cchunks) * 1024);
          for (int n = 0; n < 16; ++n) {
            const int cl = nb * 16 + n;
            if (cl >= g.cout_pg) break;
            const uint32_t* w = f + ((int64_t(grp * g.cout_pg + cl) * g.kh + ky) * g.kw + kx) * g.words_pg;
            for (int ch = 0; ch < g.cin_pg; ++ch) {
              const int bit = (w[ch >> 5] >> (ch & 31)) & 1;
              const int cc = ch / 64, r = (ch % 64) / 4, j = ch % 4;
              tile[cc * 1024 + r * 64 + 4 * n + j] = bit ? -1 : 1;
            }
          }
        }
}

// One batch item's bitpacked input -> padded +-1 byte image (bit 1 = -1, bit 0 = +1).
void unpack_input(BconvArgs* a, int n) {
  const BconvGeom& g = a->g;
  const int cchunks = g.cpad / 64;
  const int64_t plane = int64_t(g.pad_rows) * g.pad_cols * g.cpad;
  const __m512i plus = _mm512_set1_epi8(1), minus = _mm512_set1_epi8(-1);
  const __m512i border = g.zero_pad ? _mm512_setzero_si512() : plus;
  for (int grp = 0; grp < g.groups; ++grp)
    for (int r = 0; r < g.pad_rows; ++r) {
      const int iy = r - g.pad_h;
      for (int col = 0; col < g.pad_cols; ++col) {
        const int ix = col - g.pad_w;
        int8_t* dst = a->amx_input + grp * plane + (int64_t(r) * g.pad_cols + col) * g.cpad;
        const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
        const uint32_t* src = inside ? reinterpret_cast<const uint32_t*>(a->input) +
                                           ((int64_t(n) * g.in_h + iy) * g.in_w + ix) * g.words_in +
                                           int64_t(grp) * g.words_pg
                                     : nullptr;
        for (int cc = 0; cc < cchunks; ++cc) {
          const int left = g.cin_pg - 64 * cc;
          const __mmask64 valid = left >= 64 ? ~__mmask64(0) : (__mmask64(1) << left) - 1;
          __m512i v = border;
          if (inside) {
            const uint64_t lo = src[2 * cc];
            const uint64_t hi = 2 * cc + 1 < g.words_pg ? src[2 * cc + 1] : 0;
            v = _mm512_mask_blend_epi8(lo | (hi << 32), plus, minus);
          }
          _mm512_storeu_si512(dst + 64 * cc, _mm512_maskz_mov_epi8(valid, v));
        }
      }
    }
}

constexpr int kPrefetch = 8;  // B tiles fetched this many K steps ahead (tuned on the stack layer)

// One block = up to 2 pixel runs (A tiles 4, 5) x one 16-channel block (B tile 6 + SET) into the C
// pair {2*SET, 2*SET+1}. Blocks alternate SET, so a block's TMUL work overlaps the store and
// epilogue of the previous one (a C tile cannot be re-zeroed before its store retires; with one C
// set per block the TMUL idled at every store). The sums stay in the C tiles; store_block<SET, MA>
// writes them out.
// GCC's tile intrinsics paste their tile numbers into the instruction text, so each tile set
// gets literal numbers here: C tiles 0, 1 (set 0) or 2, 3 (set 1), B tile 6 or 7.
#define TFQNN_SET(SET, STMT0, STMT1) \
  do {                               \
    if constexpr ((SET) == 0) {      \
      STMT0;                         \
    } else {                         \
      STMT1;                         \
    }                                \
  } while (0)

template <int SET, int MA>
void compute_block(const BconvArgs* a, int grp, int nb, const int8_t* const* arow) {
  const BconvGeom& g = a->g;
  const int cchunks = g.cpad / 64;
  const int64_t astride = int64_t(g.stride_w) * g.cpad;
  TFQNN_SET(SET, _tile_zero(0), _tile_zero(2));
  if (MA == 2) TFQNN_SET(SET, _tile_zero(1), _tile_zero(3));
  const int8_t* bnext = filter_tile(a, grp, nb, 0, 0);  // contiguous over taps and chunks
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx) {
      const int64_t off = (int64_t(ky) * g.dil_h * g.pad_cols + int64_t(kx) * g.dil_w) * g.cpad;
      for (int cc = 0; cc < cchunks; ++cc, bnext += 1024) {
        // tile loads from L2 stall the TMUL: pull the B tile kPrefetch steps ahead into L1
        // (a prefetch past the buffer's end never faults)
        for (int line = 0; line < 1024; line += 64)
          _mm_prefetch(reinterpret_cast<const char*>(bnext + kPrefetch * 1024 + line), _MM_HINT_T0);
        TFQNN_SET(SET, _tile_loadd(6, bnext, 64), _tile_loadd(7, bnext, 64));
        _tile_loadd(4, arow[0] + off + cc * 64, astride);
        TFQNN_SET(SET, _tile_dpbssd(0, 4, 6), _tile_dpbssd(2, 4, 7));
        if (MA == 2) {
          _tile_loadd(5, arow[1] + off + cc * 64, astride);
          TFQNN_SET(SET, _tile_dpbssd(1, 5, 6), _tile_dpbssd(3, 5, 7));
        }
      }
    }
}

template <int SET, int MA>
void store_block(int32_t* cbuf) {
  TFQNN_SET(SET, _tile_stored(0, cbuf, 64), _tile_stored(2, cbuf, 64));
  if (MA == 2) TFQNN_SET(SET, _tile_stored(1, cbuf + 256, 64), _tile_stored(3, cbuf + 256, 64));
}
#undef TFQNN_SET

// Outputs of `valid` pixels x one 16-channel block from a stored C tile (row p = pixel p).
void epilogue(const BconvArgs* a, int64_t pixel0, int valid, int c0, int n_ch, const int32_t* tile) {
  const BconvGeom& g = a->g;
  const __mmask16 lanes = __mmask16((1u << n_ch) - 1);
  const __m512i k = _mm512_set1_epi32(g.k);
  if (g.out_type == kOutFloat) {
    const __m512i lo = _mm512_set1_epi32(a->clamp_min), hi = _mm512_set1_epi32(a->clamp_max);
    const __m512 mul = _mm512_maskz_loadu_ps(lanes, a->mul + c0), bias = _mm512_maskz_loadu_ps(lanes, a->bias + c0);
    for (int p = 0; p < valid; ++p) {
      __m512i x = _mm512_sub_epi32(k, _mm512_load_si512(tile + 16 * p));
      x = _mm512_min_epi32(_mm512_max_epi32(x, lo), hi);
      // multiply, then add: two roundings, as transform_float (no FMA)
      const __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(x), mul), bias);
      _mm512_mask_storeu_ps(static_cast<float*>(a->output) + (pixel0 + p) * g.cout + c0, lanes, y);
    }
  } else if (g.out_type == kOutBitpacked) {
    const __m512i thr = _mm512_maskz_loadu_epi32(lanes, a->amx_thr + c0);
    const int word = c0 >> 5, shift = c0 & 31;
    for (int p = 0; p < valid; ++p) {
      const uint64_t bits = _mm512_mask_cmplt_epi32_mask(lanes, _mm512_load_si512(tile + 16 * p), thr);
      uint32_t* out = static_cast<uint32_t*>(a->output) + (pixel0 + p) * g.out_words + word;
      const uint64_t placed = bits << shift;
      out[0] |= uint32_t(placed);
      if (placed >> 32) out[1] |= uint32_t(placed >> 32);
    }
  } else {
    alignas(64) int32_t acc2[16];
    for (int p = 0; p < valid; ++p) {
      for (int i = 0; i < n_ch; ++i) acc2[i] = g.k - tile[16 * p + i];
      write_pixel(a, pixel0 + p, c0, n_ch, acc2, true);
    }
  }
}

struct Run {
  int oy, ox0, valid;
};

// One block of C tiles: its pixel runs, its 16-channel block and its tile set.
struct Block {
  Run run[2];
  int grp, nb, ma, set;
};

void block_epilogue(const BconvArgs* a, int n, const Block& b, const int32_t* cbuf) {
  const BconvGeom& g = a->g;
  const int cl = b.nb * 16;
  const int n_ch = g.cout_pg - cl < 16 ? g.cout_pg - cl : 16;
  for (int i = 0; i < b.ma; ++i) {
    const int64_t pixel0 = (int64_t(n) * g.out_h + b.run[i].oy) * g.out_w + b.run[i].ox0;
    epilogue(a, pixel0, b.run[i].valid, b.grp * g.cout_pg + cl, n_ch, cbuf + 256 * i);
  }
}

void store_pending(const Block& b, int32_t* cbuf) {
  if (b.set == 0 && b.ma == 2) store_block<0, 2>(cbuf);
  else if (b.set == 0) store_block<0, 1>(cbuf);
  else if (b.ma == 2) store_block<1, 2>(cbuf);
  else store_block<1, 1>(cbuf);
}

// Software pipeline: block i's tile instructions are issued, then block i-1 (other tile set) is
// stored and its epilogue runs on the vector units while the TMUL works on block i.
void run_rows_amx(BconvArgs* a, int n, int row_begin, int row_end) {
  const BconvGeom& g = a->g;
  const int mrows = tile_rows(g.out_w);
  const int runs_per_row = (g.out_w + mrows - 1) / mrows;
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = uint8_t(t >= 6 ? 16 : mrows);
  }
  _tile_loadconfig(&cfg);
  alignas(64) int32_t cbuf[2 * 256];
  Block pending{};
  bool has_pending = false;
  int set = 0;
  const int64_t plane = int64_t(g.pad_rows) * g.pad_cols * g.cpad;
  const int total = (row_end - row_begin) * runs_per_row;
  auto block = [&](int grp, int q, int nb) {
    Block b{};
    b.grp = grp;
    b.nb = nb;
    b.set = set;
    b.ma = total - q >= 2 ? 2 : 1;
    const int8_t* arow[2] = {nullptr, nullptr};
    for (int i = 0; i < b.ma; ++i) {
      const int oy = row_begin + (q + i) / runs_per_row;
      const int ox0 = ((q + i) % runs_per_row) * mrows;
      b.run[i] = Run{oy, ox0, g.out_w - ox0 < mrows ? g.out_w - ox0 : mrows};
      arow[i] = a->amx_input + grp * plane +
                (int64_t(oy) * g.stride_h * g.pad_cols + int64_t(ox0) * g.stride_w) * g.cpad;
    }
    if (set == 0 && b.ma == 2) compute_block<0, 2>(a, grp, nb, arow);
    else if (set == 0) compute_block<0, 1>(a, grp, nb, arow);
    else if (b.ma == 2) compute_block<1, 2>(a, grp, nb, arow);
    else compute_block<1, 1>(a, grp, nb, arow);
    if (has_pending) {
      store_pending(pending, cbuf);
      block_epilogue(a, n, pending, cbuf);
    }
    pending = b;
    has_pending = true;
    set ^= 1;
  };
  // Keep the larger operand cached: weights larger than this part's input rows -> one 16-channel
  // weight block at a time over all pixel runs (weights streamed once), else the reverse.
  const int64_t weight_bytes = int64_t(g.nblk16) * g.kh * g.kw * g.cpad * 16;
  const int64_t input_bytes = int64_t(row_end - row_begin) * g.stride_h * g.pad_cols * g.cpad;
  for (int grp = 0; grp < g.groups; ++grp) {
    if (weight_bytes > input_bytes) {
      for (int nb = 0; nb < g.nblk16; ++nb)
        for (int q = 0; q < total; q += 2) block(grp, q, nb);
    } else {
      for (int q = 0; q < total; q += 2)
        for (int nb = 0; nb < g.nblk16; ++nb) block(grp, q, nb);
    }
  }
  if (has_pending) {
    store_pending(pending, cbuf);
    block_epilogue(a, n, pending, cbuf);
  }
  _tile_release();
}

}  // namespace

void bconv_amx(BconvArgs* a) {
  const BconvGeom& g = a->g;
  if (!a->filter_ready) {
    pack_filter_amx(a);
    a->filter_ready = 1;
  }
  if (g.out_type == kOutBitpacked) {
    // bit = (K - D) > 2*t  <=>  D < K - 2*t; D lies in [-K, K], so clamping keeps every decision.
    for (int c = 0; c < g.cout; ++c) {
      int64_t t = int64_t(g.k) - 2 * int64_t(a->thresholds[c]);
      if (t < -int64_t(g.k) - 1) t = -int64_t(g.k) - 1;
      if (t > int64_t(g.k) + 1) t = int64_t(g.k) + 1;
      a->amx_thr[c] = int32_t(t);
    }
  }
  run_by_rows<unpack_input, run_rows_amx>(a);
}

// Measured TMUL ceiling: back-to-back TDPBSSD on four independent 16x16 accumulators from random
// +-1 tiles held in tile registers (operands like real ones; no loads), for `seconds`.
double amx_peak_gmacs(double seconds) {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  alignas(64) int8_t tiles[4][1024];
  uint32_t state = 12345;
  for (auto& tile : tiles)
    for (int8_t& v : tile) {
      state = state * 1664525u + 1013904223u;
      v = (state >> 31) ? 1 : -1;
    }
  _tile_loadconfig(&cfg);
  _tile_loadd(4, tiles[0], 64);
  _tile_loadd(5, tiles[1], 64);
  _tile_loadd(6, tiles[2], 64);
  _tile_loadd(7, tiles[3], 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const auto start = std::chrono::steady_clock::now();
  int64_t ops = 0;
  double elapsed = 0.0;
  do {
    for (int i = 0; i < 4096; ++i) {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 5, 6);
      _tile_dpbssd(2, 4, 7);
      _tile_dpbssd(3, 5, 7);
    }
    alignas(64) int32_t sink[256];
    _tile_stored(0, sink, 64);  // waits for the queued work
    ops += 4 * 4096;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  _tile_release();
  return double(ops) * 16 * 16 * 64 / elapsed / 1e9;
}

}  // namespace tfqnn

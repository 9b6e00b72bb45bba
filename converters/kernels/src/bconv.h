// Shared description of one LceBconv2d evaluation, passed from the op glue (ops.cc, baseline
// ISA) to the kernel translation units (bconv_scalar.cc, bconv_avx2.cc, bconv_avx512.cc).
// Only plain structs and raw pointers cross the boundary: every allocation happens in ops.cc,
// so no C++ template compiled with AVX-512 flags can be picked by the linker for baseline code.
#pragma once
#include <cstdint>

namespace tfqnn {

enum OutType : int { kOutFloat = 0, kOutInt8 = 1, kOutBitpacked = 2 };

struct BconvGeom {
  int batch, in_h, in_w;
  int words_in;      // int32 words per input pixel = ceil(channels_in / 32)
  int groups;
  int words_pg;      // int32 words per group (filter dim 3)
  int cin_pg;        // true input channels per group
  int kh, kw, cout, cout_pg;
  int stride_h, stride_w, dil_h, dil_w;
  int pad_h, pad_w;  // top / left padding (TFLite SAME offsets; 0 for VALID)
  int out_h, out_w;
  int k;             // kh * kw * cin_pg, the number of +-1 products per output
  int zero_pad;      // SAME with pad_values = 0: out-of-image taps count cin_pg / 2
  int out_type;      // OutType
  int out_words;     // ceil(cout / 32), bitpacked output words per pixel
  // derived sizes of the blocked layout used by the SIMD paths
  int w64;           // uint64 words per group and pixel = ceil(words_pg / 2)
  int blocks;        // 32-channel blocks per group = ceil(cout_pg / 32)
  int pad_rows, pad_cols;  // padded input extent covering every tap
  // derived sizes of the AMX path (bconv_amx.cc): +-1 int8 layout, channels padded to 64
  int cpad;          // round_up(cin_pg, 64) bytes per padded input pixel
  int nblk16;        // 16-channel output blocks per group = ceil(cout_pg / 16)
};

struct BconvArgs {
  BconvGeom g;
  const int32_t* input;    // [batch, in_h, in_w, words_in]
  const int32_t* filter;   // [cout, kh, kw, words_pg]
  void* output;
  const float* mul;        // per channel m' (already divided by the int8 scale for int8)
  const float* bias;       // per channel b' (int8: zero point added)
  const int32_t* thresholds;
  int32_t clamp_min, clamp_max;
  // scratch owned by the op (sizes from bconv_sizes in ops.cc)
  uint64_t* packed_filter; // [groups][blocks][kh][kw][w64][32]
  int32_t* tap_popcount;   // [kh*kw][cout], popcount of the filter bits of each tap
  uint64_t* padded;        // [groups][pad_rows][pad_cols][w64], one batch item
  int8_t* amx_filter;      // AMX path: [groups][nblk16][kh][kw][cpad/64][16 rows][64 bytes] VNNI tiles
  int8_t* amx_input;       // AMX path: [groups][pad_rows][pad_cols][cpad] +-1/0 bytes, then 16*stride_w*cpad
                           // bytes of slack read by the rows of a last, partial pixel tile
  int32_t* amx_thr;        // AMX path: [cout] thresholds on the +-1 dot product
  int filter_ready;        // packed_filter / tap_popcount (or amx_filter) already filled
  int threads;
  // Runs task(ctx, part, parts) for part = 0..parts-1 on persistent worker threads (ops.cc),
  // returning when all are done; part 0 runs on the calling thread.
  void (*parallel_for)(void (*task)(void* ctx, int part, int parts), void* ctx, int parts);
};

using BconvFn = void (*)(BconvArgs* a);

// LceQuantize of float input: bit i of word w of a pixel = (x[32*w + i] < 0); tail bits 0.
using QuantizeFn = void (*)(const float* x, int64_t pixels, int channels, uint32_t* out);
void quantize_float_scalar(const float* x, int64_t pixels, int channels, uint32_t* out);
void quantize_float_avx2(const float* x, int64_t pixels, int channels, uint32_t* out);
void quantize_float_avx512(const float* x, int64_t pixels, int channels, uint32_t* out);

void bconv_scalar(BconvArgs* a);
void bconv_avx2(BconvArgs* a);
void bconv_avx512(BconvArgs* a);
void bconv_amx(BconvArgs* a);
// G int8 MACs/s of back-to-back TDPBSSD on random +-1 tiles over `seconds` (AMX CPUs only).
double amx_peak_gmacs(double seconds);

}  // namespace tfqnn

// TFLite glue for the four LCE 0.16 ops (LceQuantize, LceDequantize, LceBconv2d, LceBMaxPool2d):
// option parsing, validation of every tensor and option in Prepare (a flatbuffer is untrusted
// input: any inconsistency ends in ReportError + kTfLiteError, never an out-of-bounds access),
// CPU dispatch, and registration through tflite::MutableOpResolver::AddCustom, looked up in
// TensorFlow's libtensorflow_cc.so.2 (specs/x86-kernels.md §1).
#include <cpuid.h>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bconv.h"
#include "flexmap.h"
#include "tflite_abi.h"

namespace tfqnn {
namespace {

constexpr int64_t kMaxDim = 1 << 24;
constexpr int64_t kMaxElements = int64_t(1) << 31;
constexpr int64_t kMaxOption = 1 << 16;

// ------------------------------------------------------------------ dispatch
struct Path {
  const char* name;
  BconvFn bconv;
  QuantizeFn quantize_float;
};
const Path kScalar{"scalar", bconv_scalar, quantize_float_scalar};
const Path kAvx2{"avx2", bconv_avx2, quantize_float_avx2};
const Path kAvx512{"avx512", bconv_avx512, quantize_float_avx512};
const Path kAmx{"amx", bconv_amx, quantize_float_avx512};

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"); }
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq") && cpu_has_avx2();
}

// AMX-INT8 usable: CPUID.7.0:EDX bits 24 (AMX-TILE) and 25 (AMX-INT8), the OS saves the tile
// state (XCR0 bits 17, 18), and Linux grants this process the tile data (arch_prctl
// ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18; process-wide, asked once). The epilogue
// and the unpacking use AVX-512BW.
bool cpu_has_amx() {
  static const bool ok = [] {
    if (!cpu_has_avx512() || !__builtin_cpu_supports("avx512bw")) return false;
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    if (!((edx >> 24) & 1) || !((edx >> 25) & 1)) return false;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1)) return false;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3) != 3) return false;
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return ok;
}

const Path* g_path = nullptr;
bool g_path_forced = false;  // TFQNN_KERNELS named the path: every layer runs on it
std::string g_error;

// AMX tiles hold up to 16 pixels of one output row; below 8 (tiny feature maps, e.g. CIFAR
// ResNets' last stages) most of each TDPBSSD is idle and the +-1 byte weights (8x the bits) are
// streamed for a handful of pixels, so the automatic choice keeps such layers on AVX-512
// (measured crossover: benchmarks/results/x86_kernels.txt, docs/x86_kernels.md).
constexpr int kAmxMinOutWidth = 8;

// Choose the path: TFQNN_KERNELS=scalar|avx2|avx512|amx forces one (an unsupported or unknown
// value is an error), otherwise the best one this CPU has.
const Path* choose_path(std::string* err) {
  const char* env = std::getenv("TFQNN_KERNELS");
  g_path_forced = env != nullptr && *env != '\0' && std::strcmp(env, "auto") != 0;
  if (g_path_forced) {
    if (std::strcmp(env, "scalar") == 0) return &kScalar;
    if (std::strcmp(env, "avx2") == 0) {
      if (cpu_has_avx2()) return &kAvx2;
      *err = "TFQNN_KERNELS=avx2 but this CPU has no AVX2";
      return nullptr;
    }
    if (std::strcmp(env, "avx512") == 0) {
      if (cpu_has_avx512()) return &kAvx512;
      *err = "TFQNN_KERNELS=avx512 but this CPU has no AVX-512 VPOPCNTDQ";
      return nullptr;
    }
    if (std::strcmp(env, "amx") == 0) {
      if (cpu_has_amx()) return &kAmx;
      *err = "TFQNN_KERNELS=amx but this CPU (or OS) offers no AMX-INT8";
      return nullptr;
    }
    *err = std::string("TFQNN_KERNELS must be scalar, avx2, avx512, amx or auto, got '") + env + "'";
    return nullptr;
  }
  if (cpu_has_amx()) return &kAmx;
  if (cpu_has_avx512()) return &kAvx512;
  if (cpu_has_avx2()) return &kAvx2;
  return &kScalar;
}

// ------------------------------------------------------------------ persistent worker threads
// Workers are started on first use and live until process exit; a call hands parts 1..n-1 to
// them and runs part 0 itself. Calls from several interpreters are serialised. Between layers
// the gap is a few microseconds, far below a condition-variable wake-up (~20 us measured): a
// worker spins on the generation counter for kSpin polls after each task before it sleeps, and
// the caller spins for the parts to finish, so back-to-back layers hand work over without a
// syscall (the usual spin-then-block scheme of thread pools such as pthreadpool).
class Pool {
 public:
  static constexpr int kMaxParts = 8;
  static constexpr int kSpin = 20000;  // ~0.2 ms of PAUSE polling (~9 ns each measured here), then block

  void run(void (*task)(void*, int, int), void* ctx, int parts) {
    if (parts > kMaxParts) parts = kMaxParts;
    std::lock_guard<std::mutex> serial(call_mutex_);
    {
      std::unique_lock<std::mutex> lock(m_);
      while (int(workers_.size()) < parts - 1) {
        const int id = int(workers_.size()) + 1;
        workers_.emplace_back([this, id] { loop(id); });
      }
      task_ = task;
      ctx_ = ctx;
      parts_ = parts;
      pending_.store(parts - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    task(ctx, 0, parts);
    for (int i = 0; i < kSpin && pending_.load(std::memory_order_acquire) != 0; ++i) pause();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lock(m_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpin && generation_.load(std::memory_order_acquire) == seen; ++i) pause();
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      if (id >= parts_) continue;
      auto* task = task_;
      void* ctx = ctx_;
      const int parts = parts_;
      lock.unlock();
      task(ctx, id, parts);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> done_lock(m_);
        done_.notify_one();
      }
    }
  }

  std::mutex call_mutex_, m_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> workers_;
  void (*task_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  int parts_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
};

void parallel_for(void (*task)(void*, int, int), void* ctx, int parts) {
  static Pool pool;
  pool.run(task, ctx, parts);
}

// ------------------------------------------------------------------ tensor helpers
#define TFQNN_ENSURE(ctx, cond, ...)          \
  do {                                        \
    if (!(cond)) {                            \
      (ctx)->ReportError((ctx), __VA_ARGS__); \
      return kTfLiteError;                    \
    }                                         \
  } while (0)

// The tensor at position i of `list`, nullptr for an absent optional one (-1); `bad` is set for
// an index outside the context's tensors.
TfLiteTensor* tensor_at(TfLiteContext* ctx, const TfLiteIntArray* list, int i, bool* bad) {
  if (list == nullptr || i >= list->size) {
    *bad = true;
    return nullptr;
  }
  const int idx = list->data[i];
  if (idx == -1) return nullptr;
  if (idx < 0 || size_t(idx) >= ctx->tensors_size) {
    *bad = true;
    return nullptr;
  }
  return &ctx->tensors[idx];
}

int64_t num_elements(const TfLiteIntArray* dims) {
  int64_t n = 1;
  for (int i = 0; i < dims->size; ++i) n *= dims->data[i];
  return n;
}

// Every dimension in [1, kMaxDim] and the product below kMaxElements.
bool sane_dims(const TfLiteTensor* t, int min_rank, int max_rank) {
  if (t == nullptr || t->dims == nullptr) return false;
  const TfLiteIntArray* d = t->dims;
  if (d->size < min_rank || d->size > max_rank) return false;
  int64_t n = 1;
  for (int i = 0; i < d->size; ++i) {
    if (d->data[i] < 1 || d->data[i] > kMaxDim) return false;
    n *= d->data[i];
    if (n > kMaxElements) return false;
  }
  return true;
}

size_t type_size(TfLiteType t) {
  switch (t) {
    case kTfLiteFloat32:
    case kTfLiteInt32:
      return 4;
    case kTfLiteInt8:
    case kTfLiteBool:
    case kTfLiteUInt8:
      return 1;
    default:
      return 0;
  }
}

// The data is present and holds at least the elements its dims declare.
bool has_data(const TfLiteTensor* t) {
  if (t == nullptr || t->data.data == nullptr || t->dims == nullptr) return false;
  const size_t es = type_size(t->type);
  return es != 0 && t->bytes >= size_t(num_elements(t->dims)) * es;
}

TfLiteIntArray* new_dims(int rank) {
  auto* a = static_cast<TfLiteIntArray*>(std::malloc(sizeof(int) * (1 + rank)));
  if (a != nullptr) a->size = rank;
  return a;
}

TfLiteStatus resize(TfLiteContext* ctx, TfLiteTensor* t, TfLiteIntArray* dims) {
  if (dims == nullptr) {
    ctx->ReportError(ctx, "tfqnn: out of memory");
    return kTfLiteError;
  }
  return ctx->ResizeTensor(ctx, t, dims);  // takes ownership
}

bool per_tensor_quant(const TfLiteTensor* t, float* scale, int32_t* zp) {
  if (t->quantization.type == kTfLiteAffineQuantization && t->quantization.params != nullptr) {
    const auto* q = static_cast<const TfLiteAffineQuantization*>(t->quantization.params);
    if (q->scale == nullptr || q->zero_point == nullptr || q->scale->size != 1 || q->zero_point->size != 1)
      return false;
    *scale = q->scale->data[0];
    *zp = q->zero_point->data[0];
  } else {
    *scale = t->params.scale;
    *zp = t->params.zero_point;
  }
  return std::isfinite(*scale) && *scale > 0.0f && *zp >= -128 && *zp <= 127;
}

struct OptionData {
  std::vector<uint8_t> options;
  const Path* path = nullptr;
};

void* init_options(TfLiteContext*, const char* buffer, size_t length) {
  auto* d = new OptionData;
  d->path = g_path;
  if (buffer != nullptr && length > 0) d->options.assign(buffer, buffer + length);
  return d;
}

// Reads the required int options `keys` into `out`; reports the first missing / out-of-range.
TfLiteStatus read_options(TfLiteContext* ctx, const std::vector<uint8_t>& buf, const char* op,
                          const char* const* keys, int n, int64_t* out) {
  FlexIntMap m(buf.data(), buf.size());
  TFQNN_ENSURE(ctx, m.ok(), "%s: custom options are not a flexbuffers map", op);
  for (int i = 0; i < n; ++i) {
    TFQNN_ENSURE(ctx, m.get_int(keys[i], &out[i]), "%s: option '%s' is missing or not an integer", op, keys[i]);
    TFQNN_ENSURE(ctx, out[i] >= 0 && out[i] <= kMaxOption, "%s: option '%s' = %lld is out of range", op, keys[i],
                 static_cast<long long>(out[i]));
  }
  return kTfLiteOk;
}

// TFLite's output size and SAME offset (tensorflow/lite/kernels/padding.h semantics).
bool conv_out(int in, int k, int stride, int dil, bool same, int* out, int* pad) {
  const int64_t eff = int64_t(k - 1) * dil + 1;
  int64_t o = same ? (int64_t(in) + stride - 1) / stride : (int64_t(in) - eff + stride) / stride;
  if (o < 1 || o > kMaxDim) return false;
  const int64_t total = (o - 1) * stride + eff - in;
  *out = int(o);
  *pad = total > 0 ? int(total / 2) : 0;
  return true;
}

// ------------------------------------------------------------------ LceQuantize
TfLiteStatus quantize_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  bool bad = false;
  TFQNN_ENSURE(ctx, node->inputs && node->outputs && node->inputs->size == 1 && node->outputs->size == 1,
               "LceQuantize: needs 1 input and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && out, "LceQuantize: bad tensor index");
  TFQNN_ENSURE(ctx, in->type == kTfLiteFloat32 || in->type == kTfLiteInt8 || in->type == kTfLiteBool,
               "LceQuantize: input must be float32, int8 or bool");
  TFQNN_ENSURE(ctx, out->type == kTfLiteInt32, "LceQuantize: output must be int32");
  TFQNN_ENSURE(ctx, sane_dims(in, 1, 8), "LceQuantize: invalid input shape");
  if (in->type == kTfLiteInt8) {
    float s;
    int32_t zp;
    TFQNN_ENSURE(ctx, per_tensor_quant(in, &s, &zp), "LceQuantize: int8 input needs per-tensor quantization");
  }
  const int rank = in->dims->size;
  TfLiteIntArray* d = new_dims(rank);
  if (d != nullptr) {
    for (int i = 0; i < rank; ++i) d->data[i] = in->dims->data[i];
    d->data[rank - 1] = (in->dims->data[rank - 1] + 31) / 32;
  }
  return resize(ctx, out, d);
}

TfLiteStatus quantize_eval(TfLiteContext* ctx, TfLiteNode* node) {
  bool bad = false;
  const TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && out && has_data(in) && has_data(out), "LceQuantize: missing tensor data");
  const int c = in->dims->data[in->dims->size - 1];
  const int words = (c + 31) / 32;
  const int64_t pixels = num_elements(in->dims) / c;
  TFQNN_ENSURE(ctx, out->bytes >= size_t(pixels * words) * 4, "LceQuantize: output too small");
  int32_t zp = 0;
  float s;
  if (in->type == kTfLiteInt8) per_tensor_quant(in, &s, &zp);
  uint32_t* o = reinterpret_cast<uint32_t*>(out->data.i32);
  const auto* d = static_cast<const OptionData*>(node->user_data);
  if (in->type == kTfLiteFloat32 && d != nullptr && d->path != nullptr) {
    d->path->quantize_float(in->data.f, pixels, c, o);
    return kTfLiteOk;
  }
  for (int64_t p = 0; p < pixels; ++p) {
    for (int w = 0; w < words; ++w) {
      uint32_t bits = 0;
      const int n = c - 32 * w < 32 ? c - 32 * w : 32;
      const int64_t base = p * c + 32 * w;
      if (in->type == kTfLiteFloat32) {
        const float* x = in->data.f + base;
        for (int i = 0; i < n; ++i) bits |= uint32_t(x[i] < 0.0f) << i;
      } else if (in->type == kTfLiteInt8) {
        const int8_t* x = in->data.int8 + base;
        for (int i = 0; i < n; ++i) bits |= uint32_t(x[i] < zp) << i;
      } else {
        const uint8_t* x = in->data.uint8 + base;
        for (int i = 0; i < n; ++i) bits |= uint32_t(x[i] == 0) << i;
      }
      o[p * words + w] = bits;
    }
  }
  return kTfLiteOk;
}

// ------------------------------------------------------------------ LceDequantize
TfLiteStatus dequantize_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  bool bad = false;
  TFQNN_ENSURE(ctx, node->inputs && node->outputs && node->inputs->size == 1 && node->outputs->size == 1,
               "LceDequantize: needs 1 input and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && out, "LceDequantize: bad tensor index");
  TFQNN_ENSURE(ctx, in->type == kTfLiteInt32, "LceDequantize: input must be int32");
  TFQNN_ENSURE(ctx, out->type == kTfLiteFloat32 || out->type == kTfLiteInt8 || out->type == kTfLiteBool,
               "LceDequantize: output must be float32, int8 or bool");
  TFQNN_ENSURE(ctx, sane_dims(in, 1, 8) && sane_dims(out, 1, 8), "LceDequantize: invalid shape");
  const int rank = in->dims->size;
  TFQNN_ENSURE(ctx, out->dims->size == rank, "LceDequantize: input and output ranks differ");
  const int c = out->dims->data[rank - 1];
  TFQNN_ENSURE(ctx, (c + 31) / 32 == in->dims->data[rank - 1],
               "LceDequantize: output channels %d do not match %d packed words", c, in->dims->data[rank - 1]);
  if (out->type == kTfLiteInt8) {
    float s;
    int32_t zp;
    TFQNN_ENSURE(ctx, per_tensor_quant(out, &s, &zp), "LceDequantize: int8 output needs per-tensor quantization");
  }
  TfLiteIntArray* d = new_dims(rank);
  if (d != nullptr) {
    for (int i = 0; i < rank; ++i) d->data[i] = in->dims->data[i];
    d->data[rank - 1] = c;
  }
  return resize(ctx, out, d);
}

TfLiteStatus dequantize_eval(TfLiteContext* ctx, TfLiteNode* node) {
  bool bad = false;
  const TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && out && has_data(in) && has_data(out), "LceDequantize: missing tensor data");
  const int c = out->dims->data[out->dims->size - 1];
  const int words = (c + 31) / 32;
  const int64_t pixels = num_elements(out->dims) / c;
  TFQNN_ENSURE(ctx, in->bytes >= size_t(pixels * words) * 4, "LceDequantize: input too small");
  const uint32_t* x = reinterpret_cast<const uint32_t*>(in->data.i32);
  int8_t plus = 1, minus = -1;
  if (out->type == kTfLiteInt8) {
    float s;
    int32_t zp;
    per_tensor_quant(out, &s, &zp);
    const float r = std::round(1.0f / s);
    const float hi = float(zp) + r, lo = float(zp) - r;
    plus = int8_t(hi > 127.0f ? 127.0f : hi);
    minus = int8_t(lo < -128.0f ? -128.0f : lo);
  }
  for (int64_t p = 0; p < pixels; ++p)
    for (int i = 0; i < c; ++i) {
      const bool neg = (x[p * words + (i >> 5)] >> (i & 31)) & 1u;
      const int64_t k = p * c + i;
      if (out->type == kTfLiteFloat32) {
        out->data.f[k] = neg ? -1.0f : 1.0f;
      } else if (out->type == kTfLiteInt8) {
        out->data.int8[k] = neg ? minus : plus;
      } else {
        out->data.uint8[k] = neg ? 0 : 1;
      }
    }
  return kTfLiteOk;
}

// ------------------------------------------------------------------ LceBMaxPool2d
struct PoolData : OptionData {
  int same = 0, sh = 1, sw = 1, fh = 1, fw = 1, out_h = 0, out_w = 0, pad_h = 0, pad_w = 0;
};

void* pool_init(TfLiteContext*, const char* buffer, size_t length) {
  auto* d = new PoolData;
  if (buffer != nullptr && length > 0) d->options.assign(buffer, buffer + length);
  return d;
}
void pool_free(TfLiteContext*, void* p) { delete static_cast<PoolData*>(p); }

TfLiteStatus pool_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  auto* d = static_cast<PoolData*>(node->user_data);
  TFQNN_ENSURE(ctx, d != nullptr, "LceBMaxPool2d: no op data");
  static const char* const keys[] = {"padding", "stride_height", "stride_width", "filter_height", "filter_width"};
  int64_t v[5];
  if (read_options(ctx, d->options, "LceBMaxPool2d", keys, 5, v) != kTfLiteOk) return kTfLiteError;
  TFQNN_ENSURE(ctx, v[0] == 0 || v[0] == 1, "LceBMaxPool2d: padding must be 0 (SAME) or 1 (VALID)");
  TFQNN_ENSURE(ctx, v[1] >= 1 && v[2] >= 1 && v[3] >= 1 && v[4] >= 1, "LceBMaxPool2d: strides and filter must be >= 1");
  d->same = v[0] == 0;
  d->sh = int(v[1]);
  d->sw = int(v[2]);
  d->fh = int(v[3]);
  d->fw = int(v[4]);
  bool bad = false;
  TFQNN_ENSURE(ctx, node->inputs && node->outputs && node->inputs->size == 1 && node->outputs->size == 1,
               "LceBMaxPool2d: needs 1 input and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && out, "LceBMaxPool2d: bad tensor index");
  TFQNN_ENSURE(ctx, in->type == kTfLiteInt32 && out->type == kTfLiteInt32, "LceBMaxPool2d: tensors must be int32");
  TFQNN_ENSURE(ctx, sane_dims(in, 4, 4), "LceBMaxPool2d: input must be 4-D");
  TFQNN_ENSURE(ctx, conv_out(in->dims->data[1], d->fh, d->sh, 1, d->same, &d->out_h, &d->pad_h) &&
                        conv_out(in->dims->data[2], d->fw, d->sw, 1, d->same, &d->out_w, &d->pad_w),
               "LceBMaxPool2d: filter larger than the input");
  TfLiteIntArray* o = new_dims(4);
  if (o != nullptr) {
    o->data[0] = in->dims->data[0];
    o->data[1] = d->out_h;
    o->data[2] = d->out_w;
    o->data[3] = in->dims->data[3];
  }
  return resize(ctx, out, o);
}

TfLiteStatus pool_eval(TfLiteContext* ctx, TfLiteNode* node) {
  auto* d = static_cast<PoolData*>(node->user_data);
  bool bad = false;
  const TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && out && has_data(in) && has_data(out), "LceBMaxPool2d: missing tensor data");
  const int n_b = in->dims->data[0], h = in->dims->data[1], w = in->dims->data[2], c = in->dims->data[3];
  TFQNN_ENSURE(ctx, out->bytes >= size_t(int64_t(n_b) * d->out_h * d->out_w * c) * 4, "LceBMaxPool2d: output too small");
  const uint32_t* x = reinterpret_cast<const uint32_t*>(in->data.i32);
  uint32_t* y = reinterpret_cast<uint32_t*>(out->data.i32);
  std::vector<uint32_t> acc(c);
  for (int n = 0; n < n_b; ++n)
    for (int oy = 0; oy < d->out_h; ++oy)
      for (int ox = 0; ox < d->out_w; ++ox) {
        for (int k = 0; k < c; ++k) acc[k] = ~0u;
        bool any = false;
        for (int fy = 0; fy < d->fh; ++fy) {
          const int iy = oy * d->sh - d->pad_h + fy;
          if (iy < 0 || iy >= h) continue;
          for (int fx = 0; fx < d->fw; ++fx) {
            const int ix = ox * d->sw - d->pad_w + fx;
            if (ix < 0 || ix >= w) continue;
            any = true;
            const uint32_t* px = x + ((int64_t(n) * h + iy) * w + ix) * c;
            for (int k = 0; k < c; ++k) acc[k] &= px[k];
          }
        }
        uint32_t* py = y + ((int64_t(n) * d->out_h + oy) * d->out_w + ox) * c;
        for (int k = 0; k < c; ++k) py[k] = any ? acc[k] : 0u;
      }
  return kTfLiteOk;
}

// ------------------------------------------------------------------ LceBconv2d
int8_t* align64(int8_t* p) {
  return p == nullptr ? p : p + ((64 - reinterpret_cast<uintptr_t>(p) % 64) % 64);
}

struct BconvData : OptionData {
  BconvGeom g{};
  int64_t channels_in = 0;
  int act = 0;
  std::vector<float> mul, bias;
  std::vector<uint64_t> packed_filter, padded;
  std::vector<int32_t> tap_popcount;
  std::vector<int8_t> amx_filter, amx_input;
  std::vector<int32_t> amx_thr;
  int filter_ready = 0;
  const void* filter_seen = nullptr;
  bool forced = false;        // g_path_forced at init
  BconvFn kernel = nullptr;   // this layer's kernel (Prepare: the path's, or AVX-512 for small AMX layers)
};

void* bconv_init(TfLiteContext*, const char* buffer, size_t length) {
  auto* d = new BconvData;
  if (buffer != nullptr && length > 0) d->options.assign(buffer, buffer + length);
  d->path = g_path;
  d->forced = g_path_forced;
  return d;
}
void bconv_free(TfLiteContext*, void* p) { delete static_cast<BconvData*>(p); }

TfLiteStatus check_vector(TfLiteContext* ctx, const TfLiteTensor* t, TfLiteType type, int n, const char* what) {
  TFQNN_ENSURE(ctx, t != nullptr, "LceBconv2d: %s is missing", what);
  TFQNN_ENSURE(ctx, t->type == type, "LceBconv2d: %s has the wrong type", what);
  TFQNN_ENSURE(ctx, sane_dims(t, 1, 1) && t->dims->data[0] == n, "LceBconv2d: %s must have shape [%d]", what, n);
  return kTfLiteOk;
}

TfLiteStatus bconv_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  auto* d = static_cast<BconvData*>(node->user_data);
  TFQNN_ENSURE(ctx, d != nullptr && d->path != nullptr, "LceBconv2d: no kernel path selected");
  static const char* const keys[] = {"channels_in", "stride_height", "stride_width", "dilation_height_factor",
                                     "dilation_width_factor", "padding", "pad_values", "fused_activation_function"};
  int64_t v[8];
  if (read_options(ctx, d->options, "LceBconv2d", keys, 8, v) != kTfLiteOk) return kTfLiteError;
  TFQNN_ENSURE(ctx, v[0] >= 1, "LceBconv2d: channels_in must be >= 1");
  TFQNN_ENSURE(ctx, v[1] >= 1 && v[2] >= 1 && v[3] >= 1 && v[4] >= 1, "LceBconv2d: strides and dilations must be >= 1");
  TFQNN_ENSURE(ctx, v[5] == 0 || v[5] == 1, "LceBconv2d: padding must be 0 (SAME) or 1 (VALID)");
  TFQNN_ENSURE(ctx, v[6] == 0 || v[6] == 1, "LceBconv2d: pad_values must be 0 or 1");
  TFQNN_ENSURE(ctx, v[7] >= 0 && v[7] <= 3, "LceBconv2d: fused_activation_function must be 0..3");

  bool bad = false;
  TFQNN_ENSURE(ctx, node->inputs && node->outputs && node->inputs->size == 5 && node->outputs->size == 1,
               "LceBconv2d: needs 5 inputs and 1 output");
  const TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  const TfLiteTensor* filt = tensor_at(ctx, node->inputs, 1, &bad);
  const TfLiteTensor* mul = tensor_at(ctx, node->inputs, 2, &bad);
  const TfLiteTensor* bias = tensor_at(ctx, node->inputs, 3, &bad);
  const TfLiteTensor* thr = tensor_at(ctx, node->inputs, 4, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && in && filt && out, "LceBconv2d: bad tensor index");
  TFQNN_ENSURE(ctx, in->type == kTfLiteInt32, "LceBconv2d: input must be bitpacked int32");
  TFQNN_ENSURE(ctx, filt->type == kTfLiteInt32, "LceBconv2d: filter must be bitpacked int32");
  TFQNN_ENSURE(ctx, sane_dims(in, 4, 4) && sane_dims(filt, 4, 4), "LceBconv2d: input and filter must be 4-D");
  TFQNN_ENSURE(ctx, filt->allocation_type == kTfLiteMmapRo, "LceBconv2d: filter must be a constant tensor");

  BconvGeom& g = d->g;
  g = BconvGeom{};
  g.batch = in->dims->data[0];
  g.in_h = in->dims->data[1];
  g.in_w = in->dims->data[2];
  g.words_in = in->dims->data[3];
  TFQNN_ENSURE(ctx, (v[0] + 31) / 32 == g.words_in, "LceBconv2d: channels_in %lld does not match %d packed words",
               static_cast<long long>(v[0]), g.words_in);
  g.cout = filt->dims->data[0];
  g.kh = filt->dims->data[1];
  g.kw = filt->dims->data[2];
  g.words_pg = filt->dims->data[3];
  TFQNN_ENSURE(ctx, g.words_in % g.words_pg == 0, "LceBconv2d: filter depth %d does not divide input depth %d",
               g.words_pg, g.words_in);
  g.groups = g.words_in / g.words_pg;
  TFQNN_ENSURE(ctx, g.cout % g.groups == 0, "LceBconv2d: %d output channels not divisible by %d groups", g.cout,
               g.groups);
  if (g.groups > 1) {
    TFQNN_ENSURE(ctx, v[0] % (32 * g.groups) == 0, "LceBconv2d: grouped input channels must be multiples of 32");
  }
  g.cin_pg = int(v[0] / g.groups);
  g.cout_pg = g.cout / g.groups;
  g.stride_h = int(v[1]);
  g.stride_w = int(v[2]);
  g.dil_h = int(v[3]);
  g.dil_w = int(v[4]);
  const bool same = v[5] == 0;
  TFQNN_ENSURE(ctx, conv_out(g.in_h, g.kh, g.stride_h, g.dil_h, same, &g.out_h, &g.pad_h) &&
                        conv_out(g.in_w, g.kw, g.stride_w, g.dil_w, same, &g.out_w, &g.pad_w),
               "LceBconv2d: filter larger than the input");
  const int64_t k = int64_t(g.kh) * g.kw * g.cin_pg;
  TFQNN_ENSURE(ctx, k < (int64_t(1) << 28), "LceBconv2d: filter too large");
  g.k = int(k);
  g.zero_pad = same && v[6] == 0;
  d->act = int(v[7]);
  TFQNN_ENSURE(ctx, !(g.zero_pad && d->act != 0), "LceBconv2d: fused activations need VALID or one-padding");
  g.out_words = (g.cout + 31) / 32;

  if (out->type == kTfLiteInt32) {
    g.out_type = kOutBitpacked;
    TFQNN_ENSURE(ctx, !g.zero_pad, "LceBconv2d: bitpacked output needs VALID or one-padding");
    if (check_vector(ctx, thr, kTfLiteInt32, g.cout, "thresholds") != kTfLiteOk) return kTfLiteError;
  } else {
    TFQNN_ENSURE(ctx, out->type == kTfLiteFloat32 || out->type == kTfLiteInt8,
                 "LceBconv2d: output must be float32, int8 or bitpacked int32");
    g.out_type = out->type == kTfLiteFloat32 ? kOutFloat : kOutInt8;
    if (check_vector(ctx, mul, kTfLiteFloat32, g.cout, "post_activation_multiplier") != kTfLiteOk) return kTfLiteError;
    if (check_vector(ctx, bias, kTfLiteFloat32, g.cout, "post_activation_bias") != kTfLiteOk) return kTfLiteError;
    if (g.out_type == kOutInt8) {
      float s;
      int32_t zp;
      TFQNN_ENSURE(ctx, per_tensor_quant(out, &s, &zp), "LceBconv2d: int8 output needs per-tensor quantization");
    }
  }
  const int64_t out_elems = int64_t(g.batch) * g.out_h * g.out_w * (g.out_type == kOutBitpacked ? g.out_words : g.cout);
  TFQNN_ENSURE(ctx, out_elems < kMaxElements, "LceBconv2d: output too large");

  g.w64 = (g.words_pg + 1) / 2;
  g.blocks = (g.cout_pg + 31) / 32;
  g.pad_rows = (g.out_h - 1) * g.stride_h + (g.kh - 1) * g.dil_h + 1;
  g.pad_cols = (g.out_w - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1;
  const int64_t packed = int64_t(g.groups) * g.blocks * g.kh * g.kw * g.w64 * 32;
  const int64_t padded = int64_t(g.groups) * g.pad_rows * g.pad_cols * g.w64;
  TFQNN_ENSURE(ctx, packed < kMaxElements && padded < kMaxElements, "LceBconv2d: shapes too large");
  g.cpad = (g.cin_pg + 63) / 64 * 64;
  g.nblk16 = (g.cout_pg + 15) / 16;
  d->kernel = d->path->bconv;
  if (d->path == &kAmx && !d->forced && g.out_w < kAmxMinOutWidth) d->kernel = bconv_avx512;
  if (d->kernel == bconv_amx) {
    const int64_t filter_bytes = int64_t(g.groups) * g.nblk16 * g.kh * g.kw * g.cpad * 16;
    // one group plane per group, plus the slack read past the last row by a partial pixel tile
    const int64_t input_bytes = (int64_t(g.groups) * g.pad_rows * g.pad_cols + 16 * int64_t(g.stride_w)) * g.cpad;
    TFQNN_ENSURE(ctx, filter_bytes < kMaxElements && input_bytes < kMaxElements, "LceBconv2d: shapes too large");
    // + 64: the tiles are used from a 64-byte aligned start (rows never straddle cache lines)
    d->amx_filter.assign(size_t(filter_bytes) + 64, 0);
    d->amx_input.assign(size_t(input_bytes) + 64, 0);
    d->amx_thr.assign(size_t(g.cout), 0);
  } else if (d->kernel != bconv_scalar) {
    d->packed_filter.assign(size_t(packed), 0);
    d->padded.assign(size_t(padded), 0);
    d->tap_popcount.assign(size_t(g.kh) * g.kw * g.cout, 0);
  }
  d->mul.assign(size_t(g.cout), 0.0f);
  d->bias.assign(size_t(g.cout), 0.0f);
  d->filter_ready = 0;

  TfLiteIntArray* o = new_dims(4);
  if (o != nullptr) {
    o->data[0] = g.batch;
    o->data[1] = g.out_h;
    o->data[2] = g.out_w;
    o->data[3] = g.out_type == kOutBitpacked ? g.out_words : g.cout;
  }
  return resize(ctx, out, o);
}

TfLiteStatus bconv_eval(TfLiteContext* ctx, TfLiteNode* node) {
  auto* d = static_cast<BconvData*>(node->user_data);
  const BconvGeom& g = d->g;
  bool bad = false;
  const TfLiteTensor* in = tensor_at(ctx, node->inputs, 0, &bad);
  const TfLiteTensor* filt = tensor_at(ctx, node->inputs, 1, &bad);
  const TfLiteTensor* mul = tensor_at(ctx, node->inputs, 2, &bad);
  const TfLiteTensor* bias = tensor_at(ctx, node->inputs, 3, &bad);
  const TfLiteTensor* thr = tensor_at(ctx, node->inputs, 4, &bad);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0, &bad);
  TFQNN_ENSURE(ctx, !bad && has_data(in) && has_data(filt) && has_data(out), "LceBconv2d: missing tensor data");
  TFQNN_ENSURE(ctx, in->bytes >= size_t(int64_t(g.batch) * g.in_h * g.in_w * g.words_in) * 4 &&
                        filt->bytes >= size_t(int64_t(g.cout) * g.kh * g.kw * g.words_pg) * 4,
               "LceBconv2d: input or filter smaller than its shape");
  BconvArgs a{};
  a.g = g;
  a.input = in->data.i32;
  a.filter = filt->data.i32;
  a.output = out->data.data;
  a.threads = ctx->recommended_num_threads > 0 ? ctx->recommended_num_threads : 1;
  a.parallel_for = parallel_for;
  if (g.out_type == kOutBitpacked) {
    TFQNN_ENSURE(ctx, has_data(thr), "LceBconv2d: thresholds have no data");
    a.thresholds = thr->data.i32;
  } else {
    TFQNN_ENSURE(ctx, has_data(mul) && has_data(bias), "LceBconv2d: multiplier or bias have no data");
    // Activation range on the +-1 convolution value, limited to [-K, K], mapped onto 2*acc.
    int64_t lo = -g.k, hi = g.k;
    if (d->act == 1) lo = 0;
    if (d->act == 2) lo = -1, hi = 1;
    if (d->act == 3) lo = 0, hi = 6;
    if (lo < -g.k) lo = -g.k;
    if (hi > g.k) hi = g.k;
    a.clamp_min = int32_t(g.k - hi);
    a.clamp_max = int32_t(g.k - lo);
    double scale = 1.0, zp = 0.0;
    if (g.out_type == kOutInt8) {
      float s;
      int32_t z;
      per_tensor_quant(out, &s, &z);
      scale = s;
      zp = z;
    }
    for (int c = 0; c < g.cout; ++c) {
      const double m = mul->data.f[c], b = bias->data.f[c];
      if (g.out_type == kOutFloat) {
        d->mul[c] = float(-m);
        d->bias[c] = float(b + double(g.k) * m);
      } else {
        d->mul[c] = float(-m / scale);
        d->bias[c] = float((b + double(g.k) * m) / scale + zp);
      }
    }
    a.mul = d->mul.data();
    a.bias = d->bias.data();
  }
  if (d->filter_seen != filt->data.data) d->filter_ready = 0;  // re-pack if the filter moved
  a.packed_filter = d->packed_filter.data();
  a.tap_popcount = d->tap_popcount.data();
  a.padded = d->padded.data();
  a.amx_filter = align64(d->amx_filter.data());
  a.amx_input = align64(d->amx_input.data());
  a.amx_thr = d->amx_thr.data();
  a.filter_ready = d->filter_ready;
  d->kernel(&a);
  d->filter_ready = a.filter_ready;
  d->filter_seen = filt->data.data;
  return kTfLiteOk;
}

// ------------------------------------------------------------------ registrations
void options_free(TfLiteContext*, void* p) { delete static_cast<OptionData*>(p); }

TfLiteRegistration make_reg(const char* name, void* (*init)(TfLiteContext*, const char*, size_t),
                            void (*fr)(TfLiteContext*, void*), TfLiteStatus (*prep)(TfLiteContext*, TfLiteNode*),
                            TfLiteStatus (*eval)(TfLiteContext*, TfLiteNode*)) {
  TfLiteRegistration r{};
  r.init = init;
  r.free = fr;
  r.prepare = prep;
  r.invoke = eval;
  r.builtin_code = 32;  // BuiltinOperator_CUSTOM
  r.custom_name = name;
  r.version = 1;
  return r;
}

using AddCustomFn = void (*)(void* resolver, const char* name, const TfLiteRegistration* reg, int version);
constexpr const char* kAddCustom = "_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi";

AddCustomFn find_add_custom(std::string* err) {
  void* h = dlopen("libtensorflow_cc.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) {
    *err = "libtensorflow_cc.so.2 is not loaded in this process (import tensorflow first)";
    return nullptr;
  }
  void* f = dlsym(h, kAddCustom);
  dlclose(h);  // RTLD_NOLOAD took a reference; TensorFlow keeps the library loaded
  if (f == nullptr) {
    *err = "libtensorflow_cc.so.2 does not export tflite::MutableOpResolver::AddCustom";
    return nullptr;
  }
  return reinterpret_cast<AddCustomFn>(f);
}

}  // namespace
}  // namespace tfqnn

extern "C" {

// Called by InterpreterWithCustomOps with the tflite::MutableOpResolver* of the interpreter.
// On failure nothing is registered and TfqnnLastError() says why.
__attribute__((visibility("default"))) void TfqnnRegisterLceOps(void* resolver) {
  using namespace tfqnn;
  g_error.clear();
  std::string err;
  const Path* path = choose_path(&err);
  AddCustomFn add = path != nullptr ? find_add_custom(&err) : nullptr;
  if (path == nullptr || add == nullptr || resolver == nullptr) {
    g_error = err.empty() ? "no resolver" : err;
    return;
  }
  g_path = path;
  static const TfLiteRegistration quantize =
      make_reg("LceQuantize", init_options, options_free, quantize_prepare, quantize_eval);
  static const TfLiteRegistration dequantize =
      make_reg("LceDequantize", init_options, options_free, dequantize_prepare, dequantize_eval);
  static const TfLiteRegistration bconv = make_reg("LceBconv2d", bconv_init, bconv_free, bconv_prepare, bconv_eval);
  static const TfLiteRegistration pool = make_reg("LceBMaxPool2d", pool_init, pool_free, pool_prepare, pool_eval);
  add(resolver, "LceQuantize", &quantize, 1);
  add(resolver, "LceDequantize", &dequantize, 1);
  add(resolver, "LceBconv2d", &bconv, 1);
  add(resolver, "LceBMaxPool2d", &pool, 1);
}

// The last registration error ("" when the last registration succeeded).
__attribute__((visibility("default"))) const char* TfqnnLastError() { return tfqnn::g_error.c_str(); }

// The path the last registration selected ("" before any registration).
__attribute__((visibility("default"))) const char* TfqnnKernelPath() {
  return tfqnn::g_path != nullptr ? tfqnn::g_path->name : "";
}

// Measured AMX TMUL ceiling in G MACs/s on one thread (random +-1 tiles), 0 without AMX.
__attribute__((visibility("default"))) double TfqnnAmxPeakGmacs(double seconds) {
  return tfqnn::cpu_has_amx() ? tfqnn::amx_peak_gmacs(seconds > 0 && seconds < 10 ? seconds : 0.2) : 0.0;
}

// Which paths this CPU supports: bit 0 scalar, bit 1 avx2, bit 2 avx512, bit 3 amx.
__attribute__((visibility("default"))) int TfqnnCpuPaths() {
  return 1 | (tfqnn::cpu_has_avx2() ? 2 : 0) | (tfqnn::cpu_has_avx512() ? 4 : 0) |
         (tfqnn::cpu_has_amx() ? 8 : 0);
}

}  // extern "C"

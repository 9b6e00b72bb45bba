// Batch and thread driver shared by the blocked SIMD paths (blocked.h) and the AMX path
// (bconv_amx.cc): per batch item, Prepare(a, n) fills the path's padded input, then Rows(a, n,
// begin, end) computes output rows [begin, end), split evenly over the interpreter's threads for
// layers with more than 2^24 MACs (handing work over costs microseconds). Rows split evenly keep
// bitpacked output words per pixel, so parts never share a word. TU-local like the paths.
#pragma once
#include <cstdint>
#include <cstring>

#include "bconv.h"

namespace tfqnn {
namespace {

template <void (*Prepare)(BconvArgs*, int), void (*Rows)(BconvArgs*, int, int, int)>
void run_by_rows(BconvArgs* a) {
  struct Task {
    BconvArgs* a;
    int n;
    static void run(void* ctx, int part, int parts) {
      auto* t = static_cast<Task*>(ctx);
      const int h = t->a->g.out_h;
      Rows(t->a, t->n, int(int64_t(h) * part / parts), int(int64_t(h) * (part + 1) / parts));
    }
  };
  const BconvGeom& g = a->g;
  if (g.out_type == kOutBitpacked) {
    std::memset(a->output, 0, sizeof(int32_t) * int64_t(g.batch) * g.out_h * g.out_w * g.out_words);
  }
  int threads = a->threads < 1 ? 1 : a->threads;
  if (threads > g.out_h) threads = g.out_h;
  const int64_t macs = int64_t(g.out_h) * g.out_w * g.cout * g.k;
  if (macs < (int64_t(1) << 24) || a->parallel_for == nullptr) threads = 1;
  for (int n = 0; n < g.batch; ++n) {
    Prepare(a, n);
    Task task{a, n};
    if (threads == 1) {
      Task::run(&task, 0, 1);
    } else {
      a->parallel_for(&Task::run, &task, threads);
    }
  }
}

}  // namespace
}  // namespace tfqnn

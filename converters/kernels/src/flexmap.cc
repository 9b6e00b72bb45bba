#include "flexmap.h"

#include <cstring>

namespace tfqnn {
namespace {
// flexbuffers type codes (flexbuffers.h, "Type")
constexpr int kNull = 0, kInt = 1, kUInt = 2, kIndirectInt = 6, kIndirectUInt = 7, kMap = 9, kBool = 26;
bool valid_width(uint64_t w) { return w == 1 || w == 2 || w == 4 || w == 8; }
}  // namespace

bool FlexIntMap::read_uint(size_t pos, unsigned width, uint64_t* out) const {
  if (!valid_width(width) || pos > len_ || len_ - pos < width) return false;
  uint64_t v = 0;
  std::memcpy(&v, buf_ + pos, width);  // little-endian host (x86-64)
  *out = v;
  return true;
}

bool FlexIntMap::read_int(size_t pos, unsigned width, int64_t* out) const {
  uint64_t u;
  if (!read_uint(pos, width, &u)) return false;
  if (width < 8) {
    const uint64_t sign = uint64_t(1) << (8 * width - 1);
    u = (u ^ sign) - sign;  // sign-extend
  }
  *out = static_cast<int64_t>(u);
  return true;
}

FlexIntMap::FlexIntMap(const uint8_t* buf, size_t len) : buf_(buf), len_(len) {
  if (buf == nullptr || len < 3) return;
  const unsigned root_width = buf[len - 1];
  const uint8_t packed = buf[len - 2];
  if (!valid_width(root_width) || len - 2 < root_width) return;
  if ((packed >> 2) != kMap) return;
  const size_t root_pos = len - 2 - root_width;
  uint64_t off;
  if (!read_uint(root_pos, root_width, &off) || off > root_pos) return;
  map_ = root_pos - off;
  width_ = 1u << (packed & 3);
  // Before the values: [keys offset][keys width][size], each `width_` bytes.
  if (map_ < 3 * size_t(width_)) return;
  uint64_t koff, kw;
  if (!read_uint(map_ - width_, width_, &size_)) return;
  if (!read_uint(map_ - 2 * width_, width_, &kw) || !valid_width(kw)) return;
  if (!read_uint(map_ - 3 * width_, width_, &koff) || koff > map_ - 3 * width_) return;
  kwidth_ = unsigned(kw);
  keys_ = map_ - 3 * width_ - koff;
  // values (size_ slots) + one type byte per value must fit; so must the key slots
  if (size_ > len_ || map_ + size_ * width_ + size_ > len_) return;
  if (keys_ > len_ || keys_ + size_ * kwidth_ > len_) return;
  uint64_t ksize;
  if (keys_ < kwidth_ || !read_uint(keys_ - kwidth_, kwidth_, &ksize) || ksize != size_) return;
  ok_ = true;
}

bool FlexIntMap::get_int(const char* key, int64_t* out) const {
  if (!ok_) return false;
  const size_t klen = std::strlen(key);
  for (uint64_t i = 0; i < size_; ++i) {
    const size_t slot = keys_ + i * kwidth_;
    uint64_t off;
    if (!read_uint(slot, kwidth_, &off) || off > slot) return false;
    const size_t kpos = slot - off;
    if (kpos + klen + 1 > len_) continue;
    if (std::memcmp(buf_ + kpos, key, klen) != 0 || buf_[kpos + klen] != 0) continue;
    const size_t vslot = map_ + i * width_;
    const uint8_t packed = buf_[map_ + size_ * width_ + i];
    const int type = packed >> 2;
    const unsigned own_width = 1u << (packed & 3);
    if (type == kInt || type == kBool) return read_int(vslot, width_, out);
    if (type == kUInt) {
      uint64_t u;
      if (!read_uint(vslot, width_, &u) || u > uint64_t(INT64_MAX)) return false;
      *out = int64_t(u);
      return true;
    }
    if (type == kIndirectInt || type == kIndirectUInt) {
      uint64_t voff;
      if (!read_uint(vslot, width_, &voff) || voff > vslot) return false;
      if (type == kIndirectInt) return read_int(vslot - voff, own_width, out);
      uint64_t u;
      if (!read_uint(vslot - voff, own_width, &u) || u > uint64_t(INT64_MAX)) return false;
      *out = int64_t(u);
      return true;
    }
    (void)kNull;
    return false;  // present but not an integer
  }
  return false;
}

}  // namespace tfqnn

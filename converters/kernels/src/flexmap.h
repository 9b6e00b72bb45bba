// A small, bounds-checked reader for the flat flexbuffers map of int options that LCE 0.16
// writes as an op's custom options (keys sorted, values inline or indirect ints).
// Every read is checked against the buffer; any malformed input makes lookup fail.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tfqnn {

class FlexIntMap {
 public:
  // Parses the root; ok() is false when the buffer is not a flexbuffers map.
  FlexIntMap(const uint8_t* buf, size_t len);
  bool ok() const { return ok_; }
  // Looks `key` up; returns false when absent, not an integer, or malformed.
  bool get_int(const char* key, int64_t* out) const;

 private:
  bool read_uint(size_t pos, unsigned width, uint64_t* out) const;
  bool read_int(size_t pos, unsigned width, int64_t* out) const;
  const uint8_t* buf_;
  size_t len_;
  bool ok_ = false;
  size_t map_ = 0;     // position of the first value
  unsigned width_ = 0; // byte width of the map's slots
  uint64_t size_ = 0;
  size_t keys_ = 0;    // position of the first key slot
  unsigned kwidth_ = 0;
};

}  // namespace tfqnn

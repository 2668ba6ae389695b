// zstd streams with fixed parameters. ZstdSink compresses into another sink as a sequence of
// independent frames, one per 16 MiB of input, compressed on worker threads: the output depends
// only on the input and the level, never on the number of workers, and decoders that read
// concatenated frames (zstd -d, libarchive, containerd) read it as one stream. ZstdSource
// decompresses and refuses a window over the configured limit, skippable frames, bytes that
// are not a frame, and a truncated frame. Neither class is thread-safe.
#pragma once

#include <deque>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "core/fs/stream.h"

typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace core {

struct ZstdParams {
  int level = 3;
  int window_log = 27;  // at most 2^27: what any decoder accepts without extra memory flags
  // Frames compressed concurrently; 0 compresses on the calling thread. Output is identical.
  int workers = 0;
};

class ZstdSink : public ByteSink {
 public:
  static constexpr size_t kFrameInput = 16 << 20;
  static Result<std::unique_ptr<ZstdSink>> create(ByteSink& out, const ZstdParams& params);
  ~ZstdSink() override;
  Result<void> write(std::string_view data) override;
  // Compresses what is buffered and writes every remaining frame to the underlying sink.
  Result<void> finish();

 private:
  ZstdSink(ByteSink& out, const ZstdParams& params) : out_(out), params_(params) {}
  Result<void> submit();
  Result<void> drain_one();

  ByteSink& out_;
  ZstdParams params_;
  std::string pending_;
  std::deque<std::future<Result<std::string>>> in_flight_;
  uint64_t frames_ = 0;
};

class ZstdSource : public ByteSource {
 public:
  // max_window_log bounds decoder memory (a zstd "bomb" of huge windows is refused).
  static Result<std::unique_ptr<ZstdSource>> create(ByteSource& in, int max_window_log = 27);
  ~ZstdSource() override;
  Result<size_t> read(char* buf, size_t n) override;
  uint64_t compressed_bytes() const { return compressed_; }

 private:
  ZstdSource(ByteSource& in, ZSTD_DCtx* dctx);
  Result<void> refill();
  // At a frame boundary: true when another frame starts, false at a clean end of input.
  Result<bool> start_frame();

  ByteSource& in_;
  ZSTD_DCtx* dctx_;
  std::vector<char> inbuf_;
  size_t in_pos_ = 0, in_len_ = 0;
  bool in_eof_ = false;
  bool in_frame_ = false;
  uint64_t frames_ = 0;
  uint64_t compressed_ = 0;
};

}  // namespace core

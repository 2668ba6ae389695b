#include "core/archive/zstd.h"

#include <fmt/core.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <cstring>

namespace core {
namespace {
Result<void> check(size_t rc, const char* what) {
  if (ZSTD_isError(rc)) return failf(Errc::kIntegrity, "zstd {}: {}", what, ZSTD_getErrorName(rc));
  return {};
}
}  // namespace

namespace {
Result<std::string> compress_frame(std::string input, ZstdParams params) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> owner(cctx, ZSTD_freeCCtx);
  K3A_CHECK(check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, params.level), "level"));
  K3A_CHECK(check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, params.window_log), "window"));
  K3A_CHECK(check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "checksum"));
  std::string out(ZSTD_compressBound(input.size()), '\0');
  size_t n = ZSTD_compress2(cctx, out.data(), out.size(), input.data(), input.size());
  K3A_CHECK(check(n, "compress"));
  out.resize(n);
  return out;
}
}  // namespace

ZstdSink::~ZstdSink() {
  for (auto& f : in_flight_) f.wait();
}

Result<std::unique_ptr<ZstdSink>> ZstdSink::create(ByteSink& out, const ZstdParams& params) {
  if (params.level < 1 || params.level > 19) {
    return failf(Errc::kInvalid, "zstd level {} is outside 1..19", params.level);
  }
  if (params.window_log < 10 || params.window_log > 27) {
    return failf(Errc::kInvalid, "zstd window log {} is outside 10..27", params.window_log);
  }
  if (params.workers < 0 || params.workers > 64) {
    return failf(Errc::kInvalid, "zstd workers {} is outside 0..64", params.workers);
  }
  return std::unique_ptr<ZstdSink>(new ZstdSink(out, params));
}

Result<void> ZstdSink::write(std::string_view data) {
  while (!data.empty()) {
    size_t take = std::min(data.size(), kFrameInput - pending_.size());
    if (pending_.capacity() < kFrameInput) pending_.reserve(kFrameInput);
    pending_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (pending_.size() == kFrameInput) K3A_CHECK(submit());
  }
  return {};
}

Result<void> ZstdSink::submit() {
  std::string input = std::move(pending_);
  pending_ = std::string();
  ++frames_;
  if (params_.workers == 0) {
    std::string frame = K3A_TRY(compress_frame(std::move(input), params_));
    return out_.write(frame);
  }
  while (in_flight_.size() >= static_cast<size_t>(params_.workers)) K3A_CHECK(drain_one());
  in_flight_.push_back(std::async(std::launch::async, compress_frame, std::move(input), params_));
  return {};
}

Result<void> ZstdSink::drain_one() {
  Result<std::string> frame = in_flight_.front().get();
  in_flight_.pop_front();
  if (!frame) return std::unexpected(frame.error());
  return out_.write(*frame);
}

Result<void> ZstdSink::finish() {
  // An empty stream is still one (empty) frame, so that decoders see a valid zstd file.
  if (!pending_.empty() || frames_ == 0) K3A_CHECK(submit());
  while (!in_flight_.empty()) K3A_CHECK(drain_one());
  return {};
}

ZstdSource::ZstdSource(ByteSource& in, ZSTD_DCtx* dctx)
    : in_(in), dctx_(dctx), inbuf_(ZSTD_DStreamInSize()) {}

ZstdSource::~ZstdSource() { ZSTD_freeDCtx(dctx_); }

Result<std::unique_ptr<ZstdSource>> ZstdSource::create(ByteSource& in, int max_window_log) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::unique_ptr<ZstdSource> src(new ZstdSource(in, dctx));
  K3A_CHECK(check(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, max_window_log), "window"));
  return src;
}

Result<void> ZstdSource::refill() {
  // Keep unread bytes (a frame header may straddle two reads).
  size_t keep = in_len_ - in_pos_;
  std::memmove(inbuf_.data(), inbuf_.data() + in_pos_, keep);
  in_pos_ = 0;
  size_t n = K3A_TRY(in_.read(inbuf_.data() + keep, inbuf_.size() - keep));
  in_len_ = keep + n;
  compressed_ += n;
  if (n == 0) in_eof_ = true;
  return {};
}

Result<bool> ZstdSource::start_frame() {
  while (in_len_ - in_pos_ < 4 && !in_eof_) K3A_CHECK(refill());
  size_t avail = in_len_ - in_pos_;
  if (avail == 0) {
    if (frames_ == 0) return fail(Errc::kIntegrity, "zstd: empty stream");
    return false;
  }
  static const unsigned char kMagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
  if (avail < 4 || std::memcmp(inbuf_.data() + in_pos_, kMagic, 4) != 0) {
    return fail(Errc::kIntegrity, frames_ == 0 ? "zstd: not a zstd stream"
                                               : "zstd: data after the end of the last frame");
  }
  in_frame_ = true;
  return true;
}

Result<size_t> ZstdSource::read(char* buf, size_t n) {
  if (n == 0) return 0;
  while (true) {
    if (!in_frame_ && !K3A_TRY(start_frame())) return 0;
    if (in_pos_ == in_len_ && !in_eof_) K3A_CHECK(refill());
    if (in_pos_ == in_len_ && in_eof_) return fail(Errc::kIntegrity, "zstd: truncated stream");
    ZSTD_inBuffer in{inbuf_.data(), in_len_, in_pos_};
    ZSTD_outBuffer out{buf, n, 0};
    size_t rc = ZSTD_decompressStream(dctx_, &out, &in);
    in_pos_ = in.pos;
    if (ZSTD_isError(rc)) {
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
        return fail(Errc::kTooLarge, "zstd: frame window is larger than 2^27 bytes");
      }
      return failf(Errc::kIntegrity, "zstd: {}", ZSTD_getErrorName(rc));
    }
    if (rc == 0) {
      in_frame_ = false;
      ++frames_;
    }
    if (out.pos > 0) return out.pos;
  }
}

}  // namespace core

#include "images/gzip.h"

#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>

namespace images {
namespace {

using core::Errc;
using core::Result;

constexpr size_t kBuffer = 256 * 1024;
constexpr int kGzipWindowBits = 15 + 16;  // gzip wrapper, 32 KiB window

std::string zlib_message(const z_stream& zs, int rc) {
  return zs.msg ? zs.msg : fmt::format("zlib error {}", rc);
}

}  // namespace

// ---- GzipSink ----

struct GzipSink::Impl {
  core::ByteSink& out;
  z_stream zs{};
  gz_header header{};
  std::vector<char> buf = std::vector<char>(kBuffer);
  bool initialised = false;
  bool finished = false;

  explicit Impl(core::ByteSink& o) : out(o) {}
  ~Impl() {
    if (initialised) deflateEnd(&zs);
  }

  // Runs deflate over the pending input with the given flush mode, writing all output.
  Result<void> pump(int flush) {
    while (true) {
      zs.next_out = reinterpret_cast<Bytef*>(buf.data());
      zs.avail_out = static_cast<uInt>(buf.size());
      int rc = deflate(&zs, flush);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return core::failf(Errc::kInternal, "gzip: {}", zlib_message(zs, rc));
      }
      size_t produced = buf.size() - zs.avail_out;
      if (produced > 0) K3A_CHECK(out.write(std::string_view(buf.data(), produced)));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs.avail_in == 0 && zs.avail_out != 0)) {
        return {};
      }
    }
  }
};

GzipSink::GzipSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GzipSink::~GzipSink() = default;

Result<std::unique_ptr<GzipSink>> GzipSink::create(core::ByteSink& out, int level) {
  auto impl = std::make_unique<Impl>(out);
  int rc = deflateInit2(&impl->zs, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) return core::failf(Errc::kInternal, "gzip: deflateInit2 failed ({})", rc);
  impl->initialised = true;
  impl->header.os = 255;  // unknown, as Go writes it; no name, no mtime
  if (deflateSetHeader(&impl->zs, &impl->header) != Z_OK) {
    return core::fail(Errc::kInternal, "gzip: deflateSetHeader failed");
  }
  return std::unique_ptr<GzipSink>(new GzipSink(std::move(impl)));
}

Result<void> GzipSink::write(std::string_view data) {
  if (impl_->finished) return core::fail(Errc::kInternal, "gzip: write after finish");
  while (!data.empty()) {
    size_t n = std::min<size_t>(data.size(), 1u << 30);
    impl_->zs.next_in = reinterpret_cast<const Bytef*>(data.data());
    impl_->zs.avail_in = static_cast<uInt>(n);
    K3A_CHECK(impl_->pump(Z_NO_FLUSH));
    data.remove_prefix(n);
  }
  return {};
}

Result<void> GzipSink::finish() {
  if (impl_->finished) return core::fail(Errc::kInternal, "gzip: finished twice");
  impl_->finished = true;
  impl_->zs.next_in = nullptr;
  impl_->zs.avail_in = 0;
  return impl_->pump(Z_FINISH);
}

// ---- GzipSource ----

struct GzipSource::Impl {
  core::ByteSource& in;
  z_stream zs{};
  std::vector<char> inbuf = std::vector<char>(kBuffer);
  bool initialised = false;
  bool in_eof = false;
  bool member_end = false;
  bool started = false;

  explicit Impl(core::ByteSource& s) : in(s) {}
  ~Impl() {
    if (initialised) inflateEnd(&zs);
  }

  Result<void> refill() {
    size_t n = K3A_TRY(in.read(inbuf.data(), inbuf.size()));
    if (n == 0) in_eof = true;
    zs.next_in = reinterpret_cast<const Bytef*>(inbuf.data());
    zs.avail_in = static_cast<uInt>(n);
    return {};
  }

  // At the end of a member: true when another member follows, false at the end of input.
  Result<bool> next_member() {
    if (zs.avail_in == 0 && !in_eof) K3A_CHECK(refill());
    if (zs.avail_in == 0) return false;
    if (inflateReset(&zs) != Z_OK) return core::fail(Errc::kInternal, "gzip: inflateReset failed");
    member_end = false;
    return true;
  }
};

GzipSource::GzipSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GzipSource::~GzipSource() = default;

Result<std::unique_ptr<GzipSource>> GzipSource::create(core::ByteSource& in) {
  auto impl = std::make_unique<Impl>(in);
  int rc = inflateInit2(&impl->zs, kGzipWindowBits);
  if (rc != Z_OK) return core::failf(Errc::kInternal, "gzip: inflateInit2 failed ({})", rc);
  impl->initialised = true;
  return std::unique_ptr<GzipSource>(new GzipSource(std::move(impl)));
}

Result<size_t> GzipSource::read(char* buf, size_t n) {
  Impl& s = *impl_;
  n = std::min<size_t>(n, 1u << 30);
  while (n > 0) {
    if (s.member_end && !K3A_TRY(s.next_member())) return size_t{0};
    if (s.zs.avail_in == 0 && !s.in_eof) K3A_CHECK(s.refill());
    if (s.zs.avail_in == 0 && s.in_eof) {
      return core::fail(Errc::kIntegrity,
                        s.started ? "gzip: truncated stream" : "gzip: empty input");
    }
    s.started = true;
    s.zs.next_out = reinterpret_cast<Bytef*>(buf);
    s.zs.avail_out = static_cast<uInt>(n);
    int rc = inflate(&s.zs, Z_NO_FLUSH);
    size_t produced = n - s.zs.avail_out;
    if (rc == Z_STREAM_END) {
      s.member_end = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return core::failf(Errc::kIntegrity, "gzip: {}", zlib_message(s.zs, rc));
    }
    if (produced > 0) return produced;
  }
  return size_t{0};
}

}  // namespace images

#include "core/archive/decompress.h"

#include <archive.h>
#include <archive_entry.h>

#include <optional>
#include <vector>

namespace core {
namespace {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

class FilterSource : public ByteSource {
 public:
  FilterSource(ByteSource& in) : in_(in), a_(archive_read_new()), buf_(1 << 20) {}

  Result<void> open(Compression c) {
    int f = c == Compression::kLz4 ? archive_read_support_filter_lz4(a_.get())
                                   : archive_read_support_filter_bzip2(a_.get());
    archive_entry* e = nullptr;
    if (f != ARCHIVE_OK || archive_read_support_format_raw(a_.get()) != ARCHIVE_OK ||
        archive_read_open(a_.get(), this, nullptr, &FilterSource::read_cb, nullptr) != ARCHIVE_OK ||
        archive_read_next_header(a_.get(), &e) != ARCHIVE_OK) {
      return std::unexpected(error());
    }
    // The raw format accepts anything; only a real filter makes this a compressed stream.
    if (archive_filter_count(a_.get()) < 2)
      return fail(Errc::kIntegrity, "not a compressed stream of the expected format");
    return {};
  }

  Result<size_t> read(char* buf, size_t n) override {
    la_ssize_t got = archive_read_data(a_.get(), buf, n);
    if (got < 0) return std::unexpected(error());
    return static_cast<size_t>(got);
  }

 private:
  static la_ssize_t read_cb(archive*, void* client, const void** buf) {
    auto* self = static_cast<FilterSource*>(client);
    auto n = self->in_.read(self->buf_.data(), self->buf_.size());
    if (!n) {
      self->source_error_ = n.error();
      return -1;
    }
    *buf = self->buf_.data();
    return static_cast<la_ssize_t>(*n);
  }

  Error error() {
    if (source_error_) return *source_error_;
    const char* m = archive_error_string(a_.get());
    return Error(Errc::kIntegrity, std::string("decompression: ") + (m ? m : "invalid data"));
  }

  ByteSource& in_;
  std::unique_ptr<archive, ArchiveReadFree> a_;
  std::vector<char> buf_;
  std::optional<Error> source_error_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> decompressing_source(ByteSource& in, Compression c) {
  auto s = std::make_unique<FilterSource>(in);
  K3A_CHECK(s->open(c));
  return std::unique_ptr<ByteSource>(std::move(s));
}

}  // namespace core

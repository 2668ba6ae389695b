#include "core/archive/tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <array>
#include <cerrno>
#include <vector>

#include "core/base/strings.h"

// libarchive's pax writer calls one helper that lives in archive_write_set_format.o, the file
// holding the table of every writer. Pulling that file into a static link drags in the xar
// writer and with it libxml2 and ICU. This definition (same behaviour: an error naming the
// entry) sits in the object that uses the pax writer, so the linker never needs the table.
extern "C" void __archive_write_entry_filetype_unsupported(struct archive* a,
                                                           struct archive_entry* entry,
                                                           const char* format) {
  archive_set_error(a, EINVAL, "%s: %s format cannot archive this file type",
                    archive_entry_pathname(entry), format);
}

namespace core {
namespace {

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteFree>;
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadFree>;
using EntryPtr = std::unique_ptr<archive_entry, EntryFree>;

constexpr size_t kChunk = 256 * 1024;

// libarchive converts names between the thread's locale and UTF-8. Entry names are UTF-8
// whatever the user's locale, so libarchive runs under glibc's built-in C.UTF-8 (no locale
// files needed in a static binary), set for the calling thread only.
class Utf8Locale {
 public:
  Utf8Locale() {
    static locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    previous_ = utf8 ? uselocale(utf8) : static_cast<locale_t>(0);
  }
  ~Utf8Locale() {
    if (previous_) uselocale(previous_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t previous_;
};
constexpr uint64_t kMaxTrailingZeros = 1 << 20;

std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown archive error";
}

}  // namespace

// ---- writer ----

struct TarWriter::Impl {
  ByteSink& out;
  ArchiveWritePtr a;
  std::optional<Error> sink_error;
  uint64_t remaining = 0;

  explicit Impl(ByteSink& o) : out(o), a(archive_write_new()) {}

  static la_ssize_t write_cb(archive*, void* client, const void* buf, size_t n) {
    auto* self = static_cast<Impl*>(client);
    auto r = self->out.write(std::string_view(static_cast<const char*>(buf), n));
    if (!r) {
      self->sink_error = r.error();
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

  Error error(std::string_view what) {
    if (sink_error) return *sink_error;
    return Error(Errc::kIo, fmt::format("tar {}: {}", what, archive_message(a.get())));
  }
};

TarWriter::TarWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarWriter::~TarWriter() = default;

Result<std::unique_ptr<TarWriter>> TarWriter::create(ByteSink& out) {
  Utf8Locale locale;
  auto impl = std::make_unique<Impl>(out);
  archive* a = impl->a.get();
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, 10240) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 10240) != ARCHIVE_OK ||
      archive_write_open2(a, impl.get(), nullptr, &Impl::write_cb, nullptr, nullptr) !=
          ARCHIVE_OK) {
    return std::unexpected(impl->error("open"));
  }
  return std::unique_ptr<TarWriter>(new TarWriter(std::move(impl)));
}

Result<void> TarWriter::begin(const TarEntry& entry) {
  if (impl_->remaining != 0) return fail(Errc::kInternal, "tar: previous entry is incomplete");
  Utf8Locale locale;
  EntryPtr e(archive_entry_new());
  archive_entry_set_pathname_utf8(e.get(), entry.path.c_str());
  switch (entry.type) {
    case TarType::kFile:
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(entry.size));
      break;
    case TarType::kDirectory:
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      break;
    case TarType::kSymlink:
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink_utf8(e.get(), entry.link_target.c_str());
      break;
    default:
      return fail(Errc::kInvalid, "tar: only files, directories and symlinks are written");
  }
  archive_entry_set_perm(e.get(), entry.mode & 07777);
  archive_entry_set_mtime(e.get(), entry.mtime, 0);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  if (archive_write_header(impl_->a.get(), e.get()) != ARCHIVE_OK) {
    return std::unexpected(impl_->error("header of " + quote(entry.path)));
  }
  impl_->remaining = entry.type == TarType::kFile ? entry.size : 0;
  return {};
}

Result<void> TarWriter::write_data(std::string_view data) {
  if (data.size() > impl_->remaining)
    return fail(Errc::kInternal, "tar: more data than the entry size");
  while (!data.empty()) {
    la_ssize_t n = archive_write_data(impl_->a.get(), data.data(), data.size());
    if (n <= 0) return std::unexpected(impl_->error("data"));
    data.remove_prefix(static_cast<size_t>(n));
    impl_->remaining -= static_cast<uint64_t>(n);
  }
  return {};
}

Result<void> TarWriter::add_file(TarEntry entry, std::string_view data) {
  entry.type = TarType::kFile;
  entry.size = data.size();
  K3A_CHECK(begin(entry));
  return write_data(data);
}

Result<void> TarWriter::add_from(TarEntry entry, ByteSource& data) {
  K3A_CHECK(begin(entry));
  std::vector<char> buf(1 << 20);
  while (impl_->remaining > 0) {
    size_t want = std::min<uint64_t>(buf.size(), impl_->remaining);
    size_t n = K3A_TRY(data.read(buf.data(), want));
    if (n == 0) return failf(Errc::kIntegrity, "{}: shorter than its size", quote(entry.path));
    K3A_CHECK(write_data(std::string_view(buf.data(), n)));
  }
  return {};
}

Result<void> TarWriter::finish() {
  if (impl_->remaining != 0) return fail(Errc::kInternal, "tar: last entry is incomplete");
  if (archive_write_close(impl_->a.get()) != ARCHIVE_OK) {
    return std::unexpected(impl_->error("close"));
  }
  return {};
}

// ---- reader ----

struct TarReader::Impl {
  ByteSource& in;
  ArchiveReadPtr a;
  std::optional<Error> source_error;
  // The last three chunks handed to libarchive, kept so that finish() can inspect the bytes
  // that libarchive read ahead past the end-of-archive marker.
  std::array<std::vector<char>, 3> chunks;
  std::array<uint64_t, 3> chunk_offset{};
  std::array<size_t, 3> chunk_len{};
  int current = -1;
  uint64_t delivered = 0;
  bool at_end = false;

  explicit Impl(ByteSource& s) : in(s), a(archive_read_new()) {
    for (auto& c : chunks) c.resize(kChunk);
  }

  static la_ssize_t read_cb(archive*, void* client, const void** buf) {
    auto* self = static_cast<Impl*>(client);
    int next = (self->current + 1) % 3;
    auto n = self->in.read(self->chunks[next].data(), kChunk);
    if (!n) {
      self->source_error = n.error();
      return -1;
    }
    self->current = next;
    self->chunk_offset[next] = self->delivered;
    self->chunk_len[next] = *n;
    self->delivered += *n;
    *buf = self->chunks[next].data();
    return static_cast<la_ssize_t>(*n);
  }

  Error error(std::string_view what) {
    if (source_error) return *source_error;
    return Error(Errc::kIntegrity, fmt::format("tar {}: {}", what, archive_message(a.get())));
  }
};

TarReader::TarReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarReader::~TarReader() = default;

Result<std::unique_ptr<TarReader>> TarReader::open(ByteSource& in) {
  Utf8Locale locale;
  auto impl = std::make_unique<Impl>(in);
  archive* a = impl->a.get();
  if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_open(a, impl.get(), nullptr, &Impl::read_cb, nullptr) != ARCHIVE_OK) {
    return std::unexpected(impl->error("open"));
  }
  return std::unique_ptr<TarReader>(new TarReader(std::move(impl)));
}

Result<std::optional<TarEntry>> TarReader::next() {
  if (impl_->at_end) return std::optional<TarEntry>();
  Utf8Locale locale;
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(impl_->a.get(), &e);
  if (rc == ARCHIVE_EOF) {
    impl_->at_end = true;
    return std::optional<TarEntry>();
  }
  if (rc != ARCHIVE_OK) return std::unexpected(impl_->error("header"));
  TarEntry entry;
  const char* path = archive_entry_pathname_utf8(e);
  entry.path = path ? path : "";
  entry.size = archive_entry_size_is_set(e) ? static_cast<uint64_t>(archive_entry_size(e)) : 0;
  entry.mode = archive_entry_perm(e);
  entry.mtime = archive_entry_mtime(e);
  entry.sparse = archive_entry_sparse_count(e) > 0;
  if (const char* hl = archive_entry_hardlink(e)) {
    entry.type = TarType::kHardlink;
    entry.link_target = hl;
  } else {
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        entry.type = TarType::kFile;
        break;
      case AE_IFDIR:
        entry.type = TarType::kDirectory;
        // Directory names end in '/' in tar; report the name itself.
        while (entry.path.size() > 1 && entry.path.back() == '/') entry.path.pop_back();
        break;
      case AE_IFLNK:
        entry.type = TarType::kSymlink;
        entry.link_target = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        break;
      default:
        entry.type = TarType::kOther;
        break;
    }
  }
  return std::optional<TarEntry>(std::move(entry));
}

Result<std::string_view> TarReader::read_block() {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int rc = archive_read_data_block(impl_->a.get(), &buf, &size, &offset);
  if (rc == ARCHIVE_EOF) return std::string_view();
  if (rc != ARCHIVE_OK) return std::unexpected(impl_->error("data"));
  return std::string_view(static_cast<const char*>(buf), size);
}

Result<void> TarReader::finish() {
  if (!impl_->at_end) return fail(Errc::kInternal, "tar: finish() before the end of the archive");
  const uint64_t end = static_cast<uint64_t>(archive_read_header_position(impl_->a.get()));
  uint64_t zeros = 0;
  // Bytes already delivered to libarchive, from the end marker on.
  for (int k = 2; k >= 0; --k) {
    int idx = (impl_->current - k + 3) % 3;
    if (impl_->current < 0 || impl_->chunk_len[idx] == 0) continue;
    uint64_t off = impl_->chunk_offset[idx];
    for (size_t i = 0; i < impl_->chunk_len[idx]; ++i) {
      if (off + i < end) continue;
      if (impl_->chunks[idx][i] != 0) {
        return failf(Errc::kIntegrity, "tar: data after the end-of-archive marker at offset {}",
                     off + i);
      }
      ++zeros;
    }
  }
  // And whatever the source still holds.
  std::vector<char> buf(kChunk);
  while (true) {
    size_t n = K3A_TRY(impl_->in.read(buf.data(), buf.size()));
    if (n == 0) break;
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] != 0) return fail(Errc::kIntegrity, "tar: data after the end-of-archive marker");
    }
    zeros += n;
    if (zeros > kMaxTrailingZeros)
      return fail(Errc::kTooLarge, "tar: padding after the end is too long");
  }
  return {};
}

Result<void> validate_entry_path(std::string_view path) {
  if (path.empty()) return fail(Errc::kInvalid, "empty path");
  if (path.size() > 1024) return failf(Errc::kInvalid, "path of {} bytes is too long", path.size());
  if (path.front() == '/') return failf(Errc::kInvalid, "absolute path {}", quote(path));
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f)
      return failf(Errc::kInvalid, "control character in path {}", quote(path));
  }
  auto parts = split(path, '/');
  if (parts.size() > 32)
    return failf(Errc::kInvalid, "path {} has more than 32 components", quote(path));
  for (auto part : parts) {
    if (part.empty() || part == "." || part == "..") {
      return failf(Errc::kInvalid, "path {} has an empty, '.' or '..' component", quote(path));
    }
  }
  return {};
}

}  // namespace core

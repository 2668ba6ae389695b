#include "core/crypto/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "core/base/strings.h"
#include "core/fs/fd.h"

namespace core {

void Sha256::CtxFree::operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
  EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
}

Sha256::Digest Sha256::finish() {
  Digest d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), d.data(), &len);
  EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  return d;
}

std::string Sha256::finish_hex() {
  Digest d = finish();
  return hex_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

Sha256::Digest Sha256::of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

std::string Sha256::hex_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish_hex();
}

Result<std::string> sha256_file(const std::string& path) {
  Fd fd = K3A_TRY(Fd::open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, path);
  if (!S_ISREG(st.st_mode)) return failf(Errc::kInvalid, "{}: not a regular file", path);
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (true) {
    auto n = fd.read_some(buf.data(), buf.size());
    if (!n) return std::unexpected(std::move(n.error()).context(path));
    if (*n == 0) break;
    h.update(std::string_view(buf.data(), *n));
  }
  return h.finish_hex();
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace core

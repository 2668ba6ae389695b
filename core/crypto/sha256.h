// Incremental SHA-256 over OpenSSL's EVP interface (uses the CPU's SHA extensions when
// present). One object per stream; not thread-safe.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/error.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace core {

class Sha256 {
 public:
  using Digest = std::array<unsigned char, 32>;
  Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  void update(std::string_view data);
  // Finishes the hash; the object is reset and can hash a new stream.
  Digest finish();
  std::string finish_hex();

  static Digest of(std::string_view data);
  static std::string hex_of(std::string_view data);

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const;
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

// Hashes a file (regular files only; opened O_NOFOLLOW). Returns lowercase hex.
Result<std::string> sha256_file(const std::string& path);
// True when s is 64 lowercase hex digits.
bool is_sha256_hex(std::string_view s);

}  // namespace core

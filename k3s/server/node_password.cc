#include "k3s/server/node_password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <vector>

#include "core/base/strings.h"
#include "core/crypto/x509.h"

namespace k3s::server {
namespace {

constexpr int kLogN = 15, kR = 8, kP = 1;
constexpr size_t kKeyLen = 32;

std::string derive(const std::string& password, const std::string& salt, int log_n, int r, int p) {
  unsigned char key[kKeyLen];
  if (EVP_PBE_scrypt(password.data(), password.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size(),
                     uint64_t{1} << log_n, static_cast<uint64_t>(r), static_cast<uint64_t>(p),
                     64ull << 20, key, sizeof key) != 1)
    return "";
  return core::hex_encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
}

}  // namespace

std::string hash_node_password(const std::string& password) {
  std::string salt = core::random_hex(8);
  return "$1:" + salt + ":" + std::to_string(kLogN) + ":" + std::to_string(kR) + ":" +
         std::to_string(kP) + ":" + derive(password, salt, kLogN, kR, kP);
}

bool verify_node_password(const std::string& password, const std::string& hash) {
  std::vector<std::string> f;
  for (auto part : core::split(hash, ':')) f.emplace_back(part);
  if (f.size() != 6 || f[0] != "$1") return false;
  auto n = core::parse_u64(f[2]), r = core::parse_u64(f[3]), p = core::parse_u64(f[4]);
  if (!n || !r || !p || *n < 1 || *n > 20 || *r < 1 || *r > 32 || *p < 1 || *p > 16) return false;
  std::string want =
      derive(password, f[1], static_cast<int>(*n), static_cast<int>(*r), static_cast<int>(*p));
  return !want.empty() && want.size() == f[5].size() &&
         CRYPTO_memcmp(want.data(), f[5].data(), want.size()) == 0;
}

}  // namespace k3s::server

#include "bundler/format/signatures.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/fs/files.h"
#include "core/serde/json.h"

namespace bundler {

using core::Errc;

core::Result<std::vector<Signature>> parse_signatures(std::string_view json) {
  core::Json j = K3A_TRY(core::parse_json(json));
  auto list = j.is_object() ? j.find("signatures") : j.end();
  if (!j.is_object() || list == j.end() || !list->is_array()) {
    return core::fail(Errc::kInvalid, "bundle.json.sig: no signatures list");
  }
  if (list->size() > kMaxSignatures) {
    return core::failf(Errc::kInvalid, "bundle.json.sig: more than {} signatures", kMaxSignatures);
  }
  std::vector<Signature> out;
  for (const auto& s : *list) {
    auto keyid = s.is_object() ? s.find("keyid") : s.end();
    auto sig = s.is_object() ? s.find("sig") : s.end();
    if (keyid == s.end() || sig == s.end() || !keyid->is_string() || !sig->is_string()) {
      return core::fail(Errc::kInvalid, "bundle.json.sig: signature without keyid or sig");
    }
    if (!core::is_sha256_hex(keyid->get<std::string>())) {
      return core::fail(Errc::kInvalid, "bundle.json.sig: malformed keyid");
    }
    auto der = core::base64_decode(sig->get<std::string>());
    if (!der) return core::fail(Errc::kInvalid, "bundle.json.sig: " + der.error().message());
    out.push_back({keyid->get<std::string>(), std::move(*der)});
  }
  return out;
}

std::string serialize_signatures(std::vector<Signature> signatures) {
  std::map<std::string, std::string> by_key;
  for (auto& s : signatures) by_key[s.key_id] = std::move(s.der);
  core::Json list = core::Json::array();
  for (const auto& [key_id, der] : by_key) {
    list.push_back({{"keyid", key_id}, {"sig", core::base64_encode(der)}});
  }
  return core::dump_json_pretty(core::Json{{"signatures", list}});
}

core::Result<std::vector<std::string>> check_signatures(std::string_view payload,
                                                        const std::vector<Signature>& signatures,
                                                        const std::vector<core::PublicKey>& trusted,
                                                        int threshold) {
  core::Sha256::Digest digest = core::Sha256::of(payload);
  std::set<std::string> valid;
  for (const auto& key : trusted) {
    for (const auto& sig : signatures) {
      if (sig.key_id == key.key_id() && key.verify_digest(digest, sig.der)) {
        valid.insert(key.key_id());
      }
    }
  }
  if (static_cast<int>(valid.size()) < threshold) {
    std::string signers;
    for (const auto& s : signatures)
      signers += (signers.empty() ? "" : ", ") + s.key_id.substr(0, 16);
    return core::failf(Errc::kUnauthorized,
                       "bundle.json: {} of {} required trusted signatures (signed by: {})",
                       valid.size(), threshold, signers.empty() ? "nobody" : signers);
  }
  return std::vector<std::string>(valid.begin(), valid.end());
}

core::Result<std::string> make_detached_signature(const core::PrivateKey& key,
                                                  const core::Sha256::Digest& digest) {
  std::string der = K3A_TRY(key.sign_digest(digest));
  return core::base64_encode(der) + "\n";
}

core::Result<std::string> check_detached_signature(std::string_view file_contents,
                                                   const core::Sha256::Digest& digest,
                                                   const std::vector<core::PublicKey>& trusted) {
  if (file_contents.size() > 4096) return core::fail(Errc::kInvalid, "signature file is too large");
  auto der = core::base64_decode(core::trim(file_contents));
  if (!der) return core::fail(Errc::kInvalid, "signature file: " + der.error().message());
  for (const auto& key : trusted) {
    if (key.verify_digest(digest, *der)) return key.key_id();
  }
  return core::fail(Errc::kUnauthorized, "detached signature does not match any trusted key");
}

core::Result<std::vector<core::PublicKey>> load_trusted_keys(
    const std::vector<std::string>& paths) {
  std::vector<core::PublicKey> keys;
  for (const auto& path : paths) {
    std::string pem = K3A_TRY(core::read_file(path, 64 << 10));
    auto key = core::PublicKey::from_pem(pem);
    if (!key) return std::unexpected(std::move(key.error()).context(path));
    keys.push_back(std::move(*key));
  }
  return keys;
}

}  // namespace bundler

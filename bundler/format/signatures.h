// Signatures over bundle.json, stored in `bundle.json.sig`:
//   {"signatures": [{"keyid": "<hex sha256 of the DER public key>", "sig": "<base64 DER>"}]}
// Each signature is the cosign blob format (ECDSA P-256 over SHA-256 of bundle.json's exact
// bytes). A threshold counts distinct trusted keys: a key that signs twice, or is trusted
// twice, counts once. Also the detached whole-file signature (`X.sig` beside `X`): base64 of
// one DER signature and a newline, which `cosign verify-blob` and openssl read.
// Pure functions over values; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/crypto/keys.h"

namespace bundler {

struct Signature {
  std::string key_id;
  std::string der;
};

inline constexpr size_t kMaxSignatures = 16;

// Strict parsing: kInvalid for malformed JSON, base64, key ids, or more than kMaxSignatures.
core::Result<std::vector<Signature>> parse_signatures(std::string_view json);
// Sorted by key id; one signature per key (a new signature by a key replaces its old one).
std::string serialize_signatures(std::vector<Signature> signatures);

// The ids of the trusted keys with a valid signature over payload. kUnauthorized (naming the
// keys that signed and the threshold) when fewer than threshold distinct trusted keys signed.
core::Result<std::vector<std::string>> check_signatures(std::string_view payload,
                                                        const std::vector<Signature>& signatures,
                                                        const std::vector<core::PublicKey>& trusted,
                                                        int threshold);

// Detached signature file contents for a digest, and its check against trusted keys (the id of
// the first key that verifies; kUnauthorized when none does, kInvalid when malformed).
core::Result<std::string> make_detached_signature(const core::PrivateKey& key,
                                                  const core::Sha256::Digest& digest);
core::Result<std::string> check_detached_signature(std::string_view file_contents,
                                                   const core::Sha256::Digest& digest,
                                                   const std::vector<core::PublicKey>& trusted);

// Reads PEM public keys from files; errors name the file.
core::Result<std::vector<core::PublicKey>> load_trusted_keys(const std::vector<std::string>& paths);

}  // namespace bundler

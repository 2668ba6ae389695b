// Certificate signing requests (PKCS#10, DER) for ECDSA P-256 keys: what a k3s agent sends the
// server for each certificate it needs, keeping its private key to itself. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/crypto/keys.h"

namespace core {

// A DER CSR for `key` with the subject CN `common_name`, signed with the key.
Result<std::string> make_csr(const PrivateKey& key, const std::string& common_name);
// The subject key of a DER CSR whose self-signature verifies; kInvalid when it does not parse,
// does not verify, or holds another kind of key.
Result<PublicKey> csr_public_key(std::string_view der);

}  // namespace core

// Node passwords as the server keeps them (k3s-facts.md 4.5): the scrypt hash of the password an
// agent sends with its certificate requests, stored in the Secret
// kube-system/<node>.node-password.k3s. Pure functions.
#pragma once

#include <string>

namespace k3s::server {

// "$1:<salt hex>:<log2 N>:<r>:<p>:<key hex>" with a fresh random salt (N = 2^15, r 8, p 1).
std::string hash_node_password(const std::string& password);
// Whether `password` matches `hash` (compared in constant time); false for a malformed hash.
bool verify_node_password(const std::string& password, const std::string& hash);

}  // namespace k3s::server

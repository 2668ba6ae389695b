// `k3s certificate check|rotate`: reads or retires the server's certificates under
// <data-dir>/server/tls while offline, as upstream's command does. rotate backs the directory
// up to server/tls-<unix time> and removes the chosen leaf certificates and keys; the next
// `k3s server` start issues new ones with new keys. CAs are never touched.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::ctl {

struct CertificateOptions {
  std::string data_dir;
  std::vector<std::string> services;  // rotate: empty = all
  std::string output = "text";        // check: text, table or json
  int64_t now = 0;                    // seconds since the epoch
};

// Lists every certificate of every *.crt file (leaf and chain) with subject, usages, expiry
// and status (OK, WARNING within 90 days, EXPIRED). kNotFound when the directory holds no
// certificates; kInvalid for an unknown output format.
core::Result<void> certificate_check(const CertificateOptions& options, std::FILE* out);
// kInvalid for an unknown service (naming the valid ones), kNotFound without certificates.
core::Result<void> certificate_rotate(const CertificateOptions& options);

}  // namespace k3s::ctl

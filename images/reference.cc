#include "images/reference.h"

#include <cctype>

#include "core/base/strings.h"
#include "core/crypto/sha256.h"

namespace images {
namespace {

using core::Errc;
using core::Result;

constexpr std::string_view kDefaultRegistry = "docker.io";
constexpr std::string_view kLegacyRegistry = "index.docker.io";
constexpr std::string_view kOfficialPrefix = "library/";
constexpr size_t kMaxNameLength = 255;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-') return false;
  }
  return true;
}

// host (":" port)?, host = domain-name | "[" ipv6 "]"
bool is_domain(std::string_view s) {
  std::string_view host = s;
  if (size_t colon = s.rfind(':');
      colon != std::string_view::npos && s.find(']', colon) == std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || !core::parse_u64(port)) return false;
    host = s.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':') return false;
    }
    return true;
  }
  for (std::string_view part : core::split(host, '.')) {
    if (!is_domain_component(part)) return false;
  }
  return true;
}

// [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
bool is_path_component(std::string_view s) {
  if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  size_t i = 0;
  while (i < s.size()) {
    if (is_lower_alnum(s[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !is_lower_alnum(s[i])) ++i;
    std::string_view sep = s.substr(start, i - start);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
  }
  return true;
}

bool is_tag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !is_word(s.front())) return false;
  for (char c : s) {
    if (!is_word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// distribution/reference's splitDockerDomain.
std::pair<std::string, std::string> split_domain(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view first = text.substr(0, slash);
  std::string domain, rest;
  if (slash == std::string_view::npos || (first.find_first_of(".:") == std::string_view::npos &&
                                          first != "localhost" && core::to_lower(first) == first)) {
    domain = kDefaultRegistry;
    rest = text;
  } else {
    domain = first;
    rest = text.substr(slash + 1);
  }
  if (domain == kLegacyRegistry) domain = kDefaultRegistry;
  if (domain == kDefaultRegistry && rest.find('/') == std::string::npos) {
    rest = std::string(kOfficialPrefix) + rest;
  }
  return {domain, rest};
}

Result<void> parse_remainder(std::string_view rest, Reference& ref) {
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!is_valid_digest(ref.digest)) {
      size_t colon = ref.digest.find(':');
      if (colon != std::string::npos && ref.digest.substr(0, colon) != "sha256") {
        return fail(Errc::kInvalid, "unsupported digest algorithm (only sha256)");
      }
      return fail(Errc::kInvalid, "invalid digest");
    }
  }
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!is_tag(ref.tag)) return fail(Errc::kInvalid, "invalid tag");
  }
  for (std::string_view part : core::split(rest, '/')) {
    if (!is_path_component(part)) return fail(Errc::kInvalid, "invalid repository name");
  }
  ref.repository = rest;
  return {};
}

}  // namespace

Result<Reference> Reference::parse(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return core::failf(Errc::kInvalid, "reference {}: {}", core::quote(text), why);
  };
  if (text.empty()) return invalid("empty");
  if (core::is_sha256_hex(text)) return invalid("cannot be a 64-digit hexadecimal string");
  auto [domain, rest] = split_domain(text);
  std::string_view remote = rest;
  remote = remote.substr(0, remote.find_first_of(":@"));
  if (core::to_lower(remote) != remote) return invalid("repository name must be lowercase");
  if (!is_domain(domain)) return invalid("invalid registry name");
  Reference ref;
  ref.registry = domain;
  if (auto r = parse_remainder(rest, ref); !r) return invalid(r.error().message());
  if (ref.name().size() > kMaxNameLength) {
    return invalid("repository name must not be more than 255 characters");
  }
  return ref;
}

std::string Reference::name() const { return registry + "/" + repository; }

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::familiar() const {
  std::string s;
  if (registry != kDefaultRegistry) {
    s = name();
  } else if (repository.starts_with(kOfficialPrefix) &&
             repository.find('/', kOfficialPrefix.size()) == std::string::npos) {
    s = repository.substr(kOfficialPrefix.size());
  } else {
    s = repository;
  }
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Reference Reference::with_default_tag() const {
  Reference r = *this;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

bool is_valid_digest(std::string_view digest) {
  return digest.starts_with("sha256:") && core::is_sha256_hex(digest.substr(7));
}

std::string digest_hex(std::string_view digest) {
  return is_valid_digest(digest) ? std::string(digest.substr(7)) : std::string();
}

std::string sha256_digest(std::string_view hex) { return "sha256:" + std::string(hex); }

Result<void> check_digest(std::string_view digest, std::string_view what) {
  if (is_valid_digest(digest)) return {};
  return core::failf(Errc::kInvalid, "{}: invalid digest \"{}\"", what, core::quote(digest));
}

}  // namespace images

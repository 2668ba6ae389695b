#include "k3s/apiserver/rest_helpers.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "core/base/strings.h"
#include "core/crypto/x509.h"
#include "core/serde/json.h"

namespace k3s::apiserver::rest_detail {

using json = nlohmann::json;
using core::http::ResponseWriter;
using core::http::ServerRequest;
using datastore::KeyValue;

// --- small helpers ---------------------------------------------------------------------------

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> query_params(const std::string& query) {
  std::map<std::string, std::string> out;
  for (auto part : core::split(query, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    out[url_decode(part.substr(0, eq))] = eq == part.npos ? "" : url_decode(part.substr(eq + 1));
  }
  return out;
}

void send_json(ResponseWriter& w, int code, const json& body) {
  w.set_status(code);
  w.add_header("Content-Type", "application/json");
  w.add_header("Cache-Control", "no-cache, private");
  w.send(core::dump_json(body) + "\n");
}

void send_error(ResponseWriter& w, int code, const std::string& reason, const std::string& message,
                const ResourceRequest* r, const std::string& name) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (r) {
    json d = {{"kind", r->type->resource}};
    if (!name.empty()) d["name"] = name;
    if (!r->type->group.empty()) d["group"] = r->type->group;
    s["details"] = d;
  }
  send_json(w, code, s);
}

// Why `name` is not a valid name for objects of type t ("" when it is), in upstream's words:
// namespaces are RFC 1123 labels, services RFC 1035 labels, RBAC objects path segments, the
// rest RFC 1123 subdomains.
std::string name_problem(const ResourceType& t, const std::string& name) {
  static const std::regex label("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  static const std::regex dns1035("[a-z]([-a-z0-9]*[a-z0-9])?");
  static const std::regex subdomain(
      "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  if (t.group == "rbac.authorization.k8s.io") {
    if (name == "." || name == "..") return fmt::format("may not be '{}'", name);
    if (name.find_first_of("/%") != std::string::npos)
      return fmt::format("may not contain '{}'", name.find('/') != std::string::npos ? "/" : "%");
    return "";
  }
  if (t.resource == "namespaces") {
    if (name.size() > 63) return "must be no more than 63 characters";
    if (std::regex_match(name, label)) return "";
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
           "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  if (t.resource == "services") {
    if (name.size() > 63) return "must be no more than 63 characters";
    if (std::regex_match(name, dns1035)) return "";
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  }
  if (name.size() > 253) return "must be no more than 253 characters";
  if (std::regex_match(name, subdomain)) return "";
  return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
         "'-' or '.', and must start and end with an alphanumeric character (e.g. "
         "'example.com', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

std::string new_uid() {
  std::string h = core::random_hex(16);
  h[12] = '4';
  h[16] = "89ab"[h[16] % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

// The object as clients see it: kind, apiVersion and the store's revision filled in.
json present(const ResourceType& t, const KeyValue& kv) {
  json o = json::parse(kv.value, nullptr, false);
  if (o.is_discarded()) o = json::object();
  o["kind"] = t.kind;
  o["apiVersion"] = t.group_version();
  o["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
  return o;
}

// What is stored: no resourceVersion (the revision is the version).
std::string stored(json o) {
  if (o.contains("metadata")) o["metadata"].erase("resourceVersion");
  return core::dump_json(o);
}

// --- selectors -------------------------------------------------------------------------------

std::optional<std::vector<Requirement>> parse_label_selector(const std::string& s) {
  std::vector<Requirement> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t end = i;
    int depth = 0;
    while (end < s.size() && (s[end] != ',' || depth > 0)) {
      if (s[end] == '(') depth++;
      if (s[end] == ')') depth--;
      end++;
    }
    std::string part(core::trim(std::string_view(s).substr(i, end - i)));
    i = end + 1;
    if (part.empty()) continue;
    Requirement r;
    size_t sp = part.find(' ');
    if (sp != std::string::npos &&
        (part.find(" in ") != std::string::npos || part.find(" notin ") != std::string::npos)) {
      r.key = part.substr(0, sp);
      std::string rest(core::trim(std::string_view(part).substr(sp)));
      r.op = rest.starts_with("notin") ? "notin" : "in";
      size_t open = rest.find('('), close = rest.rfind(')');
      if (open == std::string::npos || close == std::string::npos) return std::nullopt;
      for (auto v : core::split(std::string_view(rest).substr(open + 1, close - open - 1), ',')) {
        r.values.emplace_back(core::trim(v));
      }
    } else if (size_t ne = part.find("!="); ne != std::string::npos) {
      r = {std::string(core::trim(part.substr(0, ne))),
           "!=",
           {std::string(core::trim(part.substr(ne + 2)))}};
    } else if (size_t eq = part.find('='); eq != std::string::npos) {
      size_t vstart = part.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      r = {std::string(core::trim(part.substr(0, eq))),
           "=",
           {std::string(core::trim(part.substr(vstart)))}};
    } else if (part.starts_with('!')) {
      r = {std::string(core::trim(part.substr(1))), "!exists", {}};
    } else {
      r = {part, "exists", {}};
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool labels_match(const json& obj, const std::vector<Requirement>& reqs) {
  const json* labels = nullptr;
  if (obj.contains("metadata") && obj["metadata"].contains("labels"))
    labels = &obj["metadata"]["labels"];
  for (const auto& r : reqs) {
    bool has = labels && labels->contains(r.key) && (*labels)[r.key].is_string();
    std::string v = has ? (*labels)[r.key].get<std::string>() : "";
    bool in = has && std::find(r.values.begin(), r.values.end(), v) != r.values.end();
    if ((r.op == "=" && !(has && v == r.values[0])) || (r.op == "!=" && has && v == r.values[0]) ||
        (r.op == "in" && !in) || (r.op == "notin" && in) || (r.op == "exists" && !has) ||
        (r.op == "!exists" && has)) {
      return false;
    }
  }
  return true;
}

// Field selectors: "path=value", "path==value", "path!=value" over dotted JSON paths.
bool fields_match(const json& obj, const std::string& selector) {
  for (auto part : core::split(selector, ',')) {
    if (part.empty()) continue;
    bool negate = false;
    size_t op = part.find("!=");
    std::string path, value;
    if (op != std::string_view::npos) {
      negate = true;
      path = part.substr(0, op);
      value = part.substr(op + 2);
    } else {
      op = part.find('=');
      if (op == std::string_view::npos) return false;
      path = part.substr(0, op);
      value = part.substr(part.compare(op, 2, "==") == 0 ? op + 2 : op + 1);
    }
    const json* cur = &obj;
    for (auto seg : core::split(path, '.')) {
      std::string k(seg);
      cur = cur->is_object() && cur->contains(k) ? &(*cur)[k] : nullptr;
      if (!cur) break;
    }
    std::string actual = cur ? (cur->is_string() ? cur->get<std::string>() : cur->dump()) : "";
    if ((actual == value) == negate) return false;
  }
  return true;
}

// --- tables ----------------------------------------------------------------------------------

bool wants_table(const ServerRequest& req) {
  auto accept = req.header("Accept");
  return accept && accept->find("as=Table") != std::string::npos;
}

}  // namespace k3s::apiserver::rest_detail

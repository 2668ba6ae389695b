#include "k3s/apiserver/protobuf.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>
#include <optional>
#include <set>

#include "core/base/time.h"
#include "core/crypto/base64.h"
#include "k3s/apiserver/proto/k8s.pb.h"

namespace k3s::apiserver {
namespace {

namespace gp = google::protobuf;
using core::Errc;
using json = nlohmann::json;

json message_json(const gp::Message& m);

// One value of a field (index -1 for a singular field).
json value_json(const gp::Message& m, const gp::FieldDescriptor* f, int i) {
  const gp::Reflection* r = m.GetReflection();
  bool rep = i >= 0;
  switch (f->cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f);
    case gp::FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f);
    case gp::FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
    case gp::FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
    case gp::FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f);
    case gp::FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f);
    case gp::FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f);
    case gp::FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
    case gp::FieldDescriptor::CPPTYPE_STRING: {
      std::string s = rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
      return f->type() == gp::FieldDescriptor::TYPE_BYTES ? json(core::base64_encode(s)) : json(s);
    }
    case gp::FieldDescriptor::CPPTYPE_MESSAGE:
      return message_json(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
  }
  return nullptr;
}

// Go's omitempty: "", 0, false and null (a zero Time) are left out.
bool empty_scalar(const json& v) {
  return v.is_null() || (v.is_string() && v.get<std::string>().empty()) ||
         (v.is_number() && v == 0) || (v.is_boolean() && !v.get<bool>());
}

// Go's time.Duration text: "1h2m3.5s", "90ms", "0s".
std::string go_duration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t n = ns < 0 ? static_cast<uint64_t>(-ns) : static_cast<uint64_t>(ns);
  if (n < 1'000'000'000) {
    if (n % 1'000'000 == 0) return sign + std::to_string(n / 1'000'000) + "ms";
    if (n % 1'000 == 0) return sign + std::to_string(n / 1'000) + "µs";
    return sign + std::to_string(n) + "ns";
  }
  uint64_t h = n / 3'600'000'000'000, m = n / 60'000'000'000 % 60;
  uint64_t s = n / 1'000'000'000 % 60, frac = n % 1'000'000'000;
  std::string out = sign;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac) {
    std::string f = fmt::format("{:09}", frac);
    out += "." + f.substr(0, f.find_last_not_of('0') + 1);
  }
  return out + "s";
}

// Messages whose Go types marshal to JSON as something other than an object.
std::optional<json> special_json(const gp::Message& m) {
  const gp::Descriptor* d = m.GetDescriptor();
  const gp::Reflection* r = m.GetReflection();
  auto field = [d](const char* name) { return d->FindFieldByName(name); };
  const std::string& type = d->name();
  if (type == "Time" || type == "MicroTime") {
    int64_t seconds = r->GetInt64(m, field("seconds"));
    int32_t nanos = r->GetInt32(m, field("nanos"));
    if (seconds == 0 && nanos == 0) return json();
    std::string t = core::format_rfc3339(seconds);
    if (type == "MicroTime") t = t.substr(0, t.size() - 1) + fmt::format(".{:06}Z", nanos / 1000);
    return json(t);
  }
  if (type == "Quantity") return json(r->GetString(m, field("string")));
  if (type == "IntOrString") {
    if (r->GetInt64(m, field("type")) == 1) return json(r->GetString(m, field("strVal")));
    return json(r->GetInt32(m, field("intVal")));
  }
  if (type == "Duration") return json(go_duration(r->GetInt64(m, field("duration"))));
  if (type == "FieldsV1" || type == "RawExtension") {
    json raw = json::parse(r->GetString(m, d->field(0)), nullptr, false);
    return raw.is_discarded() ? json() : raw;
  }
  return std::nullopt;
}

// Go structs embedded with `json:",inline"` are separate proto fields; their keys belong to
// the parent object.
bool inline_field(const gp::FieldDescriptor* f) {
  if (f->cpp_type() != gp::FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) return false;
  const std::string& type = f->message_type()->name();
  return type == "VolumeSource" || type == "PersistentVolumeSource" ||
         type == "EphemeralContainerCommon" || type == "ProbeHandler" ||
         type == "IngressRuleValue" || f->name() == "localObjectReference";
}

// The JSON name of a field: the proto name, except where Go's differs.
std::string json_name(const gp::FieldDescriptor* f) {
  if (f->name() == "aPIGroup") return "apiGroup";
  if (f->name() == "aPIVersion") return "apiVersion";
  if (f->name() == "uID") return "uid";
  return f->name();
}

json message_json(const gp::Message& m) {
  if (auto special = special_json(m)) return *special;
  const gp::Reflection* r = m.GetReflection();
  json out = json::object();
  std::vector<const gp::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    json v;
    if (f->is_map()) {
      v = json::object();
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const gp::Message& entry = r->GetRepeatedMessage(m, f, i);
        const gp::Descriptor* e = entry.GetDescriptor();
        v[entry.GetReflection()->GetString(entry, e->map_key())] =
            value_json(entry, e->map_value(), -1);
      }
    } else if (f->is_repeated()) {
      v = json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i) v.push_back(value_json(m, f, i));
    } else {
      v = value_json(m, f, -1);
      if (empty_scalar(v)) continue;
      if (inline_field(f) && v.is_object()) {
        out.update(v);
        continue;
      }
    }
    out[json_name(f)] = std::move(v);
  }
  return out;
}

// The first field this schema does not know, anywhere in the message ("" when none): such a
// body is refused rather than stored with the field silently lost.
std::string unknown_field(const gp::Message& m) {
  const gp::Reflection* r = m.GetReflection();
  const gp::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (unknown.field_count() > 0) {
    return fmt::format("{} field {}", m.GetDescriptor()->name(), unknown.field(0).number());
  }
  std::vector<const gp::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != gp::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (auto u = unknown_field(r->GetRepeatedMessage(m, f, i)); !u.empty()) return u;
      }
    } else if (auto u = unknown_field(r->GetMessage(m, f)); !u.empty()) {
      return u;
    }
  }
  return "";
}

// The top-level kinds decoded here (their messages carry metadata, spec, status ...).
const gp::Descriptor* kind_descriptor(const std::string& kind) {
  static const std::set<std::string> kinds = {"ConfigMap",
                                              "SelfSubjectRulesReview",
                                              "TokenRequest",
                                              "TokenReview",
                                              "ResourceQuota",
                                              "PodDisruptionBudget",
                                              "PriorityClass",
                                              "Secret",
                                              "Namespace",
                                              "ServiceAccount",
                                              "Pod",
                                              "Service",
                                              "PersistentVolumeClaim",
                                              "Deployment",
                                              "ReplicaSet",
                                              "StatefulSet",
                                              "DaemonSet",
                                              "ControllerRevision",
                                              "Job",
                                              "CronJob",
                                              "Ingress",
                                              "IngressClass",
                                              "NetworkPolicy",
                                              "Role",
                                              "RoleBinding",
                                              "ClusterRole",
                                              "ClusterRoleBinding",
                                              "SelfSubjectAccessReview",
                                              "SubjectAccessReview",
                                              "LocalSubjectAccessReview"};
  if (!kinds.count(kind)) return nullptr;
  return gp::DescriptorPool::generated_pool()->FindMessageTypeByName("k3a.k8s." + kind);
}

bool special_message(const gp::Descriptor* d) {
  static const std::set<std::string> names = {"Time",     "MicroTime",    "Quantity", "IntOrString",
                                              "Duration", "RawExtension", "FieldsV1"};
  return names.count(d->name()) > 0;
}

// The field a JSON key names in a message, looking through inlined structs.
const gp::FieldDescriptor* find_json_field(const gp::Descriptor* d, const std::string& key,
                                           const gp::Descriptor** owner) {
  for (int i = 0; i < d->field_count(); ++i) {
    const gp::FieldDescriptor* f = d->field(i);
    if (json_name(f) == key && !inline_field(f)) {
      *owner = d;
      return f;
    }
  }
  for (int i = 0; i < d->field_count(); ++i) {
    if (!inline_field(d->field(i))) continue;
    if (auto* f = find_json_field(d->field(i)->message_type(), key, owner)) return f;
  }
  return nullptr;
}

void check_fields(const json& v, const gp::Descriptor* d, const std::string& path,
                  std::vector<std::string>& out) {
  if (!v.is_object() || special_message(d)) return;
  for (const auto& [key, child] : v.items()) {
    std::string here = path.empty() ? key : path + "." + key;
    if (path.empty() && (key == "apiVersion" || key == "kind")) continue;
    const gp::Descriptor* owner = nullptr;
    const gp::FieldDescriptor* f = find_json_field(d, key, &owner);
    if (!f) {
      out.push_back(here);
      continue;
    }
    if (f->cpp_type() != gp::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_map()) {
      const gp::FieldDescriptor* value = f->message_type()->map_value();
      if (value->cpp_type() != gp::FieldDescriptor::CPPTYPE_MESSAGE || !child.is_object()) continue;
      for (const auto& [k, item] : child.items())
        check_fields(item, value->message_type(), here + "." + k, out);
    } else if (f->is_repeated()) {
      if (!child.is_array()) continue;
      for (size_t i = 0; i < child.size(); ++i)
        check_fields(child[i], f->message_type(), here + "[" + std::to_string(i) + "]", out);
    } else {
      check_fields(child, f->message_type(), here, out);
    }
  }
}

}  // namespace

std::vector<std::string> unknown_fields(const json& object, const std::string& kind) {
  std::vector<std::string> out;
  if (const gp::Descriptor* d = kind_descriptor(kind)) check_fields(object, d, "", out);
  return out;
}

core::Result<json> decode_protobuf_object(std::string_view body) {
  if (body.size() < 4 || body.substr(0, 4) != std::string_view("k8s\0", 4)) {
    return core::fail(Errc::kInvalid, "the protobuf body does not start with the k8s magic");
  }
  k3a::k8s::Unknown envelope;
  if (!envelope.ParseFromArray(body.data() + 4, static_cast<int>(body.size() - 4))) {
    return core::fail(Errc::kInvalid, "the protobuf envelope (runtime.Unknown) does not decode");
  }
  const std::string& kind = envelope.typemeta().kind();
  const std::string& api_version = envelope.typemeta().apiversion();
  const gp::Descriptor* d = kind_descriptor(kind);
  if (!d) {
    return core::failf(Errc::kUnsupported,
                       "no protobuf encoding of {}, Kind={} is served here; send "
                       "application/json",
                       api_version, kind);
  }
  std::unique_ptr<gp::Message> object(
      gp::MessageFactory::generated_factory()->GetPrototype(d)->New());
  if (!object->ParseFromString(envelope.raw())) {
    return core::failf(Errc::kInvalid, "the protobuf encoding of {} does not decode", kind);
  }
  if (std::string u = unknown_field(*object); !u.empty()) {
    return core::failf(Errc::kUnsupported,
                       "the protobuf encoding of {} carries {}, which this server does not know; "
                       "send application/json",
                       kind, u);
  }
  json j = message_json(*object);
  j["apiVersion"] = api_version;
  j["kind"] = kind;
  return j;
}

}  // namespace k3s::apiserver

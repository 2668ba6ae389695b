#include "k3s/apiserver/protobuf.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>
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

json message_json(const gp::Message& m) {
  const gp::Descriptor* d = m.GetDescriptor();
  const gp::Reflection* r = m.GetReflection();
  if (d->name() == "Time") {
    int64_t seconds = r->GetInt64(m, d->FindFieldByName("seconds"));
    return seconds == 0 ? json() : json(core::format_rfc3339(seconds));
  }
  if (d->name() == "FieldsV1") {
    json raw = json::parse(r->GetString(m, d->field(0)), nullptr, false);
    return raw.is_discarded() ? json() : raw;
  }
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
    }
    out[f->name()] = std::move(v);
  }
  return out;
}

}  // namespace

core::Result<json> decode_protobuf_object(std::string_view body) {
  static const std::set<std::string> kKinds = {"ConfigMap",
                                               "Secret",
                                               "Namespace",
                                               "ServiceAccount",
                                               "SelfSubjectAccessReview",
                                               "SubjectAccessReview",
                                               "LocalSubjectAccessReview"};
  if (body.size() < 4 || body.substr(0, 4) != std::string_view("k8s\0", 4)) {
    return core::fail(Errc::kInvalid, "the protobuf body does not start with the k8s magic");
  }
  k3a::k8s::Unknown envelope;
  if (!envelope.ParseFromArray(body.data() + 4, static_cast<int>(body.size() - 4))) {
    return core::fail(Errc::kInvalid, "the protobuf envelope (runtime.Unknown) does not decode");
  }
  const std::string& kind = envelope.typemeta().kind();
  const std::string& api_version = envelope.typemeta().apiversion();
  const gp::Descriptor* d =
      kKinds.count(kind)
          ? gp::DescriptorPool::generated_pool()->FindMessageTypeByName("k3a.k8s." + kind)
          : nullptr;
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
  json j = message_json(*object);
  j["apiVersion"] = api_version;
  j["kind"] = kind;
  return j;
}

}  // namespace k3s::apiserver

#include "k3s/apiserver/protobuf.h"

#include <gtest/gtest.h>

#include "k3s/apiserver/proto/k8s.pb.h"

namespace k3s::apiserver {
namespace {

// A body as Go's typed clients write it: magic, then runtime.Unknown around the object.
template <typename M>
std::string body(const std::string& api_version, const std::string& kind, const M& object) {
  k3a::k8s::Unknown u;
  u.mutable_typemeta()->set_apiversion(api_version);
  u.mutable_typemeta()->set_kind(kind);
  u.set_raw(object.SerializeAsString());
  return std::string("k8s\0", 4) + u.SerializeAsString();
}

TEST(Protobuf, ConfigMapDropsGoZeroValuesAndKeepsTheRest) {
  k3a::k8s::ConfigMap cm;
  auto* md = cm.mutable_metadata();
  md->set_name("web");
  md->set_namespace_("");                           // Go writes empty non-pointer strings
  md->set_generation(0);                            // and zero numbers
  md->mutable_creationtimestamp()->set_seconds(0);  // and zero Times
  (*md->mutable_labels())["app"] = "web";
  (*cm.mutable_data())["mode"] = "fast";
  (*cm.mutable_binarydata())["blob"] = std::string("\x00\x01", 2);
  cm.set_immutable(false);
  auto j = decode_protobuf_object(body("v1", "ConfigMap", cm));
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ(*j, nlohmann::json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"web","labels":{"app":"web"}},
      "data":{"mode":"fast"},"binaryData":{"blob":"AAE="}})"));
}

TEST(Protobuf, SecretBytesBecomeBase64AndTimesRfc3339) {
  k3a::k8s::Secret s;
  s.mutable_metadata()->set_name("s");
  s.mutable_metadata()->mutable_creationtimestamp()->set_seconds(1'800'000'000);
  (*s.mutable_data())["password"] = "hunter2";
  s.set_type("Opaque");
  auto j = decode_protobuf_object(body("v1", "Secret", s));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["data"]["password"], "aHVudGVyMg==");
  EXPECT_EQ((*j)["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ((*j)["type"], "Opaque");
}

TEST(Protobuf, AccessReviewSpec) {
  k3a::k8s::SelfSubjectAccessReview r;
  auto* a = r.mutable_spec()->mutable_resourceattributes();
  a->set_namespace_("team");
  a->set_verb("list");
  a->set_resource("pods");
  a->set_group("");
  auto j = decode_protobuf_object(body("authorization.k8s.io/v1", "SelfSubjectAccessReview", r));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["spec"],
            nlohmann::json::parse(
                R"({"resourceAttributes":{"namespace":"team","verb":"list","resource":"pods"}})"));
}

TEST(Protobuf, RefusesWhatItCannotRead) {
  k3a::k8s::ConfigMap cm;
  cm.mutable_metadata()->set_name("x");
  std::string good = body("v1", "ConfigMap", cm);
  EXPECT_EQ(decode_protobuf_object("{\"kind\":\"ConfigMap\"}").error().code(),
            core::Errc::kInvalid);
  EXPECT_EQ(decode_protobuf_object(good.substr(0, good.size() - 3)).error().code(),
            core::Errc::kInvalid);
  auto other = decode_protobuf_object(body("storage.k8s.io/v1", "StorageClass", cm));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), core::Errc::kUnsupported);
  EXPECT_NE(other.error().message().find("storage.k8s.io/v1, Kind=StorageClass"),
            std::string::npos);
}

TEST(Protobuf, PodSpecSpecialTypesAndInlinedStructs) {
  k3a::k8s::Pod pod;
  pod.mutable_metadata()->set_name("p");
  auto* c = pod.mutable_spec()->add_containers();
  c->set_name("c");
  auto* env = c->add_env();
  env->set_name("MODE");
  auto* ref = env->mutable_valuefrom()->mutable_configmapkeyref();
  ref->mutable_localobjectreference()->set_name("cfg");  // Go inlines it
  ref->set_key("mode");
  (*c->mutable_resources()->mutable_limits())["cpu"].set_string("500m");
  auto* port = c->mutable_readinessprobe()->mutable_handler()->mutable_httpget();
  port->set_path("/healthz");
  port->mutable_port()->set_type(1);
  port->mutable_port()->set_strval("http");
  auto* vol = pod.mutable_spec()->add_volumes();
  vol->set_name("data");
  vol->mutable_volumesource()->mutable_emptydir();
  auto j = decode_protobuf_object(body("v1", "Pod", pod));
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ((*j)["spec"]["containers"][0], nlohmann::json::parse(R"({"name":"c",
      "env":[{"name":"MODE","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"mode"}}}],
      "resources":{"limits":{"cpu":"500m"}},
      "readinessProbe":{"httpGet":{"path":"/healthz","port":"http"}}})"));
  EXPECT_EQ((*j)["spec"]["volumes"][0], nlohmann::json::parse(R"({"name":"data","emptyDir":{}})"));
}

TEST(Protobuf, AFieldOutsideTheSchemaIsRefusedNotDropped) {
  k3a::k8s::ConfigMap cm;
  cm.mutable_metadata()->set_name("x");
  std::string raw = cm.SerializeAsString() + std::string("\x98\x06\x01", 3);  // field 99 = 1
  k3a::k8s::Unknown u;
  u.mutable_typemeta()->set_apiversion("v1");
  u.mutable_typemeta()->set_kind("ConfigMap");
  u.set_raw(raw);
  auto j = decode_protobuf_object(std::string("k8s\0", 4) + u.SerializeAsString());
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code(), core::Errc::kUnsupported);
  EXPECT_NE(j.error().message().find("ConfigMap field 99"), std::string::npos)
      << j.error().message();
}

}  // namespace
}  // namespace k3s::apiserver

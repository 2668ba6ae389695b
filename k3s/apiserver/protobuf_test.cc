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
  auto other = decode_protobuf_object(body("apps/v1", "Deployment", cm));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), core::Errc::kUnsupported);
  EXPECT_NE(other.error().message().find("apps/v1, Kind=Deployment"), std::string::npos);
}

}  // namespace
}  // namespace k3s::apiserver

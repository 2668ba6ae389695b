// Protobuf request bodies from typed clients (kubectl's generators, `auth can-i`): the "k8s\0"
// magic, a runtime.Unknown envelope naming apiVersion and kind, and the object in upstream's
// generated.proto encoding (the subset in proto/k8s.proto). Decoded into the JSON the API
// stores, mimicking Go's `omitempty`: zero strings, numbers and booleans and zero Times are
// dropped; Times become RFC 3339 text and bytes base64. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace k3s::apiserver {

inline constexpr char kProtobufType[] = "application/vnd.kubernetes.protobuf";

// kInvalid when the body lacks the magic or does not decode; kUnsupported for a kind this
// server has no protobuf schema for (the message names it; clients may send JSON instead).
core::Result<nlohmann::json> decode_protobuf_object(std::string_view body);

// The fields of a JSON object of `kind` that upstream's schema does not have ("spec.replicass",
// "spec.template.spec.containers[0].imagee"), for fieldValidation; empty for a kind without a
// schema here.
std::vector<std::string> unknown_fields(const nlohmann::json& object, const std::string& kind);

}  // namespace k3s::apiserver

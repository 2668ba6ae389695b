// The built-in resource types the API serves: group, version, plural, kind, scope, short names
// and categories as upstream's discovery lists them. Static data; thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace k3s::apiserver {

// A column of a custom resource's Table (a CRD's additionalPrinterColumns).
struct PrinterColumn {
  std::string name, type, json_path, description;
  int priority = 0;
};

// Where the scale subresource reads and writes (a CRD may name other paths).
struct ScalePaths {
  std::string spec_replicas = ".spec.replicas";
  std::string status_replicas = ".status.replicas";
  std::string selector;  // "" for built-ins: the selector is spec.selector
};

struct ResourceType {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural, e.g. "deployments"
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> subresources;  // "status", "scale"
  bool custom = false;                    // defined by a CustomResourceDefinition
  std::vector<PrinterColumn> columns;     // custom resources: additionalPrinterColumns
  std::shared_ptr<const nlohmann::json> schema;
  ScalePaths scale;  // custom resources: openAPIV3Schema, if any

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps", "pods": how errors name the resource.
  std::string qualified() const { return group.empty() ? resource : resource + "." + group; }
  // Datastore key prefix ("/registry/<resource>/"), with upstream's exceptions.
  std::string key_prefix() const;
  std::string key(std::string_view ns, std::string_view name) const;
};

using ResourceTypes = std::vector<ResourceType>;
const ResourceTypes& builtin_resources();
const ResourceType* find_resource(const ResourceTypes& types, std::string_view group,
                                  std::string_view version, std::string_view resource);
// The groups in discovery order, each with its versions (preferred first).
std::vector<std::pair<std::string, std::vector<std::string>>> api_groups(
    const ResourceTypes& types);

}  // namespace k3s::apiserver

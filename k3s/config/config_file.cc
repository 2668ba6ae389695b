#include "k3s/config/config_file.h"

#include <dirent.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>

#include "core/base/strings.h"
#include "core/fs/files.h"

namespace k3s::config {
namespace {

using core::Errc;

// The file's top-level keys in file order (yaml-cpp keeps it; the JSON model would sort).
core::Result<std::vector<std::pair<std::string, std::vector<std::string>>>> read_flags(
    const std::string& file, const std::string& text) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  try {
    YAML::Node doc = YAML::Load(text);
    if (doc.IsNull()) return out;
    if (!doc.IsMap()) return core::failf(Errc::kInvalid, "{}: not a mapping of flags", file);
    for (const auto& kv : doc) {
      std::vector<std::string> list;
      if (kv.second.IsSequence()) {
        for (const auto& item : kv.second) list.push_back(item.as<std::string>());
      } else if (kv.second.IsScalar()) {
        list.push_back(kv.second.as<std::string>());
      } else if (!kv.second.IsNull()) {
        return core::failf(Errc::kInvalid, "{}: {} must be a value or a list", file,
                           kv.first.as<std::string>());
      }
      out.emplace_back(kv.first.as<std::string>(), std::move(list));
    }
  } catch (const YAML::Exception& e) {
    return core::failf(Errc::kInvalid, "{}: {}", file, e.what());
  }
  return out;
}

std::vector<std::string> drop_ins(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string lower = core::to_lower(e->d_name);
    if (lower.ends_with(".yaml") || lower.ends_with(".yml")) out.push_back(dir + "/" + e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// A long flag name given on the command line ("--name", "--name=v", "-d", "-d=v").
std::string flag_name(const std::string& arg, const FlagSpec& spec) {
  if (arg.starts_with("--")) return arg.substr(2, arg.find('=') - 2);
  if (arg.starts_with("-") && arg.size() > 1) {
    std::string s = arg.substr(1, arg.find('=') - 1);
    for (const auto& [alias, name] : spec.aliases) {
      if (alias == s) return name;
    }
  }
  return "";
}

}  // namespace

std::string config_path(const std::vector<std::string>& args, const char* env_value) {
  if (env_value && *env_value) return env_value;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "--config" || a == "-c") && i + 1 < args.size()) return args[i + 1];
    if (a.starts_with("--config=")) return a.substr(9);
    if (a.starts_with("-c=")) return a.substr(3);
  }
  return "/etc/rancher/k3s/config.yaml";
}

core::Result<std::vector<std::string>> merge_config(const std::string& path,
                                                    const std::vector<std::string>& args,
                                                    const FlagSpec& spec,
                                                    const std::function<void(std::string)>& warn) {
  std::vector<std::string> files;
  if (core::path_exists(path)) files.push_back(path);
  for (auto& f : drop_ins(path + ".d")) files.push_back(std::move(f));

  // Key → values, in first-seen key order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> values;
  for (const auto& file : files) {
    auto text = core::read_file(file, 4u << 20);
    if (!text) return std::unexpected(std::move(text.error()));
    for (auto& [raw_key, list] : K3A_TRY(read_flags(file, *text))) {
      bool append = raw_key.ends_with('+');
      std::string key = append ? raw_key.substr(0, raw_key.size() - 1) : raw_key;
      if (!values.count(key)) order.push_back(key);
      auto& slot = values[key];
      if (append) {
        slot.insert(slot.end(), list.begin(), list.end());
      } else {
        slot = std::move(list);
      }
    }
  }

  std::set<std::string> on_cli;
  for (const auto& a : args) {
    if (auto n = flag_name(a, spec); !n.empty()) on_cli.insert(n);
  }
  std::vector<std::string> out;
  for (const auto& key : order) {
    if (!spec.known.count(key)) {
      warn("Unknown flag --" + key + " found in config.yaml, skipping");
      continue;
    }
    if (spec.lists.count(key) && on_cli.count(key)) continue;  // the command line's list wins
    const auto& list = values[key];
    if (spec.lists.count(key)) {
      for (const auto& v : list) out.push_back("--" + key + "=" + v);
    } else if (!list.empty()) {
      out.push_back("--" + key + "=" + list.back());
    }
  }
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

}  // namespace k3s::config

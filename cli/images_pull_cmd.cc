// `k3s-airgap images pull|push`: images from registries into one OCI archive, and from an archive
// into a registry.
#include <fcntl.h>

#include <map>

#include "cli/commands.h"
#include "core/base/progress.h"
#include "core/base/strings.h"
#include "core/fs/atomic_file.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "images/oci_archive.h"
#include "images/registry_client.h"

namespace cli {
namespace {

struct PullArgs {
  std::vector<std::string> refs;
  std::vector<std::string> platforms;  // repeatable, each may be comma-separated
  std::string out, registries;
};

struct PushArgs {
  std::string archive, to, registries;
};

core::Result<images::RegistryConfig> load_registries(const std::string& path) {
  if (path.empty()) return images::RegistryConfig{};
  return images::RegistryConfig::load(path);
}

core::Result<std::vector<images::Platform>> parse_platforms(const std::vector<std::string>& args) {
  std::vector<images::Platform> out;
  for (const auto& arg : args) {
    for (std::string_view part : core::split(arg, ',')) {
      if (core::trim(part).empty()) continue;
      out.push_back(K3A_TRY(images::Platform::parse(core::trim(part))));
    }
  }
  if (out.empty()) out.push_back(images::host_platform());
  return out;
}

int64_t archive_mtime() {
  const char* sde = std::getenv("SOURCE_DATE_EPOCH");
  auto v = sde ? core::parse_u64(sde) : std::nullopt;
  return v ? static_cast<int64_t>(*v) : 0;
}

nlohmann::json image_json(const images::ArchiveImage& image) {
  return {{"reference", image.ref.str()},
          {"digest", image.manifest.digest},
          {"platform", image.manifest.platform ? image.manifest.platform->str() : ""},
          {"index", image.index_digest ? nlohmann::json(*image.index_digest) : nlohmann::json()}};
}

core::Result<void> pull(const PullArgs& args, Output& output) {
  images::RegistryClient client(K3A_TRY(load_registries(args.registries)));
  images::PullOptions options{.platforms = K3A_TRY(parse_platforms(args.platforms))};
  std::vector<images::Reference> refs;
  for (const auto& text : args.refs) {
    images::Reference ref = K3A_TRY(images::Reference::parse(text)).with_default_tag();
    if (std::find(refs.begin(), refs.end(), ref) == refs.end()) refs.push_back(std::move(ref));
  }
  // The store sits beside the output so that the archive is written on the same filesystem.
  core::TempDir work =
      K3A_TRY(core::TempDir::create(".k3s-airgap-pull-", core::dir_name(args.out)));
  images::BlobStore store = K3A_TRY(images::BlobStore::open(work.path()));
  core::Progress progress("pull", 0);
  options.on_bytes = [&progress](uint64_t n) { progress.advance(n); };
  std::vector<images::ArchiveImage> pulled;
  for (const auto& ref : refs) {
    std::vector<images::ArchiveImage> got = K3A_TRY(client.pull(ref, store, options));
    pulled.insert(pulled.end(), got.begin(), got.end());
  }
  progress.finish();
  core::AtomicFile file = K3A_TRY(core::AtomicFile::create(args.out, 0644));
  core::BufferedSink buffered(file);
  K3A_CHECK(images::write_oci_archive(pulled, store, buffered, archive_mtime()));
  K3A_CHECK(buffered.flush());
  K3A_CHECK(file.commit());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& image : pulled) list.push_back(image_json(image));
  output.result({{"archive", args.out}, {"images", list}}, [&] {
    std::string s;
    for (const auto& i : pulled) {
      s += fmt::format("pulled {} {} ({})\n", i.ref.str(), i.manifest.digest,
                       i.manifest.platform ? i.manifest.platform->str() : "-");
    }
    return s + "wrote " + args.out + "\n";
  });
  return {};
}

// HOST[:PORT][/prefix] + the source's repository and tag (or nothing: push by digest).
core::Result<images::Reference> target_for(const std::string& to, const images::Reference& src) {
  std::string registry = to.substr(0, to.find('/'));
  std::string text = fmt::format("{}/{}", to, src.repository);
  if (!src.tag.empty()) text += ":" + src.tag;
  auto target = images::Reference::parse(text);
  if (!target || target->registry != registry) {
    return core::failf(core::Errc::kInvalid,
                       "--to {}: expected HOST[:PORT][/prefix] naming a registry", core::quote(to));
  }
  return target;
}

core::Result<void> push(const PushArgs& args, Output& output) {
  K3A_TRY(target_for(args.to, images::Reference{.repository = "check"}));  // before any work
  images::RegistryClient client(K3A_TRY(load_registries(args.registries)));
  core::TempDir work = K3A_TRY(core::TempDir::create("k3s-airgap-push-"));
  images::BlobStore store = K3A_TRY(images::BlobStore::open(work.path()));
  core::Fd fd = K3A_TRY(core::Fd::open(args.archive, O_RDONLY));
  core::FdSource src(fd);
  auto contents = images::read_oci_archive(src, &store);
  if (!contents) return std::unexpected(std::move(contents.error()).context(args.archive));
  // Platform manifests of one reference go together, as one index.
  std::vector<std::string> order;
  std::map<std::string, std::vector<images::ArchiveImage>> groups;
  for (const auto& image : contents->images) {
    std::string key = image.ref.str();
    if (!groups.contains(key)) order.push_back(key);
    groups[key].push_back(image);
  }
  nlohmann::json list = nlohmann::json::array();
  std::string text;
  for (const auto& key : order) {
    const auto& group = groups[key];
    images::Reference target = K3A_TRY(target_for(args.to, group.front().ref));
    K3A_CHECK(client.push(target, group, store));
    list.push_back({{"source", key}, {"target", target.str()}, {"manifests", group.size()}});
    text += fmt::format("pushed {} to {} ({} manifest{})\n", key, target.str(), group.size(),
                        group.size() == 1 ? "" : "s");
  }
  output.result({{"archive", args.archive}, {"pushed", list}}, [&] { return text; });
  return {};
}

}  // namespace

void register_images_pull_push(CLI::App* images_cmd, Runner& runner) {
  auto p = std::make_shared<PullArgs>();
  auto* pull_cmd =
      images_cmd->add_subcommand("pull", "Pull images from registries into an archive");
  pull_cmd->add_option("reference", p->refs, "Image references")->required();
  pull_cmd
      ->add_option("--platform", p->platforms,
                   "Platform, repeatable or comma-separated (default: host)")
      ->allow_extra_args(false);
  pull_cmd->add_option("-o,--output", p->out, "Output OCI archive")->required();
  pull_cmd->add_option("--registries", p->registries, "registries.yaml (mirrors, auth, TLS)");
  add_format_flag(pull_cmd, runner);
  pull_cmd->callback([p, &runner] { runner.run([p](Output& o) { return pull(*p, o); }); });

  auto s = std::make_shared<PushArgs>();
  auto* push_cmd =
      images_cmd->add_subcommand("push", "Push the images of an archive to a registry");
  push_cmd->add_option("archive", s->archive, "OCI archive")->required();
  push_cmd->add_option("--to", s->to, "Registry HOST[:PORT][/prefix]")->required();
  push_cmd->add_option("--registries", s->registries, "registries.yaml (auth, TLS)");
  add_format_flag(push_cmd, runner);
  push_cmd->callback([s, &runner] { runner.run([s](Output& o) { return push(*s, o); }); });
}

}  // namespace cli

// `k3s-airgap images build|list|pull|push`: OCI image archives.
#include <fcntl.h>

#include <map>

#include "cli/commands.h"
#include "core/base/strings.h"
#include "core/fs/atomic_file.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "images/builder.h"
#include "images/oci_archive.h"

namespace cli {
namespace {

struct BuildArgs {
  std::vector<std::string> rootfs;  // DIR, or PLATFORM=DIR for a multi-platform image
  std::vector<std::string> entrypoint, cmd, env;
  std::string workdir, platform;
  std::vector<std::string> tags;
  std::string out;
  int64_t created = -1;
};

int64_t default_created() {
  const char* sde = std::getenv("SOURCE_DATE_EPOCH");
  auto v = sde ? core::parse_u64(sde) : std::nullopt;
  return v ? static_cast<int64_t>(*v) : 0;
}

// "linux/arm64=DIR" or "DIR" (with the default platform).
core::Result<std::pair<images::Platform, std::string>> split_rootfs(const std::string& arg,
                                                                    const std::string& def) {
  size_t eq = arg.find('=');
  std::string spec = eq == std::string::npos ? def : arg.substr(0, eq);
  std::string dir = eq == std::string::npos ? arg : arg.substr(eq + 1);
  images::Platform p =
      spec.empty() ? images::host_platform() : K3A_TRY(images::Platform::parse(spec));
  return std::make_pair(p, dir);
}

core::Result<void> build(const BuildArgs& args, Output& output) {
  if (args.tags.empty()) return core::fail(core::Errc::kInvalid, "images build needs -t REFERENCE");
  core::TempDir work =
      K3A_TRY(core::TempDir::create(".k3s-airgap-build-", core::dir_name(args.out)));
  images::BlobStore store = K3A_TRY(images::BlobStore::open(work.path()));
  int64_t created = args.created >= 0 ? args.created : default_created();
  std::vector<images::Descriptor> manifests;
  for (const auto& r : args.rootfs) {
    auto [platform, dir] = K3A_TRY(split_rootfs(r, args.platform));
    images::BuildSpec spec{.rootfs_dir = dir,
                           .entrypoint = args.entrypoint,
                           .cmd = args.cmd,
                           .env = args.env,
                           .workdir = args.workdir,
                           .platform = platform,
                           .created = created};
    manifests.push_back(K3A_TRY(images::build_image(spec, store)));
  }
  std::optional<std::string> index;
  if (manifests.size() > 1) index = K3A_TRY(images::build_index(manifests, store)).digest;
  std::vector<images::ArchiveImage> list;
  for (const auto& tag : args.tags) {
    images::Reference ref = K3A_TRY(images::Reference::parse(tag)).with_default_tag();
    for (const auto& m : manifests) list.push_back({ref, m, index});
  }
  core::AtomicFile file = K3A_TRY(core::AtomicFile::create(args.out, 0644));
  core::BufferedSink buffered(file);
  K3A_CHECK(images::write_oci_archive(list, store, buffered, created));
  K3A_CHECK(buffered.flush());
  K3A_CHECK(file.commit());
  nlohmann::json j{{"archive", args.out},
                   {"index", index ? nlohmann::json(*index) : nlohmann::json()}};
  j["manifests"] = nlohmann::json::array();
  for (const auto& m : manifests)
    j["manifests"].push_back({{"digest", m.digest}, {"platform", m.platform->str()}});
  output.result(j, [&] {
    std::string s;
    for (const auto& m : manifests) {
      s +=
          fmt::format("built {} {} ({})\n", fmt::join(args.tags, ","), m.digest, m.platform->str());
    }
    if (index) s += fmt::format("index {}\n", *index);
    return s + "wrote " + args.out + "\n";
  });
  return {};
}

core::Result<void> list(const std::string& path, Output& output) {
  core::Fd fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource src(fd);
  auto contents = images::read_oci_archive(src, nullptr);
  if (!contents) return std::unexpected(std::move(contents.error()).context(path));
  nlohmann::json j = nlohmann::json::array();
  for (const auto& i : contents->images) {
    j.push_back({{"reference", i.ref.str()},
                 {"digest", i.manifest.digest},
                 {"platform", i.manifest.platform ? i.manifest.platform->str() : ""},
                 {"size", i.manifest.size},
                 {"index", i.index_digest ? nlohmann::json(*i.index_digest) : nlohmann::json()}});
  }
  output.result(
      {{"images", j}, {"blobs", contents->blob_count}, {"blob_bytes", contents->blob_bytes}}, [&] {
        std::string s = fmt::format("{:<60} {:<16} {}\n", "REFERENCE", "PLATFORM", "DIGEST");
        for (const auto& i : contents->images) {
          s += fmt::format("{:<60} {:<16} {}\n", i.ref.str(),
                           i.manifest.platform ? i.manifest.platform->str() : "-",
                           i.manifest.digest);
        }
        return s + fmt::format("{} blobs, {} (all verified)\n", contents->blob_count,
                               core::human_bytes(contents->blob_bytes));
      });
  return {};
}

}  // namespace

void register_images_pull_push(CLI::App* images_cmd, Runner& runner);

void register_images_commands(CLI::App& app, Runner& runner) {
  auto* images_cmd = app.add_subcommand("images", "Build, list, pull and push OCI image archives");
  images_cmd->require_subcommand(1);

  auto b = std::make_shared<BuildArgs>();
  auto* build_cmd = images_cmd->add_subcommand("build", "Build an image from a local directory");
  build_cmd
      ->add_option("--rootfs", b->rootfs, "Root filesystem directory, or PLATFORM=DIR (repeatable)")
      ->required();
  build_cmd->add_option("--entrypoint", b->entrypoint, "Entrypoint words")->expected(0, -1);
  build_cmd->add_option("--cmd", b->cmd, "Cmd words")->expected(0, -1);
  build_cmd->add_option("--env", b->env, "KEY=value (repeatable)");
  build_cmd->add_option("--workdir", b->workdir, "Working directory");
  build_cmd->add_option("--platform", b->platform, "Platform of a plain --rootfs (default: host)");
  build_cmd->add_option("-t,--tag", b->tags, "Image reference (repeatable)")->required();
  build_cmd->add_option("-o,--output", b->out, "Output OCI archive")->required();
  build_cmd->add_option("--created", b->created,
                        "Creation time, seconds (default SOURCE_DATE_EPOCH or 0)");
  add_format_flag(build_cmd, runner);
  build_cmd->callback([b, &runner] { runner.run([b](Output& o) { return build(*b, o); }); });

  auto path = std::make_shared<std::string>();
  auto* list_cmd = images_cmd->add_subcommand("list", "List and verify the images of an archive");
  list_cmd->add_option("archive", *path, "OCI archive")->required();
  add_output_flag(list_cmd, runner);
  list_cmd->callback([path, &runner] { runner.run([path](Output& o) { return list(*path, o); }); });

  register_images_pull_push(images_cmd, runner);
}

}  // namespace cli

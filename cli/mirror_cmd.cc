// `k3s-airgap mirror add|serve`: a mirror of releases, channels and images inside the air gap.
#include <fmt/ranges.h>
#include <signal.h>

#include "bundler/format/signatures.h"
#include "cli/commands.h"
#include "core/base/log.h"
#include "core/base/time.h"
#include "mirror/server.h"
#include "mirror/store.h"

namespace cli {

namespace {
struct AddArgs {
  std::string bundle, root;
  std::vector<std::string> trust;
  bool insecure = false;
};

core::Result<void> mirror_add(const AddArgs& args, Output& output) {
  bundler::VerifyOptions options{.skip_signatures = args.insecure, .now = core::system_now()};
  if (!args.insecure) options.trusted = K3A_TRY(bundler::load_trusted_keys(args.trust));
  auto r = K3A_TRY(mirror::add_bundle(args.root, args.bundle, options));
  output.result({{"version", r.version},
                 {"files", r.files},
                 {"files_stored", r.files_stored},
                 {"images", r.images},
                 {"channels", r.channels}},
                [&] {
                  return fmt::format("added {} to {}: {} files ({} new), {} images; channels: {}\n",
                                     r.version, args.root, r.files, r.files_stored, r.images,
                                     r.channels.empty()
                                         ? "unchanged"
                                         : fmt::format("{}", fmt::join(r.channels, ", ")));
                });
  return {};
}

core::Result<void> mirror_serve(const mirror::ServeOptions& options, const std::string& addr) {
  mirror::ServeOptions o = options;
  if (!addr.empty()) {
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos)
      return core::failf(core::Errc::kInvalid, "--addr {}: HOST:PORT", addr);
    o.address = addr.substr(0, colon);
    o.port = static_cast<uint16_t>(std::atoi(addr.c_str() + colon + 1));
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto server = K3A_TRY(mirror::serve(o));
  core::log::info("mirror of {} serving on {}", o.root, server->url());
  int sig = 0;
  sigwait(&signals, &sig);
  server->stop();
  return {};
}
}  // namespace

void register_mirror_commands(CLI::App& app, Runner& runner) {
  auto* m = app.add_subcommand("mirror", "Serve releases, channels and images inside the air gap");
  m->require_subcommand(1);
  auto add = std::make_shared<AddArgs>();
  auto* a = m->add_subcommand("add", "Verify a bundle and add it to a mirror's store");
  a->add_option("bundle", add->bundle, "Bundle (.tar.zst)")->required();
  a->add_option("--root", add->root, "Mirror directory")->required();
  a->add_option("--trust", add->trust, "Trusted public key (repeatable)");
  a->add_flag("--insecure-skip-verify", add->insecure,
              "Add an unsigned bundle (contents still checked)");
  add_output_flag(a, runner);
  a->callback([add, &runner] { runner.run([add](Output& o) { return mirror_add(*add, o); }); });
  auto serve = std::make_shared<mirror::ServeOptions>();
  auto addr = std::make_shared<std::string>();
  auto* s = m->add_subcommand("serve", "Serve a mirror directory");
  s->add_option("--root", serve->root, "Mirror directory")->required();
  s->add_option("--addr", *addr, "Listen address HOST:PORT (default 0.0.0.0:8080)");
  s->add_option("--tls-cert", serve->tls_cert, "PEM certificate (HTTPS)");
  s->add_option("--tls-key", serve->tls_key, "PEM key (HTTPS)");
  s->callback([serve, addr, &runner] {
    runner.run([serve, addr](Output&) { return mirror_serve(*serve, *addr); });
  });
}

}  // namespace cli

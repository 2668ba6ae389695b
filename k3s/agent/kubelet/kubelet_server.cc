#include "k3s/agent/kubelet/kubelet_server.h"

#include <algorithm>
#include <fstream>
#include <thread>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/fs/files.h"
#include "core/http/tunnel.h"
#include "core/http/url.h"
#include "k3s/agent/kubelet/exec.h"

namespace k3s::agent::kubelet {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

Query parse_query(const std::string& query) {
  Query out;
  for (auto part : core::split(query, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key(part.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : std::string(part.substr(eq + 1));
    std::replace(value.begin(), value.end(), '+', ' ');  // form encoding's space
    out.emplace_back(core::http::url_decode(key).value_or(key),
                     core::http::url_decode(value).value_or(value));
  }
  return out;
}

std::string first(const Query& q, const std::string& key) {
  for (const auto& [k, v] : q)
    if (k == key) return v;
  return "";
}

int64_t number(const Query& q, const std::string& key) {
  std::string v = first(q, key);
  return v.empty() ? -1 : std::atoll(v.c_str());
}

void text(core::http::ResponseWriter& w, int status, const std::string& body) {
  w.set_status(status);
  w.add_header("Content-Type", "text/plain");
  w.send(body);
}

// "<ns>/<pod>/<container>" after the prefix.
std::vector<std::string> parts(const std::string& path, size_t prefix) {
  std::vector<std::string> out;
  std::string rest = path.substr(prefix);
  for (auto p : core::split(rest, '/'))
    out.push_back(core::http::url_decode(p).value_or(std::string(p)));
  return out;
}

// Tails a log file into the stream while its container runs.
void follow(std::string path, LogOptions options, std::function<bool()> running,
            std::shared_ptr<core::http::ResponseStream> out) {
  std::ifstream in(path, std::ios::binary);
  std::string pending;
  auto initial = core::read_file(path);
  std::string start = initial ? *initial : "";
  size_t complete = start.rfind('\n');
  complete = complete == std::string::npos ? 0 : complete + 1;
  out->write(format_log(start.substr(0, complete), options, core::system_now()));
  in.seekg(static_cast<std::streamoff>(complete));
  options.tail_lines = -1;
  int idle = 0;
  while (!out->closed()) {
    char buf[8192];
    in.read(buf, sizeof buf);
    std::streamsize n = in.gcount();
    in.clear();
    if (n > 0) {
      idle = 0;
      pending.append(buf, static_cast<size_t>(n));
      size_t end = pending.rfind('\n');
      if (end == std::string::npos) continue;
      out->write(format_log(pending.substr(0, end + 1), options, core::system_now()));
      pending.erase(0, end + 1);
      continue;
    }
    if (++idle % 10 == 0 && !running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out->close();
}

void serve_logs(Kubelet& kubelet, const std::vector<std::string>& p, const Query& q,
                core::http::ResponseWriter& w) {
  if (p.size() < 2) return text(w, 400, "expected /containerLogs/<namespace>/<pod>/<container>\n");
  std::string container = p.size() > 2 ? p[2] : "";
  auto found = kubelet.find_container(p[0], p[1], container, first(q, "previous") == "true");
  if (!found)
    return text(w, found.error().code() == core::Errc::kInvalid ? 400 : 404,
                found.error().message() + "\n");
  LogOptions options{.timestamps = first(q, "timestamps") == "true",
                     .tail_lines = number(q, "tailLines"),
                     .limit_bytes = number(q, "limitBytes"),
                     .since_seconds = number(q, "sinceSeconds")};
  w.add_header("Content-Type", "text/plain");
  if (first(q, "follow") != "true" || !found->running) {
    auto log = core::read_file(found->log_path, 1ull << 30);
    return w.send(format_log(log ? *log : "", options, core::system_now()));
  }
  auto running = [&kubelet, ns = p[0], pod = p[1], container, id = found->id] {
    auto now = kubelet.find_container(ns, pod, container, false);
    return now && now->id == id && now->running;
  };
  w.stream(
      [path = found->log_path, options, running](std::shared_ptr<core::http::ResponseStream> out) {
        std::thread(follow, path, options, running, out).detach();
      });
}

void serve_exec(Kubelet& kubelet, const std::string& cri_socket, const std::vector<std::string>& p,
                const Query& q, const core::http::ServerRequest& req,
                core::http::ResponseWriter& w) {
  if (p.size() < 3) return text(w, 400, "expected /exec/<namespace>/<pod>/<container>\n");
  auto found = kubelet.find_container(p[0], p[1], p[2], false);
  if (!found) return text(w, 404, found.error().message() + "\n");
  if (!found->running) return text(w, 400, "container " + p[2] + " is not running\n");
  ExecCommand command{.container_id = found->id,
                      .stdin = first(q, "stdin") == "true" || first(q, "stdin") == "1",
                      .stdout = first(q, "stdout") == "true" || first(q, "stdout") == "1",
                      .stderr = first(q, "stderr") == "true" || first(q, "stderr") == "1",
                      .tty = first(q, "tty") == "true" || first(q, "tty") == "1"};
  for (const auto& [k, v] : q)
    if (k == "command") command.cmd.push_back(v);
  if (!websocket_exec_protocol(req).empty())
    return serve_websocket_exec(req, w, command, cri_socket, "/run/k3s/exec");
  cri::v1::ExecRequest exec;
  exec.set_container_id(found->id);
  for (const auto& arg : command.cmd) exec.add_cmd(arg);
  exec.set_tty(command.tty);
  exec.set_stdin(command.stdin);
  exec.set_stdout(command.stdout);
  exec.set_stderr(command.stderr);
  core::grpc::Client cri(cri_socket);
  auto url = cri::call<cri::v1::ExecResponse>(cri, "RuntimeService/Exec", exec);
  if (!url) return text(w, 500, url.error().message() + "\n");
  core::http::proxy_upgrade(req, url->url(), {.retries = 0, .proxy = ""}, w);
}

}  // namespace

std::string format_log(const std::string& cri_log, const LogOptions& options, int64_t now) {
  std::vector<std::string> lines;  // whole log lines, partial ones joined
  std::string current;
  for (auto line : core::split(cri_log, '\n')) {
    // <time> <stream> <P|F> <text>
    size_t a = line.find(' '), b = a == std::string::npos ? a : line.find(' ', a + 1);
    size_t c = b == std::string::npos ? b : line.find(' ', b + 1);
    if (c == std::string::npos) continue;
    std::string_view time = line.substr(0, a);
    if (options.since_seconds >= 0) {
      auto t = core::parse_rfc3339(std::string(time.substr(0, 19)) + "Z");
      if (t && *t < now - options.since_seconds) continue;
    }
    if (current.empty() && options.timestamps) current = std::string(time) + " ";
    current += line.substr(c + 1);
    if (line.substr(b + 1, c - b - 1) == "F") {
      lines.push_back(current + "\n");
      current.clear();
    }
  }
  if (!current.empty()) lines.push_back(current);
  size_t from = 0;
  if (options.tail_lines >= 0 && static_cast<size_t>(options.tail_lines) < lines.size())
    from = lines.size() - static_cast<size_t>(options.tail_lines);
  std::string out;
  for (size_t i = from; i < lines.size(); ++i) out += lines[i];
  if (options.limit_bytes >= 0 && out.size() > static_cast<size_t>(options.limit_bytes))
    out.resize(static_cast<size_t>(options.limit_bytes));
  return out;
}

core::Result<std::unique_ptr<core::http::Server>> start_kubelet_server(
    Kubelet& kubelet, const KubeletServerOptions& options) {
  std::string cri_socket = options.cri_socket;
  return core::http::Server::start(
      {.address = options.address,
       .port = options.port,
       .tls_cert_file = options.cert_file,
       .tls_key_file = options.key_file,
       .client_ca_file = options.client_ca_file,
       .threads = 2},
      [&kubelet, cri_socket](const core::http::ServerRequest& req, core::http::ResponseWriter& w) {
        if (req.path == "/healthz") return text(w, 200, "ok");
        bool masters = std::find(req.client_orgs.begin(), req.client_orgs.end(),
                                 "system:masters") != req.client_orgs.end();
        if (!req.client_verified) return text(w, 401, "Unauthorized\n");
        if (!masters) return text(w, 403, "Forbidden (user=" + req.client_cn + ")\n");
        Query q = parse_query(req.query);
        if (req.path.starts_with("/containerLogs/"))
          return serve_logs(kubelet, parts(req.path, 15), q, w);
        if (req.path.starts_with("/exec/"))
          return serve_exec(kubelet, cri_socket, parts(req.path, 6), q, req, w);
        text(w, 404, "404 page not found\n");
      });
}

}  // namespace k3s::agent::kubelet

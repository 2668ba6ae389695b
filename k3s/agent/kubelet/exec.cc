#include "k3s/agent/kubelet/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/strings.h"
#include "core/crypto/x509.h"
#include "core/fs/files.h"
#include "core/grpc/grpc_client.h"
#include "k3s/agent/kubelet/websocket.h"
#include "k3s/agent/proto/containerd.pb.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
namespace pb = k3s::containerd;
constexpr char kTasks[] = "/containerd.services.tasks.v1.Tasks/";
const core::grpc::Metadata kNamespace = {{"containerd-namespace", "k8s.io"}};

// One exec session: the process's FIFOs pumped to and from the WebSocket.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ExecCommand c, std::string socket, std::string dir)
      : c_(std::move(c)), socket_(std::move(socket)), dir_(std::move(dir)), cri_(socket_) {}
  ~Session() {
    for (int fd : {in_, out_, err_})
      if (fd >= 0) ::close(fd);
    (void)core::remove_all(dir_);
  }

  // Creates and starts the process; before the 101.
  core::Result<void> start() {
    pb::GetContainerRequest get;
    get.set_id(c_.container_id);
    pb::GetContainerResponse got;
    got.ParseFromString(K3A_TRY(cri_.call("/containerd.services.containers.v1.Containers/Get",
                                          get.SerializeAsString(), kNamespace)));
    json spec = json::parse(got.container().spec().value(), nullptr, false);
    if (!spec.is_object() || !spec.contains("process"))
      return core::fail(core::Errc::kInvalid, "the container has no process spec");
    json process = spec["process"];
    process["args"] = c_.cmd;
    process["terminal"] = c_.tty;
    K3A_CHECK(core::make_dirs(dir_, 0700));
    id_ = "exec-" + core::random_hex(8);
    pb::ExecProcessRequest exec;
    exec.set_container_id(c_.container_id);
    exec.set_exec_id(id_);
    exec.set_terminal(c_.tty);
    exec.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Process");
    exec.mutable_spec()->set_value(process.dump());
    auto fifo = [&](const char* name, int flags, int& fd) -> core::Result<void> {
      std::string path = dir_ + "/" + name;
      if (::mkfifo(path.c_str(), 0600) != 0) return core::fail_errno(errno, path);
      fd = ::open(path.c_str(), flags | O_CLOEXEC);
      if (fd < 0) return core::fail_errno(errno, path);
      if (std::string(name) == "stdin") exec.set_stdin(path);
      if (std::string(name) == "stdout") exec.set_stdout(path);
      if (std::string(name) == "stderr") exec.set_stderr(path);
      return {};
    };
    if (c_.stdin) K3A_CHECK(fifo("stdin", O_RDWR, in_));
    if (c_.stdout || c_.tty) K3A_CHECK(fifo("stdout", O_RDONLY | O_NONBLOCK, out_));
    if (c_.stderr && !c_.tty) K3A_CHECK(fifo("stderr", O_RDONLY | O_NONBLOCK, err_));
    (void)K3A_TRY(cri_.call(std::string(kTasks) + "Exec", exec.SerializeAsString(), kNamespace));
    pb::StartRequest start;
    start.set_container_id(c_.container_id);
    start.set_exec_id(id_);
    (void)K3A_TRY(cri_.call(std::string(kTasks) + "Start", start.SerializeAsString(), kNamespace));
    return {};
  }

  // After the 101: the connection is ours.
  void run(std::shared_ptr<core::http::UpgradedConnection> conn) {
    conn_ = std::move(conn);
    auto self = shared_from_this();
    conn_->on_read([self](std::string_view data) { self->received(data); },
                   [self] { self->client_gone(); });
    std::thread([self] { self->write_stdin(); }).detach();
    std::thread([self] { self->pump(); }).detach();
  }

 private:
  void received(std::string_view data) {
    std::vector<ws::Message> messages;
    if (!parser_.feed(data, messages)) return client_gone();
    for (auto& m : messages) {
      if (m.op == ws::kPing) conn_->write(ws::frame(ws::kPong, m.payload));
      if (m.op == ws::kClose) return client_gone();
      if ((m.op != ws::kBinary && m.op != ws::kText) || m.payload.empty()) continue;
      auto channel = static_cast<uint8_t>(m.payload[0]);
      std::string body = m.payload.substr(1);
      if (channel == 0) {
        std::lock_guard lock(mu_);
        stdin_.push_back(std::move(body));
        wake_.notify_all();
      } else if (channel == 4) {
        json size = json::parse(body, nullptr, false);
        pb::ResizePtyRequest resize;
        resize.set_container_id(c_.container_id);
        resize.set_exec_id(id_);
        resize.set_width(size.is_object() ? size.value("Width", 80u) : 80u);
        resize.set_height(size.is_object() ? size.value("Height", 24u) : 24u);
        (void)cri_.call(std::string(kTasks) + "ResizePty", resize.SerializeAsString(), kNamespace);
      } else if (channel == 255 && body == std::string(1, '\0')) {
        std::lock_guard lock(mu_);
        stdin_closed_ = true;
        wake_.notify_all();
      }
    }
  }

  void client_gone() {
    std::lock_guard lock(mu_);
    stdin_closed_ = true;
    gone_ = true;
    wake_.notify_all();
  }

  // Writes what the client sends to the process's stdin; closes it on the v5 signal.
  void write_stdin() {
    for (;;) {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return !stdin_.empty() || stdin_closed_ || exited_; });
      if (!stdin_.empty()) {
        std::string chunk = std::move(stdin_.front());
        stdin_.pop_front();
        lock.unlock();
        if (in_ >= 0 && ::write(in_, chunk.data(), chunk.size()) < 0) return;
        continue;
      }
      if (exited_) return;
      lock.unlock();
      // The shim's copy to the process ends when every writer of the FIFO is gone: ours too.
      if (in_ >= 0) ::close(std::exchange(in_, -1));
      pb::CloseIORequest close;
      close.set_container_id(c_.container_id);
      close.set_exec_id(id_);
      close.set_stdin(true);
      core::grpc::Client own(socket_);
      (void)own.call(std::string(kTasks) + "CloseIO", close.SerializeAsString(), kNamespace);
      return;
    }
  }

  // Forwards stdout and stderr until both end, then sends the exit status and closes.
  void pump() {
    core::grpc::Client waiter(socket_, std::chrono::hours(24 * 365));
    uint32_t code = 0;
    std::thread wait([&] {
      pb::WaitRequest req;
      req.set_container_id(c_.container_id);
      req.set_exec_id(id_);
      auto r = waiter.call(std::string(kTasks) + "Wait", req.SerializeAsString(), kNamespace);
      pb::WaitResponse done;
      if (r) done.ParseFromString(*r);
      code = r ? done.exit_status() : 255;
    });
    std::vector<pollfd> fds;
    for (int fd : {out_, err_})
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    char buf[32768];
    while (!fds.empty()) {
      if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          char channel = fds[i].fd == out_ ? 1 : 2;
          conn_->write(ws::frame(ws::kBinary, std::string(1, channel) + std::string(buf, n)));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          fds.erase(fds.begin() + static_cast<long>(i));
          break;
        }
      }
    }
    wait.join();
    {
      std::lock_guard lock(mu_);
      exited_ = true;
      wake_.notify_all();
    }
    json status = {{"metadata", json::object()}, {"status", "Success"}};
    if (code != 0) {
      std::string cmd;
      for (const auto& a : c_.cmd) cmd += (cmd.empty() ? "" : " ") + a;
      status = {
          {"metadata", json::object()},
          {"status", "Failure"},
          {"message", "command terminated with non-zero exit code: error executing command [" +
                          cmd + "], exit code " + std::to_string(code)},
          {"reason", "NonZeroExitCode"},
          {"details", {{"causes", {{{"reason", "ExitCode"}, {"message", std::to_string(code)}}}}}}};
    }
    conn_->write(ws::frame(ws::kBinary, std::string(1, '\3') + status.dump()));
    conn_->write(ws::frame(ws::kClose, std::string("\x03\xe8", 2)));
    conn_->close();
    pb::DeleteProcessRequest del;
    del.set_container_id(c_.container_id);
    del.set_exec_id(id_);
    (void)cri_.call(std::string(kTasks) + "DeleteProcess", del.SerializeAsString(), kNamespace);
    conn_->on_read(nullptr, nullptr);  // drops the connection's hold on this session
  }

  ExecCommand c_;
  std::string socket_, dir_, id_;
  core::grpc::Client cri_;
  int in_ = -1, out_ = -1, err_ = -1;
  std::shared_ptr<core::http::UpgradedConnection> conn_;
  ws::Parser parser_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::string> stdin_;
  bool stdin_closed_ = false, gone_ = false, exited_ = false;
};

}  // namespace

std::string websocket_exec_protocol(const core::http::ServerRequest& req) {
  if (core::to_lower(req.header("Upgrade").value_or("")) != "websocket") return "";
  std::string offered = req.header("Sec-WebSocket-Protocol").value_or("");
  std::string chosen;
  for (auto p : core::split(offered, ',')) {
    std::string name(core::trim(p));
    if (name == "v5.channel.k8s.io") return name;
    if (name == "v4.channel.k8s.io") chosen = name;
  }
  return chosen;
}

void serve_websocket_exec(const core::http::ServerRequest& req, core::http::ResponseWriter& w,
                          const ExecCommand& command, const std::string& containerd_socket,
                          const std::string& fifo_dir) {
  auto session =
      std::make_shared<Session>(command, containerd_socket, fifo_dir + "/" + core::random_hex(8));
  if (auto started = session->start(); !started) {
    w.set_status(500);
    w.add_header("Content-Type", "text/plain");
    return w.send(started.error().message() + "\n");
  }
  w.set_status(101);
  w.add_header("Upgrade", "websocket");
  w.add_header("Connection", "Upgrade");
  w.add_header("Sec-WebSocket-Accept",
               ws::accept_key(req.header("Sec-WebSocket-Key").value_or("")));
  w.add_header("Sec-WebSocket-Protocol", websocket_exec_protocol(req));
  w.upgrade([session](std::shared_ptr<core::http::UpgradedConnection> conn) {
    session->run(std::move(conn));
  });
}

}  // namespace k3s::agent::kubelet

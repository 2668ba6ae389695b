#include "tests/support/test_support.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace testing_support {

core::TempDir make_temp_dir() {
  auto dir = core::TempDir::create("k3a-test-");
  if (!dir) {
    ADD_FAILURE() << dir.error().message();
    std::abort();
  }
  return std::move(*dir);
}

std::string source_dir() { return K3A_SOURCE_DIR; }

std::vector<std::string> data_files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/" + dir, ec)) {
    if (e.path().string().ends_with(suffix)) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string data_file_test_name(const std::string& path) {
  std::string n = std::filesystem::path(path).stem().string();
  std::replace_if(
      n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return n;
}

std::string bin_dir() {
  // Test binaries live in <build>/tests; shipped binaries in <build>/bin.
  auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "bin").string();
}

core::ProcessOutput run(const std::vector<std::string>& argv) {
  auto r = core::run_command(argv);
  if (!r) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << r.error().message();
    return core::ProcessOutput{127, ""};
  }
  return *r;
}

bool have_program(const std::string& name) {
  auto r = core::run_command({"sh", "-c", "command -v " + name});
  return r && r->exit_code == 0;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace testing_support

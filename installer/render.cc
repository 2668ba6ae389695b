#include "installer/render.h"

#include <map>

#include "installer/scripts.h"

namespace installer {
namespace {

std::string fill(std::string_view tmpl, const std::map<std::string, std::string>& vars) {
  std::string out(tmpl);
  for (const auto& [k, v] : vars) {
    std::string key = "@" + k + "@";
    for (size_t pos = out.find(key); pos != std::string::npos;
         pos = out.find(key, pos + v.size())) {
      out.replace(pos, key.size(), v);
    }
  }
  return out;
}

std::map<std::string, std::string> vars(const Plan& plan) {
  return {{"NAME", plan.service_name},     {"BIN_DIR", plan.bin_dir},
          {"DATA_DIR", plan.data_dir},     {"SYSTEMD_DIR", plan.systemd_dir},
          {"UNIT_FILE", plan.unit_file()}, {"OPENRC_FILE", "/etc/init.d/" + plan.service_name},
          {"ENV_FILE", plan.env_file()},   {"UNINSTALL", plan.uninstall_script()}};
}

// The k3s command line, one single-quoted word per line as upstream's quote_indent writes it.
std::string exec_lines(const Plan& plan) {
  std::string out = "    " + plan.command + " \\\n";
  for (const auto& a : plan.args) out += "\t" + shell_quote(a) + " \\\n";
  return out;
}

}  // namespace

std::string render_systemd_unit(const Plan& plan) {
  return "[Unit]\n"
         "Description=Lightweight Kubernetes\n"
         "Documentation=https://k3s.io\n"
         "Wants=network-online.target\n"
         "After=network-online.target\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n"
         "\n"
         "[Service]\n"
         "Type=" +
         plan.systemd_type +
         "\n"
         "EnvironmentFile=-/etc/default/%N\n"
         "EnvironmentFile=-/etc/sysconfig/%N\n"
         "EnvironmentFile=-" +
         plan.env_file() +
         "\n"
         "KillMode=process\n"
         "Delegate=yes\n"
         "User=root\n"
         "# Having non-zero Limit*s causes performance problems due to accounting overhead\n"
         "# in the kernel. We recommend using cgroups to do container-local accounting.\n"
         "LimitNOFILE=1048576\n"
         "LimitNPROC=infinity\n"
         "LimitCORE=infinity\n"
         "TasksMax=infinity\n"
         "TimeoutStartSec=0\n"
         "Restart=always\n"
         "RestartSec=5s\n"
         "ExecStartPre=-/sbin/modprobe br_netfilter\n"
         "ExecStartPre=-/sbin/modprobe overlay\n"
         "ExecStart=" +
         plan.bin_dir + "/k3s \\\n" + exec_lines(plan) + "\n";
}

std::string render_openrc_script(const Plan& plan) {
  std::string args = plan.command;
  for (const auto& a : plan.args) {
    std::string escaped;
    for (char c : a) {
      if (c == '"' || c == '\\' || c == '$' || c == '`') escaped.push_back('\\');
      escaped.push_back(c);
    }
    args += " '" + escaped + "'";
  }
  auto v = vars(plan);
  v["ARGS"] = args;
  return fill(scripts::kOpenrcSh, v);
}

std::string render_logrotate(const Plan& plan) { return fill(scripts::kLogrotate, vars(plan)); }
std::string render_killall(const Plan& plan) { return fill(scripts::kKillallSh, vars(plan)); }
std::string render_uninstall(const Plan& plan) { return fill(scripts::kUninstallSh, vars(plan)); }

}  // namespace installer

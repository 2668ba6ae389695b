// Shell scripts and service files shipped inside k3s-airgap (installer/scripts/, embedded at
// build time). Templates use @NAME@ placeholders filled by the installer's renderer.
#pragma once

#include <string_view>

namespace installer::scripts {

extern const std::string_view kInstallSh;    // install.sh, added to every bundle
extern const std::string_view kKillallSh;    // k3s-killall.sh template
extern const std::string_view kUninstallSh;  // <name>-uninstall.sh template
extern const std::string_view kOpenrcSh;     // /etc/init.d/<name> template
extern const std::string_view kLogrotate;    // /etc/logrotate.d/<name> template

}  // namespace installer::scripts

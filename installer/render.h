// The files install.sh writes, rendered from a plan with upstream's exact settings: the
// systemd unit, the OpenRC script and logrotate file, k3s-killall.sh and <name>-uninstall.sh.
// Pure functions of the plan.
#pragma once

#include <string>

#include "installer/plan.h"

namespace installer {

std::string render_systemd_unit(const Plan& plan);
std::string render_openrc_script(const Plan& plan);
std::string render_logrotate(const Plan& plan);
std::string render_killall(const Plan& plan);
std::string render_uninstall(const Plan& plan);

}  // namespace installer

#pragma once
// The systemd unit `neuronaut service install` writes: NeuroNaut's long agent run
// (`neuronaut run --env <env>`) as a Type=notify service with a watchdog, restart on failure,
// logs to the journal and sandboxing that still lets NeuroNaut's own sandbox create its
// unprivileged user, PID, mount and network namespaces and mount its own /proc.
//
// Pure functions of their inputs (no file system, no environment), used from the main thread.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace naut::cli {

inline constexpr std::string_view kServiceUnitName = "neuronaut.service";

struct ServiceUnitOptions {
  bool user = false;             // a user unit (systemctl --user) rather than a system one
  std::filesystem::path binary;  // absolute path of the neuronaut executable
  std::filesystem::path home;    // absolute data home, writable
  // Other places the configuration has NeuroNaut write to ([sandbox] workspace, fs_roots);
  // writable when they exist.
  std::vector<std::filesystem::path> writable;
  std::filesystem::path config_file;  // absolute; empty: the data home's neuronaut.toml
  std::filesystem::path working_dir;  // absolute; where ./models and the like are found
  std::string env = "rpg";            // the environment the run plays (a name or a profile path)
  // Global flags given to `service install` (--llm-model x, --set k=v ...), passed on.
  std::vector<std::string> global_args;
  // Variables of the installing shell that configure NeuroNaut (LLM_BASE_URL ...), passed on.
  std::map<std::string, std::string> environment;
  // PrivateTmp=yes, unless a path above is under /tmp or /var/tmp, which it would hide.
  bool private_tmp = true;
  int watchdog_s = 60;  // WatchdogSec=
  std::string version;  // written into the header comment
};

// The unit file's text. Every path and argument is quoted and escaped for systemd
// (systemd.service(5) "Command lines", systemd.unit(5) "Specifiers").
std::string ServiceUnitText(const ServiceUnitOptions& options);

// One word of a systemd command line or path list: kept as it is when plain, else in double
// quotes with \ and " escaped; % is always doubled and $ doubled (no variable expansion).
std::string SystemdQuote(std::string_view word);

// Where the unit goes: /etc/systemd/system, or for a user unit $XDG_CONFIG_HOME/systemd/user
// ($HOME/.config when XDG_CONFIG_HOME is unset or relative). `xdg_config_home` and `home` are
// those variables' values (empty when unset); InvalidArgument when a user unit has neither.
Result<std::filesystem::path> ServiceUnitPath(bool user, const std::string& xdg_config_home,
                                              const std::string& home);

}  // namespace naut::cli

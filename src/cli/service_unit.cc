#include "cli/service_unit.h"

#include <sstream>

namespace naut::cli {

namespace {

enum class Context { kCommandLine, kValue };

bool Plain(std::string_view word) {
  if (word.empty()) return false;
  for (char c : word) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("/._,:=@+-%$").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// %: a specifier everywhere; $: a variable only on command lines.
std::string EscapeSpecials(std::string_view text, Context context) {
  std::string out;
  for (char c : text) {
    if (c == '%') {
      out += "%%";
    } else if (c == '$' && context == Context::kCommandLine) {
      out += "$$";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Quote(std::string_view word, Context context) {
  if (word == ";") return "\\;";  // a lone ; would separate commands
  if (Plain(word)) return EscapeSpecials(word, context);
  std::string quoted = "\"";
  for (char c : word) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\r':
        quoted += "\\r";
        break;
      default:
        quoted += c;
    }
  }
  quoted += '"';
  return EscapeSpecials(quoted, context);
}

}  // namespace

std::string SystemdQuote(std::string_view word) { return Quote(word, Context::kCommandLine); }

std::string ServiceUnitText(const ServiceUnitOptions& o) {
  std::vector<std::string> argv = {o.binary.string(), "--home", o.home.string()};
  if (!o.config_file.empty()) {
    argv.emplace_back("--config");
    argv.push_back(o.config_file.string());
  }
  argv.insert(argv.end(), o.global_args.begin(), o.global_args.end());
  for (const char* a : {"run", "--env"}) argv.emplace_back(a);
  argv.push_back(o.env);
  std::string exec;
  for (const auto& a : argv) exec += (exec.empty() ? "" : " ") + SystemdQuote(a);

  std::ostringstream u;
  u << "# NeuroNaut's agent run as a " << (o.user ? "user" : "system")
    << " service, written by `neuronaut service install" << (o.user ? " --user" : "") << "`"
    << (o.version.empty() ? "" : " (neuronaut " + o.version + ")") << ".\n"
    << "# `neuronaut service uninstall" << (o.user ? " --user" : "")
    << "` stops it and removes this file.\n"
    << "[Unit]\n"
    << "Description=NeuroNaut learning agent (environment "
    << EscapeSpecials(o.env, Context::kValue) << ")\n";
  if (!o.user) {
    // The model servers may be elsewhere on the LAN.
    u << "Wants=network-online.target\n"
      << "After=network-online.target\n";
  }
  // A crash loop (5 failed starts within 5 minutes) stops; failures hours apart restart.
  u << "StartLimitIntervalSec=300\n"
    << "StartLimitBurst=5\n"
    << "\n[Service]\n"
    << "# READY=1 once the MCP servers are up and the agent starts; WATCHDOG=1 only while the\n"
    << "# agent shows progress, so a wedged agent is killed, restarted, and resumes its run.\n"
    << "Type=notify\n"
    << "NotifyAccess=main\n"
    << "ExecStart=" << exec << "\n"
    << "WorkingDirectory=" << EscapeSpecials(o.working_dir.string(), Context::kValue) << "\n";
  for (const auto& [name, value] : o.environment) {
    u << "Environment=" << Quote(name + "=" + value, Context::kValue) << "\n";
  }
  u << "Restart=on-failure\n"
    << "RestartSec=15\n"
    << "WatchdogSec=" << o.watchdog_s << "\n"
    << "# Starting a managed llama-server loads its model first.\n"
    << "TimeoutStartSec=900\n"
    << "# SIGTERM reaches neuronaut alone: it finishes the current step, leaves the task active\n"
    << "# (resumed on the next start) and stops its MCP servers and llama-server; whatever is\n"
    << "# left when this runs out is killed with the rest of the service.\n"
    << "KillMode=mixed\n"
    << "TimeoutStopSec=90\n"
    << "StandardOutput=journal\n"
    << "StandardError=journal\n"
    << "SyslogIdentifier=neuronaut\n"
    << "# Sandboxing that leaves NeuroNaut's own sandbox working: it creates unprivileged user,\n"
    << "# PID, mount and network namespaces and mounts a /proc of its own, so there is no\n"
    << "# RestrictNamespaces=, PrivateUsers=, ProtectProc=, ProcSubset=, ProtectKernelTunables=\n"
    << "# or ProtectKernelLogs= here (the last four hide parts of /proc, which makes the kernel\n"
    << "# refuse a new /proc mount); no PrivateDevices= or DevicePolicy= either, so that a\n"
    << "# llama-server keeps its GPU.\n"
    << "NoNewPrivileges=yes\n"
    << "ProtectSystem=strict\n"
    << "ProtectHome=read-only\n"
    << "ReadWritePaths=" << Quote(o.home.string(), Context::kValue) << "\n";
  for (const auto& p : o.writable) {
    u << "ReadWritePaths=" << Quote("-" + p.string(), Context::kValue) << "\n";
  }
  if (o.private_tmp) {
    u << "PrivateTmp=yes\n";
  } else {
    u << "# No PrivateTmp=: the data home or working directory is under /tmp or /var/tmp,\n"
      << "# which it would hide from the service.\n";
  }
  u << "ProtectControlGroups=yes\n"
    << "ProtectKernelModules=yes\n"
    << "ProtectHostname=yes\n"
    << "RestrictSUIDSGID=yes\n"
    << "RestrictRealtime=yes\n"
    << "LockPersonality=yes\n"
    << "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n"
    << "UMask=0077\n"
    << "\n[Install]\n"
    << "WantedBy=" << (o.user ? "default.target" : "multi-user.target") << "\n";
  return u.str();
}

Result<std::filesystem::path> ServiceUnitPath(bool user, const std::string& xdg_config_home,
                                              const std::string& home) {
  if (!user) return std::filesystem::path("/etc/systemd/system") / kServiceUnitName;
  std::filesystem::path base;
  if (!xdg_config_home.empty() && xdg_config_home.front() == '/') {
    base = xdg_config_home;
  } else if (!home.empty() && home.front() == '/') {
    base = std::filesystem::path(home) / ".config";
  } else {
    return InvalidArgument(
        "service install --user: neither XDG_CONFIG_HOME nor HOME is an absolute path, so there "
        "is no ~/.config/systemd/user to write the unit to");
  }
  return base / "systemd" / "user" / kServiceUnitName;
}

}  // namespace naut::cli

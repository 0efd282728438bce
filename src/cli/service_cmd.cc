// neuronaut service install|status|logs|uninstall: NeuroNaut's long agent run as a systemd
// service (the unit's text is in service_unit.cc). Where systemd is not running (a container,
// a CI machine) install and uninstall still write and remove the file and say so.

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/context.h"
#include "cli/service_unit.h"
#include "cli/version.h"
#include "core/data_home.h"
#include "core/files.h"
#include "core/service_notify.h"
#include "core/subprocess.h"

namespace naut::cli {

namespace {

namespace fs = std::filesystem;

struct ServiceFlags {
  bool user = false;
  std::string env;
  bool print = false;
  bool follow = false;
  int lines = 200;
};

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Result<fs::path> UnitPath(bool user) {
  return ServiceUnitPath(user, Getenv("XDG_CONFIG_HOME"), Getenv("HOME"));
}

std::string UserFlag(bool user) { return user ? " --user" : ""; }

// What to say where systemd is not the service manager, so nothing can be started or asked.
std::string NoSystemd() {
  std::string pid1;
  if (auto comm = ReadFile("/proc/1/comm")) {
    pid1 = *comm;
    while (!pid1.empty() && pid1.back() == '\n') pid1.pop_back();
  }
  return "systemd is not running on this machine (no /run/systemd/system" +
         (pid1.empty() ? std::string() : "; PID 1 is " + pid1) + ")";
}

// Runs systemctl / journalctl on our terminal; its exit code.
int RunTool(const std::vector<std::string>& argv) {
  auto child = Subprocess::Spawn({.argv = argv,
                                  .pipe_stdin = false,
                                  .pipe_stdout = false,
                                  .pipe_stderr = false,
                                  .new_process_group = false});
  if (!child) {
    std::cerr << "neuronaut: " << argv.front() << ": " << child.error().message() << "\n";
    return kExitFailure;
  }
  ExitStatus status = (*child)->Wait();
  return status.signal != 0 ? 128 + status.signal : status.exit_code;
}

std::vector<std::string> Systemctl(bool user, std::vector<std::string> args) {
  std::vector<std::string> argv = {"systemctl"};
  if (user) argv.emplace_back("--user");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string Shown(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// The profile a run plays: a name as it is, a file made absolute (the service does not start
// where `service install` ran).
std::string EnvArgument(const std::string& env) {
  bool path = env.find('/') != std::string::npos ||
              (env.size() > 5 && env.compare(env.size() - 5, 5, ".toml") == 0);
  return path ? fs::absolute(env).lexically_normal().string() : env;
}

// The global flags of this command line that configure the run, so that the service runs with
// the configuration `service install` was given. A secret is never copied into a unit file,
// which anyone on the machine may read.
std::vector<std::string> PassedOnFlags(const Context& ctx, std::vector<std::string>& notes) {
  std::vector<std::string> args;
  auto add = [&](const char* flag, const std::string& value) {
    if (value.empty()) return;
    args.emplace_back(flag);
    args.push_back(value);
  };
  add("--llm-backend", ctx.llm_backend);
  add("--llm-base-url", ctx.llm_base_url);
  add("--llm-model", ctx.llm_model);
  add("--log-level", ctx.log_level);
  if (ctx.verbose) args.emplace_back("--verbose");
  for (const auto& s : ctx.sets) {
    if (s.rfind("llm.api_key=", 0) == 0) {
      notes.emplace_back(
          "--set llm.api_key is not written into the unit (anyone may read it); set "
          "[llm] api_key in the configuration file instead");
      continue;
    }
    add("--set", s);
  }
  return args;
}

std::map<std::string, std::string> PassedOnEnvironment(std::vector<std::string>& notes) {
  std::map<std::string, std::string> env;
  for (const char* name : {"LLM_BACKEND", "LLM_BASE_URL", "LLM_MODEL"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  if (std::getenv("LLM_API_KEY") != nullptr) {
    notes.emplace_back(
        "LLM_API_KEY is not written into the unit (anyone may read it); set [llm] "
        "api_key in the configuration file instead");
  }
  return env;
}

int Install(Context& ctx, const ServiceFlags& flags) {
  auto config = ctx.LoadConfig(/*with_log_file=*/false);
  if (!config) return Fail(config.error());
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Fail(Internal("cannot read /proc/self/exe: " + ec.message()));

  std::vector<std::string> notes;
  ServiceUnitOptions o;
  o.user = flags.user;
  o.binary = self;
  o.home = config->home;
  if (ctx.overrides.config_file) o.config_file = config->config_file;
  o.working_dir = fs::current_path(ec);
  o.env = EnvArgument(flags.env.empty() ? config->agent.env : flags.env);
  o.global_args = PassedOnFlags(ctx, notes);
  o.environment = PassedOnEnvironment(notes);
  o.version = NAUT_VERSION;
  std::vector<std::string> writable;
  if (!config->sandbox.workspace.empty()) writable.push_back(config->sandbox.workspace);
  writable.insert(writable.end(), config->sandbox.fs_roots.begin(), config->sandbox.fs_roots.end());
  for (const auto& w : writable) {
    fs::path p = fs::absolute(w).lexically_normal();
    if (p.string().rfind(o.home.string() + "/", 0) != 0) o.writable.push_back(p);
  }
  // PrivateTmp= gives the service a /tmp of its own, which hides what it needs from there.
  std::vector<fs::path> needed = {o.home, o.working_dir};
  needed.insert(needed.end(), o.writable.begin(), o.writable.end());
  for (const auto& p : needed) {
    std::string dir = p.string() + "/";
    if (o.private_tmp && (dir.rfind("/tmp/", 0) == 0 || dir.rfind("/var/tmp/", 0) == 0)) {
      o.private_tmp = false;
      notes.push_back(p.string() +
                      " is under /tmp or /var/tmp, which PrivateTmp= would hide from the "
                      "service, so the unit goes without it");
    }
  }
  std::string text = ServiceUnitText(o);

  if (flags.print) {
    std::cout << text;
    for (const auto& n : notes) std::cerr << "note: " << n << "\n";
    return kExitOk;
  }

  auto path = UnitPath(flags.user);
  if (!path) return Fail(path.error());
  // ReadWritePaths= must exist when the service starts.
  auto home = OpenDataHome(config->home);
  if (!home) return Fail(home.error());
  fs::create_directories(path->parent_path(), ec);
  if (ec) {
    return Fail(PermissionDenied("cannot create " + path->parent_path().string() + ": " +
                                 ec.message() +
                                 (flags.user ? "" : " (a system unit needs root; or use --user)")));
  }
  using P = fs::perms;
  Status written =
      WriteFileAtomic(*path, text, P::owner_read | P::owner_write | P::group_read | P::others_read);
  if (!written.ok()) {
    return Fail(written.WithContext(flags.user ? "service install --user"
                                               : "service install (a system unit needs root; "
                                                 "or use --user)"));
  }
  std::cout << "wrote " << path->string() << ": `neuronaut run --env " << o.env << "` on data home "
            << o.home.string() << "\n";
  for (const auto& n : notes) std::cout << "note: " << n << "\n";

  if (!SystemdRunning()) {
    std::cout << NoSystemd() << ", so the service was not started.\n"
              << "Check the unit with `systemd-analyze verify" << UserFlag(flags.user) << " "
              << path->string() << "`; where systemd runs, `neuronaut service install"
              << UserFlag(flags.user) << "` reloads systemd and enables and starts it (`systemctl"
              << UserFlag(flags.user) << " enable --now " << kServiceUnitName << "`).\n";
    return kExitOk;
  }
  for (const auto& args :
       {std::vector<std::string>{"daemon-reload"},
        std::vector<std::string>{"enable", "--now", std::string(kServiceUnitName)}}) {
    auto argv = Systemctl(flags.user, args);
    if (int rc = RunTool(argv); rc != 0) {
      std::cerr << "neuronaut: `" << Shown(argv) << "` failed (exit " << rc
                << "); the unit is written but not started\n";
      return kExitFailure;
    }
  }
  std::cout << "enabled and started " << kServiceUnitName << "; see `neuronaut service status"
            << UserFlag(flags.user) << "` and `neuronaut service logs" << UserFlag(flags.user)
            << "`\n";
  return kExitOk;
}

int Uninstall(const ServiceFlags& flags) {
  auto path = UnitPath(flags.user);
  if (!path) return Fail(path.error());
  std::error_code ec;
  bool present = fs::exists(*path, ec);
  bool systemd = SystemdRunning();
  if (systemd && present) {
    // Stopping first: the agent checkpoints its task, and a later install resumes it.
    auto argv = Systemctl(flags.user, {"disable", "--now", std::string(kServiceUnitName)});
    if (int rc = RunTool(argv); rc != 0)
      std::cerr << "warning: `" << Shown(argv) << "` failed (exit " << rc << ")\n";
  }
  if (!present) {
    std::cout << "no unit at " << path->string() << "; nothing to remove\n";
  } else {
    fs::remove(*path, ec);
    if (ec) return Fail(PermissionDenied("cannot remove " + path->string() + ": " + ec.message()));
    std::cout << "removed " << path->string() << "\n";
  }
  if (!systemd) {
    std::cout << NoSystemd() << ", so nothing was stopped or disabled.\n";
    return kExitOk;
  }
  if (present) {
    auto argv = Systemctl(flags.user, {"daemon-reload"});
    if (int rc = RunTool(argv); rc != 0) {
      std::cerr << "neuronaut: `" << Shown(argv) << "` failed (exit " << rc << ")\n";
      return kExitFailure;
    }
  }
  return kExitOk;
}

int ShowStatus(Context& ctx, const ServiceFlags& flags) {
  auto path = UnitPath(flags.user);
  if (!path) return Fail(path.error());
  if (SystemdRunning()) {
    return RunTool(Systemctl(flags.user, {"status", "--no-pager", std::string(kServiceUnitName)}));
  }
  std::error_code ec;
  std::cout << NoSystemd() << ", so the service cannot be running.\n"
            << "unit: " << path->string()
            << (fs::exists(*path, ec) ? " (installed)" : " (not installed)") << "\n";
  if (auto config = ctx.LoadConfig(false)) {
    std::cout << "a run on this machine: `neuronaut runs list` (data home " << config->home.string()
              << ")\n";
  }
  return kExitFailure;
}

int ShowLogs(Context& ctx, const ServiceFlags& flags) {
  if (SystemdRunning()) {
    std::vector<std::string> argv = {"journalctl"};
    if (flags.user) argv.emplace_back("--user");
    for (const char* a : {"--no-pager", "-u"}) argv.emplace_back(a);
    argv.emplace_back(kServiceUnitName);
    argv.emplace_back("-n");
    argv.push_back(std::to_string(flags.lines));
    if (flags.follow) argv.emplace_back("-f");
    return RunTool(argv);
  }
  std::cout << NoSystemd() << ", so there is no journal of the service to show.\n";
  if (auto config = ctx.LoadConfig(false)) {
    std::cout << "NeuroNaut's own log: " << (config->home / "logs" / "neuronaut.log").string()
              << "\n";
  }
  return kExitFailure;
}

}  // namespace

void AddServiceCommands(CLI::App& app, Context& ctx) {
  static ServiceFlags flags;
  auto* group = app.add_subcommand(
      "service", "Run the agent as a systemd service: install, status, logs, uninstall");
  group->require_subcommand(1);
  auto user_flag = [](CLI::App* c) {
    c->add_flag("--user", flags.user,
                "The user's service manager (~/.config/systemd/user) instead of the system's");
  };

  auto* install = group->add_subcommand(
      "install", "Write neuronaut.service (restart on failure, watchdog, journal) and start it");
  user_flag(install);
  install->add_option(
      "--env", flags.env,
      "Environment the run plays: rpg | pkg | a profile .toml (default: [agent] env)");
  install->add_flag("--print", flags.print, "Print the unit to stdout and write nothing");
  install->callback([&ctx] { ctx.exit_code = Install(ctx, flags); });

  auto* status = group->add_subcommand("status", "systemctl status of the service");
  user_flag(status);
  status->callback([&ctx] { ctx.exit_code = ShowStatus(ctx, flags); });

  auto* logs = group->add_subcommand("logs", "The service's journal (journalctl -u)");
  user_flag(logs);
  logs->add_flag("-f,--follow", flags.follow, "Keep printing new lines");
  logs->add_option("-n,--lines", flags.lines, "How many recent lines (default 200)");
  logs->callback([&ctx] { ctx.exit_code = ShowLogs(ctx, flags); });

  auto* uninstall =
      group->add_subcommand("uninstall", "Stop and disable the service and remove its unit");
  user_flag(uninstall);
  uninstall->callback([&ctx] { ctx.exit_code = Uninstall(flags); });
}

}  // namespace naut::cli

// NeuroNaut as a service, with real processes: the unit `neuronaut service install` writes is
// checked by systemd's own `systemd-analyze verify`; `neuronaut run` is started the way systemd
// starts a Type=notify service (NOTIFY_SOCKET naming a unix datagram socket, here one the test
// owns, and WATCHDOG_USEC) against the scripted LLM server and the built-in rpg server, and is
// stopped with SIGTERM the way `systemctl stop` stops it.
//
// systemd does not run where these tests run (no systemd as PID 1 in the container or on CI),
// so the unit is verified, not started; the install commands say so.

#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"
#include "core/unique_fd.h"
#include "llm/scripted_llm_process.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The parent pid of `pid` from /proc/<pid>/stat (after the command name, which may hold spaces).
std::optional<pid_t> ParentOf(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat->substr(close + 1));
  std::string state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// Every live process (zombies included) whose parent is `parent`.
std::set<pid_t> ChildrenOf(pid_t parent) {
  std::set<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (ParentOf(pid) == parent) out.insert(pid);
  }
  return out;
}

std::set<pid_t> DescendantsOf(pid_t root) {
  std::set<pid_t> all;
  std::vector<pid_t> pending = {root};
  while (!pending.empty()) {
    pid_t p = pending.back();
    pending.pop_back();
    for (pid_t c : ChildrenOf(p)) {
      if (all.insert(c).second) pending.push_back(c);
    }
  }
  return all;
}

std::string CommandLine(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!text) return "?";
  for (char& c : *text) {
    if (c == '\0') c = ' ';
  }
  return *text;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not under /tmp: a data home there makes the unit go without PrivateTmp= (checked below).
    root_ = fs::path(NAUT_BINARY_DIR) / "tests" / ("service-" + NewId());
    home_ = root_ / "home";
    user_home_ = root_ / "user";
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  CommandResult Cli(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), NAUT_CLI);
    env.emplace("NEURONAUT_HOME", home_.string());
    env.emplace("HOME", user_home_.string());
    env.emplace("XDG_CONFIG_HOME", "");
    auto r = RunCommand({.argv = args, .env = env, .cwd = root_}, "", 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }

  // `systemd-analyze verify` on `unit` (a file named *.service); nullopt when systemd-analyze is
  // not installed. Its stderr is where it reports bad lines, even when it exits 0.
  std::optional<CommandResult> Verify(const fs::path& unit, bool user) {
    std::vector<std::string> argv = {"systemd-analyze", "verify", "--man=no"};
    if (user) argv.push_back("--user");
    argv.push_back(unit.string());
    std::map<std::string, std::string> env;
    // A user manager's paths are made from XDG_RUNTIME_DIR; none exists without a session.
    if (user) {
      fs::create_directories(root_ / "runtime");
      env["XDG_RUNTIME_DIR"] = (root_ / "runtime").string();
    }
    auto r = RunCommand({.argv = argv, .env = env}, "", 60s);
    if (!r) return std::nullopt;  // not on PATH
    if (r->status.exit_code == 127) return std::nullopt;
    return *r;
  }

  fs::path root_, home_, user_home_;
};

bool SystemdAnalyzeInstalled() {
  auto r = RunCommand({.argv = {"systemd-analyze", "--version"}}, "", 30s);
  return r && r->status.success();
}

bool SystemdRunsHere() { return fs::exists("/run/systemd/system"); }

TEST_F(ServiceTest, InstallPrintShowsTheUnitAndWritesNothing) {
  auto r = Cli({"service", "install", "--print", "--env", "rpg"},
               {{"LLM_BASE_URL", "http://10.0.0.2:8080"}});
  ASSERT_EQ(r.status.exit_code, 0) << r.err;
  const std::string& unit = r.out;
  for (const std::string& line : std::vector<std::string>{
           "Type=notify", "NotifyAccess=main", "Restart=on-failure", "RestartSec=15",
           "WatchdogSec=60", "TimeoutStopSec=90", "KillMode=mixed", "NoNewPrivileges=yes",
           "ProtectSystem=strict", "ProtectHome=read-only", "ReadWritePaths=" + home_.string(),
           "StandardOutput=journal", "StandardError=journal", "WantedBy=multi-user.target",
           "Environment=LLM_BASE_URL=http://10.0.0.2:8080",
           "ExecStart=" + fs::canonical(NAUT_CLI).string() + " --home " + home_.string() +
               " run --env rpg"}) {
    EXPECT_TRUE(Contains(unit, "\n" + line + "\n")) << "no line " << line << " in\n" << unit;
  }
  for (const char* absent : {"\nRestrictNamespaces=", "\nPrivateUsers="})
    EXPECT_FALSE(Contains(unit, absent)) << "would break NeuroNaut's own sandbox:\n" << unit;
  // The tests live in the build tree; a clone under /tmp puts the home there, and then the
  // unit must go without PrivateTmp= (ADataHomeUnderTmpMakesTheUnitGoWithoutPrivateTmp).
  const std::string where = root_.string() + "/";
  const bool under_tmp = where.rfind("/tmp/", 0) == 0 || where.rfind("/var/tmp/", 0) == 0;
  EXPECT_EQ(Contains(unit, "\nPrivateTmp=yes\n"), !under_tmp) << unit;
  EXPECT_FALSE(fs::exists(home_)) << "--print writes nothing, not even the data home";
  EXPECT_FALSE(fs::exists(user_home_));
}

TEST_F(ServiceTest, ADataHomeUnderTmpMakesTheUnitGoWithoutPrivateTmp) {
  fs::path tmp_home = fs::temp_directory_path() / ("naut-service-" + NewId());
  auto r = Cli({"service", "install", "--print"}, {{"NEURONAUT_HOME", tmp_home.string()}});
  ASSERT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_FALSE(Contains(r.out, "\nPrivateTmp=yes\n")) << r.out;
  EXPECT_TRUE(Contains(r.err, "PrivateTmp= would hide")) << r.err;
  EXPECT_FALSE(fs::exists(tmp_home));
}

TEST_F(ServiceTest, InstallUserWritesTheUnitAndSaysSystemdIsNotRunning) {
  if (SystemdRunsHere()) {
    GTEST_SKIP() << "systemd runs here: `service install --user` would start a real service";
  }
  auto r = Cli({"service", "install", "--user", "--env", "rpg"});
  ASSERT_EQ(r.status.exit_code, 0) << r.out << r.err;
  fs::path unit = user_home_ / ".config/systemd/user/neuronaut.service";
  ASSERT_TRUE(fs::exists(unit)) << r.out;
  EXPECT_TRUE(Contains(r.out, "wrote " + unit.string())) << r.out;
  EXPECT_TRUE(Contains(r.out, "systemd is not running on this machine")) << r.out;
  EXPECT_TRUE(Contains(r.out, "so the service was not started")) << r.out;
  auto text = ReadFile(unit);
  ASSERT_TRUE(text);
  EXPECT_TRUE(Contains(*text, "\nWantedBy=default.target\n")) << *text;
  EXPECT_TRUE(fs::is_directory(home_)) << "ReadWritePaths= must exist when the service starts";
  EXPECT_EQ(fs::status(unit).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);

  // The other subcommands say the same and fail where they need systemd.
  auto status = Cli({"service", "status", "--user"});
  EXPECT_EQ(status.status.exit_code, 1);
  EXPECT_TRUE(Contains(status.out, "systemd is not running")) << status.out;
  EXPECT_TRUE(Contains(status.out, unit.string() + " (installed)")) << status.out;
  auto logs = Cli({"service", "logs", "--user"});
  EXPECT_EQ(logs.status.exit_code, 1);
  EXPECT_TRUE(Contains(logs.out, "systemd is not running")) << logs.out;
  EXPECT_TRUE(Contains(logs.out, (home_ / "logs/neuronaut.log").string())) << logs.out;

  if (auto verified = SystemdAnalyzeInstalled() ? Verify(unit, /*user=*/true) : std::nullopt) {
    EXPECT_EQ(verified->status.exit_code, 0) << verified->err;
    EXPECT_EQ(verified->err, "") << "systemd-analyze verify --user complained";
  }

  auto removed = Cli({"service", "uninstall", "--user"});
  EXPECT_EQ(removed.status.exit_code, 0) << removed.err;
  EXPECT_FALSE(fs::exists(unit));
  EXPECT_TRUE(Contains(removed.out, "removed " + unit.string())) << removed.out;
  EXPECT_TRUE(Contains(removed.out, "so nothing was stopped or disabled")) << removed.out;
  auto again = Cli({"service", "uninstall", "--user"});
  EXPECT_EQ(again.status.exit_code, 0);
  EXPECT_TRUE(Contains(again.out, "nothing to remove")) << again.out;
}

// systemd's own parser on the units NeuroNaut writes: unknown keys, bad values, a missing or
// non-executable ExecStart binary are all reported (on stderr, with exit 0 for mere warnings).
TEST_F(ServiceTest, GeneratedUnitsPassSystemdAnalyzeVerify) {
  if (!SystemdAnalyzeInstalled()) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd); the unit "
                    "cannot be verified here";
  }
  struct Case {
    std::string name;
    std::vector<std::string> args;
    bool user;
    std::map<std::string, std::string> env;
  };
  fs::path profile = root_ / "my profile.toml";
  std::vector<Case> cases = {
      {"system", {"service", "install", "--print", "--env", "rpg"}, false, {}},
      {"user", {"service", "install", "--user", "--print", "--env", "pkg"}, true, {}},
      {"quoted",
       {"--llm-model", "qwen 7b 100%", "--set", "agent.max_rounds=3", "service", "install",
        "--print", "--env", profile.string()},
       false,
       {{"LLM_BASE_URL", "http://10.0.0.2:8080/v1?a=$b"}}},
      {"tmp-home",
       {"service", "install", "--print"},
       false,
       {{"NEURONAUT_HOME", (fs::temp_directory_path() / "naut-home-x").string()}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto printed = Cli(c.args, c.env);
    ASSERT_EQ(printed.status.exit_code, 0) << printed.err;
    fs::path dir = root_ / c.name;
    fs::create_directories(dir);
    fs::path unit = dir / "neuronaut.service";
    std::ofstream(unit) << printed.out;
    auto verified = Verify(unit, c.user);
    ASSERT_TRUE(verified);
    EXPECT_EQ(verified->status.exit_code, 0) << verified->err << "\n" << printed.out;
    EXPECT_EQ(verified->err, "") << "systemd-analyze verify complained about\n" << printed.out;
  }

  // And it does complain where it should, so the checks above mean something.
  fs::path bad = root_ / "bad" / "neuronaut.service";
  fs::create_directories(bad.parent_path());
  auto printed = Cli({"service", "install", "--print"});
  std::string text = printed.out;
  text.replace(text.find("ExecStart=") + 10, 1, "/nonexistent");
  text.replace(text.find("KillMode=mixed"), 14, "KillMode=gently\nNoSuchKey=1");
  std::ofstream(bad) << text;
  auto verified = Verify(bad, false);
  ASSERT_TRUE(verified);
  EXPECT_NE(verified->status.exit_code, 0);
  EXPECT_TRUE(Contains(verified->err, "NoSuchKey")) << verified->err;
  EXPECT_TRUE(Contains(verified->err, "/nonexistent")) << verified->err;
}

// --- neuronaut run under a service manager ------------------------------------------------

// The notification socket systemd gives a Type=notify service, owned by the test.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = path.string();
    p.copy(addr.sun_path, std::min(p.size(), sizeof(addr.sun_path) - 1));
    ok_ = fd_.valid() && p.size() < sizeof(addr.sun_path) &&
          ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  bool ok() const { return ok_; }
  int fd() const { return fd_.get(); }
  const fs::path& path() const { return path_; }
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd_.get(), buf, sizeof buf, 0)) > 0) out.emplace_back(buf, n);
    return out;
  }

 private:
  fs::path path_;
  UniqueFd fd_;
  bool ok_ = false;
};

struct ServiceRun {
  ExitStatus status;
  std::vector<Json> events;
  std::vector<std::string> notes;  // notification messages, in order
  std::string err;
  std::map<pid_t, std::string> children;  // neuronaut's descendants before SIGTERM: command lines
  bool terminated = false;
  size_t notes_before_term = 0;
};

class ServiceRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Orphans of neuronaut's tree are reparented to the test, where they can be seen.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    root_ = fs::temp_directory_path() / ("naut-svc-" + NewId());
    home_ = root_ / "home";
    fs::create_directories(home_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Runs `neuronaut run --env rpg --json` as systemd would start it, and sends SIGTERM once
  // `ready_to_stop` says so (after the events and notifications seen so far).
  // `llm` names the model: an OpenAI-compatible URL, or LLM_* variables to use instead.
  ServiceRun Run(std::map<std::string, std::string> llm, NotifySocket& socket,
                 const std::function<bool(const ServiceRun&)>& ready_to_stop) {
    ServiceRun run;
    std::map<std::string, std::string> env = {{"NEURONAUT_HOME", home_.string()},
                                              {"LLM_BACKEND", "openai"},
                                              {"NOTIFY_SOCKET", socket.path().string()},
                                              {"WATCHDOG_USEC", "400000"},
                                              {"NO_COLOR", "1"}};
    for (const auto& [k, v] : llm) env[k] = v;
    // The source tree: where `llamacpp` finds the llama-server the project builds.
    auto child =
        Subprocess::Spawn({.argv = {NAUT_CLI, "run", "--env", "rpg", "--max-tasks", "3", "--json"},
                           .env = env,
                           .cwd = NAUT_SOURCE_DIR,
                           .pipe_stdin = false});
    if (!child) {
      ADD_FAILURE() << child.error().ToString();
      return run;
    }
    pid_t pid = (*child)->pid();
    std::string out_buf;
    int fds[2] = {(*child)->stdout_fd(), (*child)->stderr_fd()};
    bool open[2] = {true, true};
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (open[0] || open[1]) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "neuronaut did not end within 120 s; stderr:\n" << run.err;
        (*child)->Signal(SIGKILL);
        break;
      }
      pollfd pfd[3] = {{open[0] ? fds[0] : -1, POLLIN, 0},
                       {open[1] ? fds[1] : -1, POLLIN, 0},
                       {socket.fd(), POLLIN, 0}};
      if (::poll(pfd, 3, 100) < 0) continue;
      for (auto& m : socket.Drain()) run.notes.push_back(std::move(m));
      for (int i = 0; i < 2; ++i) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = ::read(fds[i], buf, sizeof buf);
        if (n <= 0) {
          open[i] = false;
          continue;
        }
        if (i == 1) {
          run.err.append(buf, static_cast<size_t>(n));
          continue;
        }
        out_buf.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = out_buf.find('\n')) != std::string::npos;) {
          auto j = Json::parse(out_buf.substr(0, nl), nullptr, false);
          out_buf.erase(0, nl + 1);
          if (!j.is_discarded()) run.events.push_back(std::move(j));
        }
      }
      if (!run.terminated && ready_to_stop(run)) {
        for (pid_t p : DescendantsOf(pid)) run.children[p] = CommandLine(p);
        run.notes_before_term = run.notes.size();
        ::kill(pid, SIGTERM);  // what `systemctl stop` does with KillMode=mixed
        run.terminated = true;
      }
    }
    run.status = (*child)->Wait();
    for (auto& m : socket.Drain()) run.notes.push_back(std::move(m));
    return run;
  }

  static bool Has(const std::vector<std::string>& notes, const std::string& prefix,
                  size_t from = 0) {
    for (size_t i = from; i < notes.size(); ++i) {
      if (notes[i].rfind(prefix, 0) == 0 || Contains(notes[i], "\n" + prefix)) return true;
    }
    return false;
  }
  static size_t IndexOf(const std::vector<std::string>& notes, const std::string& prefix) {
    for (size_t i = 0; i < notes.size(); ++i) {
      if (notes[i].rfind(prefix, 0) == 0) return i;
    }
    return notes.size();
  }
  static bool HasEvent(const std::vector<Json>& events, const std::string& type,
                       const std::string& key = "", const std::string& value = "") {
    for (const auto& e : events) {
      if (e.value("type", "") == type && (key.empty() || e.value(key, "") == value)) return true;
    }
    return false;
  }

  // No process of neuronaut's tree outlived it: the recorded ones are gone and nothing was
  // reparented to the test (a subreaper) except the scripted LLM server, its own child.
  void ExpectNothingLeftBehind(const ServiceRun& run, pid_t llm_pid) {
    EXPECT_FALSE(run.children.empty()) << "the rpg MCP server should have been running";
    for (const auto& [p, command] : run.children) {
      EXPECT_TRUE(::kill(p, 0) != 0 && errno == ESRCH)
          << "pid " << p << " (" << command << ") outlived neuronaut";
    }
    for (pid_t p : ChildrenOf(::getpid())) {
      if (p == llm_pid) continue;
      ADD_FAILURE() << "left behind: pid " << p << " (" << CommandLine(p) << ")";
    }
  }

  fs::path root_, home_;
};

TEST_F(ServiceRunTest, NotifiesReadyStatusAndWatchdogAndStopsCleanlyOnSigterm) {
  NotifySocket socket(root_ / "notify");
  ASSERT_TRUE(socket.ok());
  // The model sends /start, then takes 60 s over its next answer: SIGTERM arrives meanwhile.
  auto llm = testing::ScriptedLlmProcess::Start(Json::parse(R"({
    "responses": [
      {"tool_calls": [{"id": "call_1", "name": "game__send_message",
                       "arguments": {"chat_id": "@dungeon_quest_bot", "message": "/start"}}]},
      {"tool_calls": [{"id": "call_2", "name": "game__get_messages",
                       "arguments": {"chat_id": "@dungeon_quest_bot", "limit": 1}}],
       "delay_ms": 60000}
    ]})"));
  ASSERT_TRUE(llm) << llm.error().ToString();

  auto run = Run({{"LLM_BASE_URL", (*llm)->url()}}, socket, [](const ServiceRun& r) {
    size_t ready = IndexOf(r.notes, "READY=1");
    return HasEvent(r.events, "tool_call", "tool", "game__send_message") &&
           ready < r.notes.size() && Has(r.notes, "WATCHDOG=1", ready + 1) &&
           Has(r.notes, "STATUS=task: ");
  });
  std::string all_notes;
  for (const auto& n : run.notes) all_notes += "  " + n + "\n";
  ASSERT_TRUE(run.terminated) << "never got READY, STATUS and WATCHDOG; notifications:\n"
                              << all_notes << "stderr:\n"
                              << run.err;

  // Start-up, progress, then the stop, in this order.
  size_t ready = IndexOf(run.notes, "READY=1");
  ASSERT_LT(ready, run.notes.size()) << all_notes;
  EXPECT_TRUE(Contains(run.notes[ready], "\nSTATUS=running in environment 'rpg'")) << all_notes;
  EXPECT_TRUE(Has(run.notes, "STATUS=task: Send /start to the game bot.")) << all_notes;
  EXPECT_TRUE(Has(run.notes, "WATCHDOG=1", ready + 1)) << all_notes;
  size_t stopping = IndexOf(run.notes, "STOPPING=1");
  ASSERT_LT(stopping, run.notes.size()) << "no STOPPING=1 after SIGTERM:\n" << all_notes;
  EXPECT_GE(stopping, run.notes_before_term) << all_notes;

  // A clean exit after the current step, the task left active for the next start.
  EXPECT_EQ(run.status.signal, 0) << run.status.ToString();
  EXPECT_EQ(run.status.exit_code, 0) << run.err;
  EXPECT_TRUE(HasEvent(run.events, "run_end")) << run.err;
  // SIGTERM does not wait out the model's answer: the call under way is cancelled.
  bool cancelled = false;
  for (const auto& e : run.events) {
    if (e.value("type", "") == "model_call" && Contains(e.value("error", ""), "cancelled"))
      cancelled = true;
  }
  EXPECT_TRUE(cancelled) << "no cancelled model call among the events; stderr:\n" << run.err;
  EXPECT_FALSE(HasEvent(run.events, "task_end")) << "the task must stay active, not end";
  auto progress = ReadFile(home_ / "PROGRESS.md");
  ASSERT_TRUE(progress) << progress.error().ToString();
  EXPECT_TRUE(Contains(*progress, "in progress")) << *progress;
  ExpectNothingLeftBehind(run, (*llm)->pid());

  // The next start (what Restart= or a reboot does) resumes that task.
  llm->reset();
  auto llm2 = testing::ScriptedLlmProcess::Start(
      Json::parse(R"({"default": {"content": "Thinking.", "delay_ms": 500}})"));
  ASSERT_TRUE(llm2) << llm2.error().ToString();
  NotifySocket socket2(root_ / "notify2");
  ASSERT_TRUE(socket2.ok());
  auto resumed = Run({{"LLM_BASE_URL", (*llm2)->url()}}, socket2, [](const ServiceRun& r) {
    return HasEvent(r.events, "resume") && Has(r.notes, "READY=1");
  });
  ASSERT_TRUE(resumed.terminated) << resumed.err;
  EXPECT_EQ(resumed.status.exit_code, 0) << resumed.err;
  EXPECT_TRUE(Has(resumed.notes, "STOPPING=1"));
  for (const auto& e : resumed.events) {
    if (e.value("type", "") == "resume") {
      EXPECT_EQ(e.value("task", ""), "Send /start to the game bot.") << DumpJson(e);
      EXPECT_EQ(e.value("attempt", 0), 2) << DumpJson(e);
    }
  }
  ExpectNothingLeftBehind(resumed, (*llm2)->pid());
}

// Outside systemd nothing is sent and nothing changes: the same run without NOTIFY_SOCKET
// still stops on SIGTERM with exit 0 (covered by the scenario tests for the rest).
TEST_F(ServiceRunTest, WithoutNotifySocketSigtermStillStopsCleanly) {
  auto llm = testing::ScriptedLlmProcess::Start(Json::parse(R"({
    "default": {"content": "Thinking.", "delay_ms": 1500}})"));
  ASSERT_TRUE(llm) << llm.error().ToString();
  auto child = Subprocess::Spawn({.argv = {NAUT_CLI, "run", "--env", "rpg", "--json"},
                                  .env = {{"NEURONAUT_HOME", home_.string()},
                                          {"LLM_BASE_URL", (*llm)->url()},
                                          {"LLM_BACKEND", "openai"}},
                                  .pipe_stdin = false,
                                  .pipe_stderr = false});
  ASSERT_TRUE(child) << child.error().ToString();
  // Wait for the first task to start, then stop.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!Contains(out, "\"task_start\"") && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{(*child)->stdout_fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read((*child)->stdout_fd(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ASSERT_TRUE(Contains(out, "\"task_start\"")) << out;
  std::map<pid_t, std::string> children;
  for (pid_t p : DescendantsOf((*child)->pid())) children[p] = CommandLine(p);
  (*child)->Signal(SIGTERM);
  auto status = (*child)->WaitFor(60s);
  ASSERT_TRUE(status) << "neuronaut did not stop within 60 s of SIGTERM";
  EXPECT_EQ(status->exit_code, 0) << status->ToString();
  ServiceRun run;
  run.children = children;
  ExpectNothingLeftBehind(run, (*llm)->pid());
}

// `[llm] backend = "llamacpp"`: neuronaut starts llama-server itself. SIGTERM during the model's
// answer cancels the call, and the server goes with neuronaut.
TEST_F(ServiceRunTest, SigtermCancelsTheModelCallAndStopsTheManagedLlamaServer) {
  const fs::path model =
      fs::path(NAUT_SOURCE_DIR) / "models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf";
  const fs::path server = fs::path(NAUT_SOURCE_DIR) / "bench/engine/.llama-cpp/bin/llama-server";
  if (!fs::is_regular_file(model))
    GTEST_SKIP() << "no " << model << "; `bash scripts/models.sh qwen2.5-coder-0.5b` fetches it";
  if (!fs::is_regular_file(server))
    GTEST_SKIP() << "llama-server is not built; `bash bench/engine/llama_cpp.sh setup`";
  NotifySocket socket(root_ / "notify");
  ASSERT_TRUE(socket.ok());
  auto run = Run({{"LLM_BACKEND", "llamacpp"}, {"LLM_MODEL", model.string()}}, socket,
                 [](const ServiceRun& r) { return HasEvent(r.events, "prompt"); });
  ASSERT_TRUE(run.terminated) << run.err;
  bool has_server = false;
  for (const auto& [p, command] : run.children) has_server |= Contains(command, "llama-server");
  EXPECT_TRUE(has_server) << "no llama-server among neuronaut's children";
  EXPECT_EQ(run.status.exit_code, 0) << run.status.ToString() << "\n" << run.err;
  EXPECT_TRUE(Has(run.notes, "STOPPING=1"));
  bool cancelled = false;
  for (const auto& e : run.events) {
    if (e.value("type", "") == "model_call" && Contains(e.value("error", ""), "cancelled"))
      cancelled = true;
  }
  EXPECT_TRUE(cancelled) << "the model's answer was waited for; stderr:\n" << run.err;
  auto progress = ReadFile(home_ / "PROGRESS.md");
  ASSERT_TRUE(progress);
  EXPECT_TRUE(Contains(*progress, "in progress")) << *progress;
  ExpectNothingLeftBehind(run, -1);
}

// --- a real systemd ----------------------------------------------------------------------
//
// systemd's user manager (the real /lib/systemd/systemd, as `systemd --user` runs after a login)
// started by the test in a private mount namespace, with /run/systemd/system made there so that
// it (and `neuronaut service`) sees systemd as booted. Nothing of it reaches the rest of the
// machine: the namespace's mounts are private and the manager ends with the test. It runs the
// unit exactly as `service install --user` writes it: Type=notify, the watchdog, Restart= after
// a SIGKILL, SIGTERM on stop, the sandboxing directives.
class RealSystemdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SystemdRunsHere()) GTEST_SKIP() << "systemd runs here: the test leaves the real one alone";
    if (!fs::exists(kSystemd)) GTEST_SKIP() << kSystemd << " is not installed (Debian: systemd)";
    if (::unshare(CLONE_NEWNS) != 0) {
      GTEST_SKIP() << "cannot make a private mount namespace (" << std::strerror(errno)
                   << "; needs root), so no systemd manager can be started here";
    }
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
        << std::strerror(errno);
    if (!fs::is_directory("/run/systemd") ||
        ::mount("tmpfs", "/run/systemd", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs on /run/systemd: " << std::strerror(errno);
    }
    fs::create_directories("/run/systemd/system");

    root_ = fs::path(NAUT_BINARY_DIR) / "tests" / ("systemd-" + NewId());
    home_ = root_ / "home";
    user_home_ = root_ / "user";
    runtime_ = root_ / "runtime";
    fs::create_directories(user_home_);
    fs::create_directories(runtime_);
    fs::permissions(runtime_, fs::perms::owner_all);
    auto manager = Subprocess::Spawn({.argv = {kSystemd, "--user"},
                                      .env = Env(),
                                      .pipe_stdin = false,
                                      .pipe_stdout = false,
                                      .pipe_stderr = false});
    ASSERT_TRUE(manager) << manager.error().ToString();
    manager_ = std::move(*manager);
    bool up = WaitFor(20s, [&] {
      auto state = Systemctl({"is-system-running"}).out;
      return state.rfind("running", 0) == 0 || state.rfind("degraded", 0) == 0;
    });
    if (!up) GTEST_SKIP() << "systemd --user did not come up here";
  }
  void TearDown() override {
    if (manager_) {
      (void)Systemctl({"stop", "neuronaut.service"});
      manager_->Terminate(20s);
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::map<std::string, std::string> Env() const {
    return {{"HOME", user_home_.string()},
            {"XDG_CONFIG_HOME", (user_home_ / ".config").string()},
            {"XDG_RUNTIME_DIR", runtime_.string()},
            {"NEURONAUT_HOME", home_.string()}};
  }
  CommandResult Systemctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"systemctl", "--user"});
    auto r = RunCommand({.argv = args, .env = Env()}, "", 60s);
    return r ? *r : CommandResult{};
  }
  std::string Show(const std::string& property) {
    std::string v = Systemctl({"show", "-p", property, "--value", "neuronaut.service"}).out;
    while (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  }
  static bool WaitFor(std::chrono::seconds limit, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(200ms);
    }
    return done();
  }
  // Every "resume" event in the traces of the data home's runs.
  std::vector<Json> ResumeEvents() {
    std::vector<Json> out;
    std::error_code ec;
    for (const auto& run : fs::directory_iterator(home_ / "runs", ec)) {
      std::ifstream in(run.path() / "events.jsonl");
      std::string line;
      while (std::getline(in, line)) {
        auto j = Json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.value("type", "") == "resume") out.push_back(j);
      }
    }
    return out;
  }

  static constexpr const char* kSystemd = "/lib/systemd/systemd";
  fs::path root_, home_, user_home_, runtime_;
  std::unique_ptr<Subprocess> manager_;
};

TEST_F(RealSystemdTest, UserServiceRunsRestartsAfterSigkillResumesAndStopsLeavingNothing) {
  // The model keeps the agent busy: every answer is one more look at the chat, a second apart.
  auto llm = testing::ScriptedLlmProcess::Start(Json::parse(R"({"default": {
    "tool_calls": [{"id": "c", "name": "game__get_messages",
                    "arguments": {"chat_id": "@dungeon_quest_bot", "limit": 1}}],
    "delay_ms": 1000}})"));
  ASSERT_TRUE(llm) << llm.error().ToString();
  auto env = Env();
  env["LLM_BASE_URL"] = (*llm)->url();
  env["LLM_BACKEND"] = "openai";
  auto installed = RunCommand({.argv = {NAUT_CLI, "service", "install", "--user", "--env", "rpg"},
                               .env = env,
                               .cwd = root_},
                              "", 120s);
  ASSERT_TRUE(installed);
  ASSERT_EQ(installed->status.exit_code, 0) << installed->out << installed->err;
  EXPECT_TRUE(Contains(installed->out, "enabled and started neuronaut.service")) << installed->out;

  // Type=notify: active only after READY=1; the STATUS= line names the task; systemd took
  // WATCHDOG=1 from the main process (NotifyAccess=main).
  ASSERT_TRUE(WaitFor(60s, [&] { return Show("ActiveState") == "active"; }))
      << Systemctl({"status", "--no-pager", "neuronaut.service"}).out;
  EXPECT_TRUE(WaitFor(30s, [&] { return Show("StatusText").rfind("task: ", 0) == 0; }))
      << Show("StatusText");
  EXPECT_TRUE(WaitFor(30s, [&] { return !Show("WatchdogTimestamp").empty(); }));
  EXPECT_EQ(Show("WatchdogUSec"), "1min");
  auto status =
      RunCommand({.argv = {NAUT_CLI, "service", "status", "--user"}, .env = env}, "", 60s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status.exit_code, 0) << status->out << status->err;
  EXPECT_TRUE(Contains(status->out, "active (running)")) << status->out;

  // kill -9: systemd restarts it (RestartSec=15) and the new run resumes the task.
  pid_t first = std::stoi(Show("MainPID"));
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(WaitFor(60s, [&] {
    return Show("NRestarts") == "1" && Show("ActiveState") == "active" && Show("MainPID") != "0" &&
           Show("MainPID") != std::to_string(first);
  })) << Systemctl({"status", "--no-pager", "neuronaut.service"}).out;
  ASSERT_TRUE(WaitFor(30s, [&] { return !ResumeEvents().empty(); }));
  EXPECT_EQ(ResumeEvents().front().value("attempt", 0), 2) << DumpJson(ResumeEvents().front());

  // systemctl stop: SIGTERM to neuronaut, a clean exit, no process of the service left.
  pid_t second = std::stoi(Show("MainPID"));
  std::set<pid_t> processes = DescendantsOf(second);
  processes.insert(second);
  EXPECT_GE(processes.size(), 2u) << "the rpg MCP server should run beside the agent";
  auto stopped = Systemctl({"stop", "neuronaut.service"});
  EXPECT_EQ(stopped.status.exit_code, 0) << stopped.err;
  EXPECT_EQ(Show("ActiveState"), "inactive");
  EXPECT_EQ(Show("Result"), "success") << "exit code " << Show("ExecMainStatus");
  for (pid_t p : processes) {
    EXPECT_TRUE(::kill(p, 0) != 0 && errno == ESRCH)
        << "pid " << p << " (" << CommandLine(p) << ") outlived the service";
  }
  auto progress = ReadFile(home_ / "PROGRESS.md");
  ASSERT_TRUE(progress);
  EXPECT_TRUE(Contains(*progress, "in progress")) << *progress;

  auto removed =
      RunCommand({.argv = {NAUT_CLI, "service", "uninstall", "--user"}, .env = env}, "", 60s);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status.exit_code, 0) << removed->out << removed->err;
  EXPECT_FALSE(fs::exists(user_home_ / ".config/systemd/user/neuronaut.service"));
  EXPECT_EQ(Show("LoadState"), "not-found");
}

}  // namespace
}  // namespace naut

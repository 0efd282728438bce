// The neuronaut binary as a user meets it: started as a real process, output and exit codes
// checked.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/files.h"
#include "core/home_lock.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "store/db.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("naut-cli-" + NewId());
    home_ = root_ / "home";
    fs::create_directories(root_);
  }
  void TearDown() override {
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(root_);
  }

  CommandResult Run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), NAUT_CLI);
    env.emplace("NEURONAUT_HOME", home_.string());
    env.emplace("LLM_BASE_URL", "http://127.0.0.1:1");  // nothing listens there
    auto r = RunCommand({.argv = args, .env = env}, "", 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }
  void WriteConfig(const std::string& text) {
    fs::create_directories(home_);
    std::ofstream(home_ / "neuronaut.toml") << text;
  }

  fs::path root_, home_;
};

TEST_F(CliTest, HelpListsSubcommandsWithDescriptions) {
  auto r = Run({"--help"});
  EXPECT_EQ(r.status.exit_code, 0);
  EXPECT_NE(r.out.find("doctor"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Check this machine"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("config"), std::string::npos);
  EXPECT_NE(r.out.find("run"), std::string::npos);
}

TEST_F(CliTest, VersionPrintsAndExitsZero) {
  auto r = Run({"--version"});
  EXPECT_EQ(r.status.exit_code, 0);
  EXPECT_EQ(r.out.rfind("neuronaut 0.", 0), 0u) << r.out;
  // It names the commit it was built from, read at build time (not when cmake configured).
  auto head =
      RunCommand({.argv = {"git", "-C", NAUT_SOURCE_DIR, "rev-parse", "--short", "HEAD"}}, "", 30s);
  if (!head || !head->status.success()) GTEST_SKIP() << "no git checkout to compare with";
  std::string commit = head->out.substr(0, head->out.find_first_of(" \r\n"));
  EXPECT_NE(r.out.find("(" + commit), std::string::npos)
      << r.out << " is not built from " << commit;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({"--no-such-flag", "doctor"}).status.exit_code, 2);
  EXPECT_EQ(Run({}).status.exit_code, 2);
  EXPECT_EQ(Run({"frobnicate"}).status.exit_code, 2);
}

TEST_F(CliTest, ConfigShowNamesOrigins) {
  WriteConfig("[agent]\nmax_rounds = 3\n");
  auto r = Run({"--llm-model", "flagged", "config", "show"}, {{"LLM_BACKEND", "openai"}});
  ASSERT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("max_rounds = 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# file " + (home_ / "neuronaut.toml").string()), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("model = \"flagged\""), std::string::npos);
  EXPECT_NE(r.out.find("# flag --llm-model"), std::string::npos);
  EXPECT_NE(r.out.find("# env LLM_BACKEND"), std::string::npos);
  EXPECT_NE(r.out.find("# env LLM_BASE_URL"), std::string::npos);
}

TEST_F(CliTest, ConfigErrorsAreClearAndExitOne) {
  WriteConfig("[llm\nbase_url = 1\n");
  auto r = Run({"config", "show"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find((home_ / "neuronaut.toml").string() + ":1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("malformed TOML"), std::string::npos) << r.err;

  WriteConfig("[llm]\ntimeout_s = \"slow\"\n");
  r = Run({"config", "show"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("[llm] timeout_s = \"slow\" is invalid: expected a number"),
            std::string::npos)
      << r.err;

  WriteConfig("[llm]\nmodle = \"x\"\n");
  r = Run({"config", "show"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("unknown key 'modle' in [llm]"), std::string::npos) << r.err;
}

TEST_F(CliTest, DoctorReportsUnreachableLlmAndFails) {
  auto r = Run({"doctor"});
  EXPECT_EQ(r.status.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("ok       data home " + home_.string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PROBLEM  LLM endpoint http://127.0.0.1:1 is unreachable"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("fix: start an OpenAI-compatible server"), std::string::npos);
  EXPECT_NE(r.out.find("python3"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(home_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(CliTest, DoctorReportsUnwritableDataHome) {
  if (::geteuid() == 0) {
    // root writes anywhere; a file in the way of the home is a problem for everyone.
    std::ofstream(home_) << "a file, not a directory";
  } else {
    fs::create_directories(home_);
    fs::permissions(home_, fs::perms::owner_read | fs::perms::owner_exec);
  }
  auto r = Run({"doctor"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.out.find("PROBLEM  data home"), std::string::npos) << r.out;
}

TEST_F(CliTest, DoctorPassesWithAReachableEndpoint) {
  // A tiny HTTP server answering /health, so that every required check can pass.
  auto server = Subprocess::Spawn(
      {.argv = {"python3", "-c",
                "import http.server, sys\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "  def do_GET(self):\n"
                "    self.send_response(200); self.end_headers(); self.wfile.write(b'{}')\n"
                "  def log_message(self, *a): pass\n"
                "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
                "print(s.server_port, flush=True)\n"
                "s.serve_forever()\n"},
       .pipe_stdin = false});
  ASSERT_TRUE(server);
  char buf[32] = {};
  ssize_t n = ::read((*server)->stdout_fd(), buf, sizeof buf - 1);
  ASSERT_GT(n, 0);
  std::string port(buf, static_cast<size_t>(n));
  port.erase(port.find_last_not_of('\n') + 1);
  auto r = Run({"doctor"}, {{"LLM_BASE_URL", "http://127.0.0.1:" + port}});
  bool userns = r.out.find("PROBLEM  unprivileged user namespaces") == std::string::npos;
  EXPECT_NE(r.out.find("ok       LLM endpoint http://127.0.0.1:" + port + " is healthy"),
            std::string::npos)
      << r.out;
  if (userns) {
    EXPECT_EQ(r.status.exit_code, 0) << r.out;
  }
}

TEST_F(CliTest, RunStopsClearlyWhenTheModelIsUnreachable) {
  auto r = Run({"--set", "llm.max_retries=0", "run", "--max-tasks", "1"});
  EXPECT_EQ(r.status.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("the model could not answer"), std::string::npos) << r.err;
  // The task stays active, to be resumed by the next run.
  auto progress = ReadFile(home_ / "PROGRESS.md");
  ASSERT_TRUE(progress) << progress.error().ToString();
  EXPECT_NE(progress->find("(in progress, attempt 1)"), std::string::npos) << *progress;
}

// One agent per data home: while a run holds it, another run and `play` are refused with the
// holder's run id and pid; read-only commands keep working.
TEST_F(CliTest, ASecondAgentOnAnActiveHomeIsRefused) {
  fs::create_directories(home_);
  auto held = HomeLock::Acquire(DataHome{home_}, "run-holding", "neuronaut run");
  ASSERT_TRUE(held.ok()) << held.error().ToString();
  const std::string holder = "run run-holding (pid " + std::to_string(getpid());

  auto run = Run({"run", "--max-tasks", "1"});
  EXPECT_EQ(run.status.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.err.find(holder), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(home_ / "PROGRESS.md")) << "the refused run changed the home";

  auto play = RunCommand(
      {.argv = {NAUT_CLI, "play", "rpg"}, .env = {{"NEURONAUT_HOME", home_.string()}}}, "q\n", 60s);
  ASSERT_TRUE(play.ok());
  EXPECT_NE(play->status.exit_code, 0);
  EXPECT_NE(play->err.find(holder), std::string::npos) << play->err;

  auto list = Run({"runs", "list"});
  EXPECT_EQ(list.status.exit_code, 0) << list.err;
  auto skills = Run({"skills", "list"});
  EXPECT_EQ(skills.status.exit_code, 0) << skills.err;

  held = Unavailable("released");  // the holder stops
  auto after = Run({"--set", "llm.max_retries=0", "run", "--max-tasks", "1"});
  EXPECT_EQ(after.err.find("is in use by"), std::string::npos) << after.err;
  EXPECT_NE(after.err.find("the model could not answer"), std::string::npos) << after.err;
}

// A run whose process was killed never recorded its end; `runs list` must not call it running
// when nothing holds the home, only the live holder's run is.
TEST_F(CliTest, RunsListShowsAKilledRunAsInterrupted) {
  ASSERT_EQ(Run({"runs", "list"}).status.exit_code, 0);  // creates the home and its database
  {
    auto db = store::Db::Open(home_ / "neuronaut.db");
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    ASSERT_TRUE((*db)
                    ->Exec("INSERT INTO runs (id, env, started, status) VALUES "
                           "('run-killed', 'rpg', '2026-12-01T10:00:00Z', 'running'),"
                           "('run-live', 'rpg', '2026-12-01T11:00:00Z', 'running'),"
                           "('run-done', 'rpg', '2026-12-01T09:00:00Z', 'finished')")
                    .ok());
  }
  auto line_of = [](const std::string& out, const std::string& id) {
    auto at = out.find("\n" + id + " ");  // the table's row, not the "active now" line
    return at == std::string::npos ? std::string()
                                   : out.substr(at + 1, out.find('\n', at + 1) - at);
  };
  {
    auto held = HomeLock::Acquire(DataHome{home_}, "run-live", "neuronaut run");
    ASSERT_TRUE(held.ok()) << held.error().ToString();
    auto list = Run({"runs", "list"});
    EXPECT_EQ(list.status.exit_code, 0) << list.err;
    EXPECT_NE(line_of(list.out, "run-live").find("running"), std::string::npos) << list.out;
    EXPECT_NE(line_of(list.out, "run-killed").find("interrupted"), std::string::npos) << list.out;
    EXPECT_NE(line_of(list.out, "run-done").find("finished"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("`neuronaut run` resumes"), std::string::npos) << list.out;
  }
  // The holder died too: both are interrupted now.
  auto list = Run({"runs", "list"});
  EXPECT_NE(line_of(list.out, "run-live").find("interrupted"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("active now"), std::string::npos) << list.out;
  auto show = Run({"runs", "show", "run-killed"});
  EXPECT_EQ(show.status.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("status   interrupted"), std::string::npos) << show.out;
}

// A backup restored into another, empty home resumes the same run: the unfinished task is
// picked up again there.
TEST_F(CliTest, ABackupRestoredElsewhereResumesTheRun) {
  auto first = Run({"--set", "llm.max_retries=0", "run", "--max-tasks", "1"});
  ASSERT_EQ(first.status.exit_code, 1) << first.err;
  auto backup = Run({"backup", (root_ / "bk").string()});
  ASSERT_EQ(backup.status.exit_code, 0) << backup.err;
  EXPECT_NE(backup.out.find("copied"), std::string::npos) << backup.out;

  const std::string other = (root_ / "other-home").string();
  auto restore = Run({"--home", other, "restore", (root_ / "bk").string()});
  ASSERT_EQ(restore.status.exit_code, 0) << restore.out << restore.err;
  auto again = Run({"--home", other, "restore", (root_ / "bk").string()});
  EXPECT_EQ(again.status.exit_code, 1);
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;

  auto resumed = Run({"--home", other, "--set", "llm.max_retries=0", "run", "--max-tasks", "1"});
  EXPECT_NE(resumed.err.find("resuming unfinished task"), std::string::npos) << resumed.err;
  auto progress = ReadFile(fs::path(other) / "PROGRESS.md");
  ASSERT_TRUE(progress) << progress.error().ToString();
  EXPECT_NE(progress->find("(in progress, attempt 2)"), std::string::npos) << *progress;
}

}  // namespace
}  // namespace naut

#include "sandbox_test_support.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace naut::sandbox::testing {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
void WriteText(const fs::path& path, const std::string& text, fs::perms perms) {
  std::ofstream(path, std::ios::binary) << text;
  fs::permissions(path, perms);
}
}  // namespace

Limits HostGuardTest::TestLimits() {
  Limits l;
  l.wall_s = 20;
  l.cpu_s = 10;
  l.memory_mb = 512;
  l.processes = 32;
  l.output_kb = 64;
  l.disk_mb = 256;
  l.tmp_mb = 64;
  return l;
}

void HostGuardTest::SetUp() {
  std::random_device rd;
  token_ = std::to_string(rd()) + std::to_string(rd());
  root_ = fs::temp_directory_path() / ("naut-sandbox-test-" + token_);
  workspace_ = root_ / "workspace";
  outside_ = root_ / "outside";
  home_ = root_ / "home";
  fs::create_directories(workspace_);
  fs::create_directories(outside_);
  fs::create_directories(home_);
  secret_ = "TOP-SECRET-" + token_;
  // World-readable on purpose: only the mount namespace may keep it from the sandbox.
  WriteText(outside_ / "secret.txt", secret_, fs::perms(0644));
  WriteText(home_ / "neuronaut.db", "SQLite format 3 fake " + token_, fs::perms(0644));
  fs::create_directories(home_ / "skills");
  WriteText(home_ / "skills" / "mine.py", "def mine(): return '" + token_ + "'\n", fs::perms(0644));
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  hostname_ = host;
  snapshot_ = Snapshot();
}

void HostGuardTest::TearDown() {
  EXPECT_EQ(Snapshot(), snapshot_) << "files outside the workspace changed";
  EXPECT_TRUE(Leftovers().empty()) << "a process of the run outlived it";
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(hostname_, host) << "the host name changed";
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / ("escaped-" + token_)))
      << "a file appeared in the host's /tmp";
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::map<std::string, std::string> HostGuardTest::Snapshot() const {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (p == workspace_) {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    std::string key = p.string();
    std::string value = std::to_string(st.st_mode) + ":" + std::to_string(st.st_uid);
    if (S_ISREG(st.st_mode)) value += ":" + ReadAll(p);
    out[key] = value;
  }
  return out;
}

std::vector<pid_t> HostGuardTest::Leftovers() const {
  std::vector<pid_t> found;
  const std::string marker = "NAUT_TEST_MARKER=" + token_;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string env = ReadAll(entry.path() / "environ");
    if (env.find(marker) != std::string::npos) found.push_back(std::stoi(name));
  }
  return found;
}

RunResult HostGuardTest::Run(std::vector<std::string> argv, const Limits& limits,
                             std::string stdin_data) {
  Spec spec;
  spec.argv = std::move(argv);
  spec.workspace = workspace_;
  spec.limits = limits;
  spec.mode = mode_;
  spec.stdin_data = std::move(stdin_data);
  spec.env["NAUT_TEST_MARKER"] = token_;
  spec.env["SECRET_PATH"] = (outside_ / "secret.txt").string();
  spec.env["HOME_DB"] = (home_ / "neuronaut.db").string();
  spec.env["TOKEN"] = token_;
  auto result = naut::sandbox::Run(spec);
  EXPECT_TRUE(result.ok()) << result.error().ToString();
  if (!result.ok()) return {};
  return *result;
}

RunResult HostGuardTest::Python(const std::string& code, const Limits& limits) {
  return Run({"/usr/bin/python3", "-c", code}, limits);
}

RunResult HostGuardTest::Shell(const std::string& script, const Limits& limits) {
  return Run({"/bin/bash", "-c", script}, limits);
}

}  // namespace naut::sandbox::testing

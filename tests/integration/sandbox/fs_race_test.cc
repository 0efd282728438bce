// The fs tools against a hostile workspace: a sandboxed process swaps directories, files and
// link chains of the workspace for symlinks to a host directory outside the allowed roots, as
// fast as it can, while the real `neuronaut mcp-server fs` (root: the workspace) is called
// thousands of times with every tool. Nothing outside the roots may ever be read, written,
// listed or described.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "core/base64.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "mcp/client.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kMarker[] = "OUTSIDE-7f3a-SECRET";
constexpr char kOutsideOnlyName[] = "outside-only-name-c41d";

// Swaps, in the sandbox, each given path with a symlink (rename(p, hold); rename(link, p);
// rename(p, link); rename(hold, p)) or moves a directory away and back, until the deadline.
// Tolerant of the tools changing the tree under it: a failed rename is skipped and a lost link
// is made again. Stops when `.stop` appears; prints the number of rounds.
constexpr char kSwapper[] = R"PY(
import json, os, sys, time
plan = json.loads(sys.argv[1])
for name, target in plan.get("links", []):
    os.symlink(target, name)
swaps = [(p, p + ".lnk", p + ".hold", t) for p, t in plan.get("swaps", [])]
moves = plan.get("moves", [])
for p, link, hold, t in swaps:
    os.symlink(t, link)
open(".started", "w").close()
deadline = time.time() + plan["seconds"]
rounds = 0
while True:
    for p, link, hold, t in swaps:
        for a, b in ((p, hold), (link, p), (p, link), (hold, p)):
            try:
                os.rename(a, b)
            except OSError:
                pass
        if not os.path.lexists(link) and not os.path.lexists(hold):
            try:
                os.symlink(t, link)
            except OSError:
                pass
    for a, b in moves:
        for x, y in ((a, b), (b, a)):
            try:
                os.rename(x, y)
            except OSError:
                pass
    rounds += 1
    if rounds % 256 == 0 and (time.time() > deadline or os.path.exists(".stop")):
        break
print(rounds)
)PY";

std::string Text(const ToolResult& r) {
  std::string out;
  for (const auto& c : r.content) out += c.data.dump();
  if (r.structured) out += r.structured->dump();
  return out;
}

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Everything under `dir`: each entry's type, and content for files and links.
std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    auto st = it->symlink_status();
    std::string rel = fs::relative(it->path(), dir).string();
    if (fs::is_symlink(st)) {
      out[rel] = "link:" + fs::read_symlink(it->path()).string();
    } else if (fs::is_directory(st)) {
      out[rel] = "dir";
    } else {
      std::ifstream in(it->path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out[rel] = "file:" + ss.str();
    }
  }
  return out;
}

// [[a, b], ...] (a braced list of pairs would become an object).
nlohmann::json Pairs(std::vector<std::pair<std::string, std::string>> pairs) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& [a, b] : pairs) out.push_back(nlohmann::json::array({a, b}));
  return out;
}

struct Variant {
  std::string name;
  std::string query;  // the directory, relative to the workspace, that the tools are pointed at
  // Builds the swap plan from the workspace-relative names; `outside` is the host directory.
  std::function<nlohmann::json(const std::string& outside)> plan;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class FsRaceTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    base_ = fs::canonical(fs::temp_directory_path()) / ("naut-fsrace-" + NewId());
    ws_ = base_ / "ws";
    outside_ = base_ / "outside";
    for (const fs::path& d : {ws_ / "d" / "sub", outside_ / "sub"}) fs::create_directories(d);
    // The outside tree mirrors the workspace's names, so any escape finds something to hit.
    for (const fs::path& d : {outside_, outside_ / "sub"}) {
      Write(d / "secret", std::string(kMarker) + std::string(777 - sizeof(kMarker) + 1, 'x'));
      Write(d / "edit.txt", std::string(kMarker) + " one\n");
      Write(d / "img.png", std::string(kMarker) + "-png");
      Write(d / kOutsideOnlyName, kMarker);
      Write(d / "mv-src-0", kMarker);
    }
    for (const fs::path& d : {ws_ / "d", ws_ / "d" / "sub"}) {
      Write(d / "secret", "inside secret");
      Write(d / "edit.txt", "inside one\n");
      Write(d / "img.png", "inside-png");
    }
    before_ = Snapshot(outside_);
    server_ = Connect();
    ASSERT_TRUE(server_);
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    if (!base_.empty()) fs::remove_all(base_, ec);
  }

  std::unique_ptr<Client> Connect() {
    auto c = Client::Connect(
        std::make_unique<StdioClientTransport>(
            "fs", SpawnOptions{.argv = {NAUT_CLI, "--home", (base_ / "home").string(), "--set",
                                        "sandbox.fs_roots=" + ws_.string(), "mcp-server", "fs"}}),
        {});
    EXPECT_TRUE(c) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }

  fs::path base_, ws_, outside_;
  std::map<std::string, std::string> before_;
  std::unique_ptr<Client> server_;
};

TEST_P(FsRaceTest, NothingOutsideTheRootsIsEverTouched) {
  const Variant& v = GetParam();
  // At least 4 s and 3000 calls (a loaded machine makes calls slower), at most 40 s.
  constexpr double kSeconds = 4, kMaxSeconds = 40;
  constexpr int kMinCalls = 3000;
  nlohmann::json plan = v.plan(outside_.string());
  plan["seconds"] = kMaxSeconds + 5;
  SpawnOptions swapper{
      .argv = {NAUT_CLI, "--home", (base_ / "home").string(), "--set", "sandbox.cpu_s=60", "--set",
               "sandbox.wall_s=90", "sandbox", "run", "--workspace", ws_.string(), "--",
               "/usr/bin/python3", "-c", kSwapper, plan.dump()},
      .pipe_stdin = false,
      .pipe_stdout = false,
      .pipe_stderr = false};
  auto child = Subprocess::Spawn(swapper);
  ASSERT_TRUE(child) << child.error().ToString();
  for (int i = 0; i < 200 && !fs::exists(ws_ / ".started") && child.value()->running(); ++i) {
    child.value()->TryWait();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(ws_ / ".started")) << "the swapper did not start in the sandbox";

  const std::string q = (ws_ / v.query).string();
  const std::string outside_png = Base64Encode(std::string(kMarker) + "-png");
  int calls = 0, inside_reads = 0, refused = 0;
  std::map<std::string, double> seconds_in;  // per tool, printed to show where the time went
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  for (int i = 0; (elapsed() < kSeconds || calls < kMinCalls) && elapsed() < kMaxSeconds; ++i) {
    const std::string n = std::to_string(i % 40);
    const std::vector<std::pair<std::string, nlohmann::json>> round = {
        {"read_text_file", {{"path", q + "/secret"}}},
        {"read_text_file", {{"path", q + "/secret"}, {"head", 1}}},
        {"read_text_file", {{"path", q + "/secret"}, {"tail", 1}}},
        {"write_file", {{"path", q + "/new-" + n}, {"content", "w"}}},
        {"edit_file",
         {{"path", q + "/edit.txt"}, {"edits", {{{"oldText", "one"}, {"newText", "one"}}}}}},
        {"write_file", {{"path", q + "/mv-src-" + n}, {"content", "m"}}},
        {"move_file", {{"source", q + "/mv-src-" + n}, {"destination", q + "/mv-dst-" + n}}},
        {"create_directory", {{"path", q + "/cd-" + n}}},
        {"list_directory", {{"path", q}}},
        {"list_directory_with_sizes", {{"path", q}}},
        {"directory_tree", {{"path", q + "/sub"}}},
        {"search_files", {{"path", q}, {"pattern", "**/*secret*"}}},
        {"search_files", {{"path", q}, {"pattern", "**/outside-only*"}}},
        {"get_file_info", {{"path", q + "/secret"}}},
        {"read_multiple_files", {{"paths", {q + "/secret", q + "/edit.txt"}}}},
        {"read_media_file", {{"path", q + "/img.png"}}},
    };
    for (const auto& [tool, args] : round) {
      const auto t0 = Clock::now();
      auto r = server_->CallTool(tool, args);
      seconds_in[tool] += std::chrono::duration<double>(Clock::now() - t0).count();
      ASSERT_TRUE(r) << tool << ": " << r.error().ToString();
      ++calls;
      const std::string text = Text(*r);
      ASSERT_EQ(text.find(kMarker), std::string::npos)
          << tool << " disclosed an outside file: " << text;
      ASSERT_EQ(text.find(kOutsideOnlyName), std::string::npos)
          << tool << " listed the outside directory: " << text;
      ASSERT_EQ(text.find(outside_png), std::string::npos) << tool << " read the outside image";
      if (tool == "get_file_info") {
        ASSERT_EQ(text.find("size: 777"), std::string::npos) << "described the outside secret";
      }
      if (tool == "read_text_file" && text.find("inside secret") != std::string::npos)
        ++inside_reads;
      if (r->is_error && text.find("Access denied") != std::string::npos) ++refused;
    }
  }
  Write(ws_ / ".stop", "");
  auto done = child.value()->Wait();
  EXPECT_TRUE(done.success()) << "swapper: " << done.ToString();
  EXPECT_EQ(Snapshot(outside_), before_) << "the outside directory changed";
  EXPECT_GE(calls, kMinCalls);
  // Both sides of the race were hit: the tools worked and the swaps were seen and refused.
  EXPECT_GT(inside_reads, 0);
  EXPECT_GT(refused, 0);
  std::cout << v.name << ": " << calls << " calls, " << inside_reads << " inside reads, " << refused
            << " refused;";
  for (const auto& [tool, t] : seconds_in) std::cout << " " << tool << " " << t << " s";
  std::cout << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Swaps, FsRaceTest,
    ::testing::Values(
        // The report's case: a directory of the workspace swapped with an absolute link out.
        Variant{"dir_absolute", "d",
                [](const std::string& out) {
                  return nlohmann::json{{"swaps", Pairs({{"d", out}})}};
                }},
        // The same with a relative link climbing out of the workspace.
        Variant{"dir_relative", "d",
                [](const std::string&) {
                  return nlohmann::json{{"swaps", Pairs({{"d", "../outside"}})}};
                }},
        // A deeper directory, so the escape is in the middle of the path.
        Variant{"dir_deep", "d/sub",
                [](const std::string& out) {
                  return nlohmann::json{{"swaps", Pairs({{"d/sub", out + "/sub"}})}};
                }},
        // The final names themselves swapped with links to the outside files.
        Variant{"files", "d",
                [](const std::string& out) {
                  return nlohmann::json{{"swaps", Pairs({{"d/secret", out + "/secret"},
                                                         {"d/edit.txt", out + "/edit.txt"},
                                                         {"d/img.png", out + "/img.png"}})}};
                }},
        // A chain of links inside the workspace whose last one leads out.
        Variant{"link_chain", "d",
                [](const std::string& out) {
                  return nlohmann::json{
                      {"links", Pairs({{"l1", "l2"}, {"l2", "./l3"}, {"l3", out}})},
                      {"swaps", Pairs({{"d", "l1"}})}};
                }},
        // Directories moved around (so ".." changes meaning) while one is also swapped out.
        Variant{"moves", "d/sub",
                [](const std::string& out) {
                  return nlohmann::json{{"moves", Pairs({{"d/sub", "moved"}})},
                                        {"swaps", Pairs({{"d", out}})}};
                }}),
    [](const ::testing::TestParamInfo<Variant>& info) { return info.param.name; });

}  // namespace
}  // namespace naut::mcp

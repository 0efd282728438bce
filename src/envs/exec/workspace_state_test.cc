#include "envs/exec/workspace_state.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/beneath.h"
#include "core/files.h"
#include "core/ids.h"

namespace naut::envs::exec {
namespace {

namespace fs = std::filesystem;

class WorkspaceStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("naut-wsstate-" + NewId());
    ws_ = base_ / "ws";
    fs::create_directories(ws_ / "pkg" / "src");
    fs::create_directories(ws_ / "pkg" / "build" / "CMakeFiles");
    fs::create_directories(ws_ / "empty");
    fs::create_directories(ws_ / "py" / "__pycache__");
    Write("pkg/CMakeLists.txt", "project(p)\n");
    Write("pkg/src/a.cc", std::string("int a() { return 1; }\n\0\xff binary", 32));
    Write("pkg/run.sh", "#!/bin/sh\necho hi\n");
    fs::permissions(ws_ / "pkg" / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
    Write("pkg/build/out.o", "object");
    Write("py/__pycache__/m.pyc", "cache");
    Write("../secret.txt", "outside");
    fs::create_symlink(base_ / "secret.txt", ws_ / "pkg" / "escape.txt");
    auto root = OpenRootDir(fs::canonical(ws_).string());
    ASSERT_TRUE(root) << root.error().ToString();
    root_ = std::move(*root);
  }
  void TearDown() override { fs::remove_all(base_); }
  void Write(const std::string& rel, const std::string& content) {
    std::ofstream(ws_ / rel, std::ios::binary) << content;
  }
  std::set<std::string> Tree() {
    std::set<std::string> out;
    for (auto it = fs::recursive_directory_iterator(ws_); it != fs::recursive_directory_iterator();
         ++it) {
      out.insert(fs::relative(it->path(), ws_).string() + (it->is_directory() ? "/" : ""));
    }
    return out;
  }

  fs::path base_, ws_;
  RootDir root_;
};

TEST_F(WorkspaceStateTest, SavedFilesComeBackAndBuildOutputAndLinksAreLeftOut) {
  auto state = SaveWorkspace(root_.fd.get());
  ASSERT_TRUE(state) << state.error().ToString();
  const std::string text = DumpJson(*state);
  EXPECT_EQ(text.find("out.o"), std::string::npos);
  EXPECT_EQ(text.find("m.pyc"), std::string::npos);
  EXPECT_EQ(text.find("escape"), std::string::npos);
  // The workspace changes: a file edited, one removed, one added, a link that leads out.
  Write("pkg/CMakeLists.txt", "broken");
  fs::remove(ws_ / "pkg" / "src" / "a.cc");
  Write("new.txt", "new");
  fs::create_directory_symlink(base_, ws_ / "out");
  ASSERT_TRUE(LoadWorkspace(root_.fd.get(), *state).ok());
  EXPECT_EQ(Tree(), (std::set<std::string>{"empty/", "pkg/", "pkg/CMakeLists.txt", "pkg/run.sh",
                                           "pkg/src/", "pkg/src/a.cc", "py/"}));
  EXPECT_EQ(*ReadFile(ws_ / "pkg" / "CMakeLists.txt"), "project(p)\n");
  EXPECT_EQ(*ReadFile(ws_ / "pkg" / "src" / "a.cc"),
            std::string("int a() { return 1; }\n\0\xff binary", 32));
  EXPECT_NE(fs::status(ws_ / "pkg" / "run.sh").permissions() & fs::perms::owner_exec,
            fs::perms::none);
  EXPECT_EQ(*ReadFile(base_ / "secret.txt"), "outside");  // the link was removed, not followed
}

TEST_F(WorkspaceStateTest, AHostileStateIsRefusedAndTheWorkspaceLeftAsItWas) {
  const auto before = Tree();
  auto file = [](const std::string& path, const std::string& b64) {
    return Json{{"format", "neuronaut-workspace"},
                {"version", 1},
                {"dirs", Json::array()},
                {"files", Json::array({{{"path", path}, {"mode", 420}, {"base64", b64}}})}};
  };
  for (const Json& bad : {Json(nullptr), Json{{"format", "other"}}, file("../secret.txt", "eA=="),
                          file("/etc/passwd", "eA=="), file("a//b", "eA=="), file("a/./b", "eA=="),
                          file("ok.txt", "not base64!"), file("", "eA=="),
                          Json{{"format", "neuronaut-workspace"},
                               {"version", 1},
                               {"dirs", Json::array({"../up"})},
                               {"files", Json::array()}}}) {
    Status s = LoadWorkspace(root_.fd.get(), bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << DumpJson(bad);
  }
  EXPECT_EQ(Tree(), before);
  EXPECT_EQ(*ReadFile(base_ / "secret.txt"), "outside");
  // Too much for the limits: refused whole.
  Status big =
      LoadWorkspace(root_.fd.get(), file("big.bin", std::string(4000, 'A')), {.max_bytes = 1000});
  EXPECT_EQ(big.code(), Code::kInvalidArgument) << big.ToString();
  EXPECT_EQ(Tree(), before);
}

TEST_F(WorkspaceStateTest, AWorkspaceTooLargeToSaveSaysSo) {
  auto state = SaveWorkspace(root_.fd.get(), {.max_bytes = 10});
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code(), Code::kResourceExhausted);
  EXPECT_NE(state.error().message().find("larger than a saved state keeps (10 bytes)"),
            std::string::npos)
      << state.error().ToString();
  auto few = SaveWorkspace(root_.fd.get(), {.max_files = 1});
  ASSERT_FALSE(few);
  EXPECT_NE(few.error().message().find("more than 1 files"), std::string::npos);
}

}  // namespace
}  // namespace naut::envs::exec

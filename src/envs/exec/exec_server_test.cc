#include "envs/exec/exec_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>

namespace naut::envs::exec {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ExecServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    workspace_ = fs::temp_directory_path() / ("naut-exec-test-" + std::to_string(rd()));
    ExecOptions options;
    options.workspace = workspace_;
    options.limits.wall_s = 30;
    options.build_timeout_s = 120;
    auto tools = MakeExecTools(options);
    ASSERT_TRUE(tools.ok()) << tools.error().ToString();
    tools_ = std::move(*tools);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(workspace_, ec);
  }
  mcp::ToolResult Call(const std::string& name, const Json& args) {
    for (auto& tool : tools_) {
      if (tool.name == name) {
        mcp::ToolContext context;
        return tool.handler(args, context);
      }
    }
    ADD_FAILURE() << "no tool " << name;
    return {};
  }
  static std::string Text(const mcp::ToolResult& r) {
    return r.content.empty() ? "" : r.content[0].data["text"].get<std::string>();
  }
  void Write(const fs::path& rel, const std::string& text) {
    fs::create_directories((workspace_ / rel).parent_path());
    std::ofstream(workspace_ / rel) << text;
  }

  fs::path workspace_;
  std::vector<mcp::Tool> tools_;
};

TEST_F(ExecServerTest, OffersTheToolsWithSchemas) {
  std::vector<std::string> names;
  for (const auto& t : tools_) {
    names.push_back(t.name);
    EXPECT_EQ(t.input_schema["type"], "object");
    EXPECT_FALSE(t.description.empty());
  }
  EXPECT_THAT(names,
              ::testing::UnorderedElementsAre("run_python", "run_shell", "run_cpp", "run_swift",
                                              "build_package", "save_state", "load_state"));
}

TEST_F(ExecServerTest, RunPythonReturnsOutputAndExitCode) {
  auto r = Call(
      "run_python",
      {{"code",
        "import sys\nprint('hello', sys.stdin.read().strip())\nopen('made.txt','w').write('x')\n"},
       {"stdin", "world"}});
  EXPECT_FALSE(r.is_error) << Text(r);
  ASSERT_TRUE(r.structured.has_value());
  EXPECT_EQ((*r.structured)["stdout"], "hello world\n");
  EXPECT_EQ((*r.structured)["exit_code"], 0);
  EXPECT_EQ((*r.structured)["isolated"], true);
  EXPECT_TRUE(fs::exists(workspace_ / "made.txt"));
  EXPECT_FALSE(fs::exists(workspace_ / ".naut-exec" / "run-1")) << "scratch files are removed";
}

TEST_F(ExecServerTest, RunPythonErrorCarriesTheTraceback) {
  auto r = Call("run_python", {{"code", "x = 1\nraise ValueError('bad value')\n"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ((*r.structured)["exit_code"], 1);
  EXPECT_EQ((*r.structured)["diagnostics"][0]["line"], 2);
  EXPECT_EQ((*r.structured)["diagnostics"][0]["message"], "ValueError: bad value");
}

TEST_F(ExecServerTest, RunPythonTimeout) {
  auto r = Call("run_python", {{"code", "import time\ntime.sleep(30)\n"}, {"timeout_s", 1}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ((*r.structured)["limit"], "wall_time");
  EXPECT_THAT(Text(r), HasSubstr("wall-clock limit"));
}

TEST_F(ExecServerTest, BadArgumentsAreErrorsNotCrashes) {
  EXPECT_TRUE(Call("run_python", Json::object()).is_error);
  EXPECT_TRUE(Call("run_python", {{"code", 5}}).is_error);
  EXPECT_TRUE(Call("run_python", {{"code", "pass"}, {"timeout_s", "soon"}}).is_error);
  EXPECT_TRUE(Call("run_python", {{"code", "pass"}, {"timeout_s", -1}}).is_error);
  EXPECT_TRUE(Call("run_cpp", {{"source", "int main(){}"}, {"args", "notalist"}}).is_error);
  EXPECT_TRUE(Call("run_shell", Json::array()).is_error);
}

TEST_F(ExecServerTest, RunShell) {
  auto r = Call("run_shell", {{"command", "echo $((6*7)); pwd; exit 3"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ((*r.structured)["stdout"], "42\n/work\n");
  EXPECT_EQ((*r.structured)["exit_code"], 3);
}

TEST_F(ExecServerTest, RunCppCompilesAndRunsWithArgs) {
  auto r = Call("run_cpp", {{"source",
                             "#include <iostream>\nint main(int c, char** v) { std::cout << c << "
                             "v[1] << std::endl; }\n"},
                            {"args", {"abc"}}});
  EXPECT_FALSE(r.is_error) << Text(r);
  EXPECT_EQ((*r.structured)["stdout"], "2abc\n");
  EXPECT_EQ((*r.structured)["stage"], "run");
}

TEST_F(ExecServerTest, RunCppCompileErrorHasFileAndLine) {
  auto r = Call("run_cpp", {{"source", "int main() {\n  int x = 1;\n  return y;\n}\n"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ((*r.structured)["stage"], "compile");
  const Json& d = (*r.structured)["diagnostics"];
  ASSERT_FALSE(d.empty()) << Text(r);
  bool found = false;
  for (const auto& e : d) {
    if (e["severity"] == "error") {
      EXPECT_EQ(e["file"], "main.cpp");
      EXPECT_EQ(e["line"], 3);
      EXPECT_GT(e["column"].get<int>(), 0);
      EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("was not declared"));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(ExecServerTest, RunSwiftSaysWhenThereIsNoToolchain) {
  auto r = Call("run_swift", {{"source", "print(\"hi\")\n"}});
  if (std::system("command -v swift >/dev/null 2>&1") == 0) {
    EXPECT_FALSE(r.is_error) << Text(r);
  } else {
    EXPECT_TRUE(r.is_error);
    EXPECT_THAT(Text(r), HasSubstr("no Swift toolchain"));
  }
}

TEST_F(ExecServerTest, BuildPackageCMakeErrorThenCounts) {
  Write(
      "calc/CMakeLists.txt",
      "cmake_minimum_required(VERSION 3.16)\nproject(calc CXX)\nenable_testing()\n"
      "add_executable(calc_test test.cc)\n"
      "add_test(NAME adds COMMAND calc_test add)\nadd_test(NAME multiplies COMMAND calc_test mul)\n"
      "add_test(NAME divides COMMAND calc_test div)\n");
  Write("calc/calc.h",
        "#pragma once\ninline int Add(int a, int b) { return a + b; }\ninline int Mul(int a, int "
        "b) { return a * b; }\n");
  Write(
      "calc/test.cc",
      "#include <string>\n#include \"calc.h\"\nint main(int, char** v) {\n  std::string t = v[1];\n"
      "  if (t == \"add\") return Add(2, 2) == 4 ? 0 : 1;\n  if (t == \"mul\") return Mul(2, 3) == "
      "6 ? 0 : 1;\n"
      "  return Div(6, 3) == 2 ? 0 : 1;\n}\n");
  auto broken = Call("build_package", {{"path", "calc"}});
  EXPECT_TRUE(broken.is_error);
  ASSERT_TRUE(broken.structured.has_value()) << Text(broken);
  EXPECT_EQ((*broken.structured)["failed_stage"], "build") << Text(broken);
  bool found = false;
  for (const auto& d : (*broken.structured)["diagnostics"]) {
    if (d["severity"] == "error" && d["file"] == "test.cc") {
      EXPECT_EQ(d["line"], 7);
      EXPECT_THAT(d["message"].get<std::string>(), HasSubstr("Div"));
      found = true;
    }
  }
  EXPECT_TRUE(found) << broken.structured->dump(2);

  // Fixed (Div exists but is wrong): it builds, and the counts say 2 passed, 1 failed.
  Write("calc/calc.h",
        "#pragma once\ninline int Add(int a, int b) { return a + b; }\ninline int Mul(int a, int "
        "b) { return a * b; }\n"
        "inline int Div(int a, int b) { return a - b; }\n");
  auto fixed = Call("build_package", {{"path", "calc"}});
  ASSERT_TRUE(fixed.structured.has_value()) << Text(fixed);
  EXPECT_EQ((*fixed.structured)["tests"]["passed"], 2) << fixed.structured->dump(2);
  EXPECT_EQ((*fixed.structured)["tests"]["failed"], 1);
  EXPECT_EQ((*fixed.structured)["tests"]["total"], 3);
  EXPECT_EQ((*fixed.structured)["failed_stage"], "test");
  EXPECT_THAT(Text(fixed), HasSubstr("2 passed, 1 failed, 3 total"));
}

TEST_F(ExecServerTest, BuildPackagePythonCounts) {
  Write("pkg/pyproject.toml", "[project]\nname = \"pkg\"\nversion = \"0.1\"\n");
  Write("pkg/pkg/__init__.py", "def double(x):\n    return 2 * x\n");
  Write("pkg/tests/__init__.py", "");
  Write("pkg/tests/test_double.py",
        "import unittest\nfrom pkg import double\n\nclass T(unittest.TestCase):\n"
        "    def test_ok(self):\n        self.assertEqual(double(2), 4)\n"
        "    def test_bad(self):\n        self.assertEqual(double(2), 5)\n");
  auto r = Call("build_package", {{"path", "pkg"}});
  ASSERT_TRUE(r.structured.has_value()) << Text(r);
  EXPECT_EQ((*r.structured)["kind"], "python");
  EXPECT_EQ((*r.structured)["tests"]["total"], 2) << r.structured->dump(2);
  EXPECT_EQ((*r.structured)["tests"]["passed"], 1);
  EXPECT_EQ((*r.structured)["tests"]["failed"], 1);
}

TEST_F(ExecServerTest, BuildPackageRefusesPathsOutsideTheWorkspace) {
  EXPECT_THAT(Text(Call("build_package", {{"path", "../.."}})), HasSubstr("outside the workspace"));
  EXPECT_THAT(Text(Call("build_package", {{"path", "/etc"}})), HasSubstr("outside the workspace"));
  fs::create_directories(workspace_ / "empty");
  auto r = Call("build_package", {{"path", "empty"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_THAT(Text(r), HasSubstr("has no CMakeLists.txt"));
  fs::create_symlink("/etc", workspace_ / "etclink");
  EXPECT_THAT(Text(Call("build_package", {{"path", "etclink"}})),
              HasSubstr("leaves the workspace"));
}

// Code in the sandbox replaces the host's scratch folder with a link to a host directory; the
// host's next run must neither write its source there nor remove anything of it afterwards.
TEST_F(ExecServerTest, ScratchFolderSwappedForALinkIsNeverFollowed) {
  const fs::path host = workspace_.string() + "-host";
  fs::create_directories(host / "run-1");
  std::ofstream(host / "run-1" / "main.py") << "precious";
  std::ofstream(host / "run-1" / "keep.txt") << "keep";
  auto planted = Call("run_shell",
                      {{"command", "rm -rf .naut-exec && ln -s " + host.string() + " .naut-exec"}});
  ASSERT_FALSE(planted.is_error) << Text(planted);
  auto r = Call("run_python", {{"code", "print('hi')"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_THAT(Text(r), HasSubstr(".naut-exec"));
  std::ifstream main(host / "run-1" / "main.py");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(main), {}), "precious");
  EXPECT_TRUE(fs::exists(host / "run-1" / "keep.txt"));
  EXPECT_EQ(std::distance(fs::directory_iterator(host), fs::directory_iterator()), 1);
  // A package directory swapped for a link out is refused the same way.
  fs::remove(workspace_ / ".naut-exec");
  std::ofstream(host / "CMakeLists.txt") << "project(x)";
  fs::create_symlink(host, workspace_ / "pkg");
  EXPECT_THAT(Text(Call("build_package", {{"path", "pkg"}})), HasSubstr("leaves the workspace"));
  // The workspace works again once the link is gone.
  auto again = Call("run_python", {{"code", "print('again')"}});
  EXPECT_FALSE(again.is_error) << Text(again);
  std::error_code ec;
  fs::remove_all(host, ec);
}

}  // namespace
}  // namespace naut::envs::exec

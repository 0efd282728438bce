#include "envs/exec/diagnostics.h"

#include <gtest/gtest.h>

namespace naut::envs::exec {
namespace {

TEST(ParseCompilerDiagnostics, GccErrorsWarningsAndNotes) {
  auto d = ParseCompilerDiagnostics(
      "/work/pkg/src/main.cc: In function 'int main()':\n"
      "/work/pkg/src/main.cc:5:3: error: 'foo' was not declared in this scope\n"
      "    5 |   foo();\n"
      "      |   ^~~\n"
      "/work/pkg/src/util.h:12:10: warning: unused variable 'x' [-Wunused-variable]\n"
      "/work/pkg/src/util.h:3:1: note: declared here\n"
      "lib.c:7: error: missing column\n");
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].file, "/work/pkg/src/main.cc");
  EXPECT_EQ(d[0].line, 5);
  EXPECT_EQ(d[0].column, 3);
  EXPECT_EQ(d[0].severity, "error");
  EXPECT_EQ(d[0].message, "'foo' was not declared in this scope");
  EXPECT_EQ(d[1].severity, "warning");
  EXPECT_EQ(d[2].severity, "note");
  EXPECT_EQ(d[3].line, 7);
  EXPECT_EQ(d[3].column, 0);
  StripPathPrefix(d, "/work/pkg");
  EXPECT_EQ(d[0].file, "src/main.cc");
  EXPECT_EQ(d[3].file, "lib.c");
}

TEST(ParseCompilerDiagnostics, FatalErrorAndLinker) {
  auto d = ParseCompilerDiagnostics(
      "a.cpp:1:10: fatal error: nothere.h: No such file or directory\n"
      "/usr/bin/ld: main.o: in function `main':\n"
      "/usr/bin/ld: main.cpp:(.text+0x5): undefined reference to `missing()'\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].severity, "fatal error");
  EXPECT_EQ(d[1].severity, "error");
  EXPECT_NE(d[1].message.find("undefined reference to `missing()'"), std::string::npos);
}

TEST(ParseCompilerDiagnostics, CMakeErrorBlock) {
  auto d = ParseCompilerDiagnostics(
      "CMake Error at CMakeLists.txt:4 (add_executable):\n"
      "  Cannot find source file:\n"
      "\n"
      "    nothere.cc\n"
      "\n"
      "-- Configuring incomplete, errors occurred!\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].file, "CMakeLists.txt");
  EXPECT_EQ(d[0].line, 4);
  EXPECT_EQ(d[0].severity, "error");
  EXPECT_EQ(d[0].message, "Cannot find source file:");
}

TEST(ParseCompilerDiagnostics, NothingInCleanOutput) {
  EXPECT_TRUE(ParseCompilerDiagnostics("[1/2] Building CXX object\n[2/2] Linking\n").empty());
  EXPECT_TRUE(ParseCompilerDiagnostics("").empty());
}

TEST(ParsePythonTraceback, InnermostFrameAndException) {
  auto d = ParsePythonTraceback(
      "Traceback (most recent call last):\n"
      "  File \"/work/main.py\", line 9, in <module>\n"
      "    f()\n"
      "  File \"/work/lib.py\", line 3, in f\n"
      "    return 1 / 0\n"
      "ZeroDivisionError: division by zero\n");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->file, "/work/lib.py");
  EXPECT_EQ(d->line, 3);
  EXPECT_EQ(d->message, "ZeroDivisionError: division by zero");
  auto syntax = ParsePythonTraceback(
      "  File \"x.py\", line 2\n    def (\n        ^\nSyntaxError: invalid syntax\n");
  ASSERT_TRUE(syntax.has_value());
  EXPECT_EQ(syntax->line, 2);
  EXPECT_EQ(syntax->message, "SyntaxError: invalid syntax");
  EXPECT_FALSE(ParsePythonTraceback("all good\n").has_value());
}

TEST(TestSummaries, Ctest) {
  auto c = ParseCtestSummary(
      "...\n67% tests passed, 1 tests failed out of 3\n\nTotal Test time (real) =   0.01 sec\n");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->passed, 2);
  EXPECT_EQ(c->failed, 1);
  EXPECT_EQ(c->total, 3);
  auto none = ParseCtestSummary("No tests were found!!!\n");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->total, 0);
  EXPECT_FALSE(ParseCtestSummary("garbage").has_value());
}

TEST(TestSummaries, Pytest) {
  auto c = ParsePytestSummary("..F.s\n===== 3 passed, 1 failed, 1 skipped in 0.12s =====\n");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->passed, 3);
  EXPECT_EQ(c->failed, 1);
  EXPECT_EQ(c->skipped, 1);
  EXPECT_EQ(c->total, 5);
  auto quiet = ParsePytestSummary("....\n4 passed in 0.01s\n");
  ASSERT_TRUE(quiet.has_value());
  EXPECT_EQ(quiet->passed, 4);
}

TEST(TestSummaries, Unittest) {
  auto ok = ParseUnittestSummary("....\n----\nRan 4 tests in 0.001s\n\nOK\n");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->passed, 4);
  EXPECT_EQ(ok->failed, 0);
  auto bad =
      ParseUnittestSummary("Ran 5 tests in 0.002s\n\nFAILED (failures=1, errors=1, skipped=1)\n");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->failed, 2);
  EXPECT_EQ(bad->skipped, 1);
  EXPECT_EQ(bad->passed, 2);
}

}  // namespace
}  // namespace naut::envs::exec

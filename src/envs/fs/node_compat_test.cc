#include "envs/fs/node_compat.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

namespace naut::envs::fs {
namespace {

TEST(NodeCompatTest, ErrorsReadAsNodeWritesThem) {
  EXPECT_EQ(NodeError(ENOENT, "open", "/x"), "ENOENT: no such file or directory, open '/x'");
  EXPECT_EQ(NodeError(EISDIR, "read", "/d"), "EISDIR: illegal operation on a directory, read '/d'");
  EXPECT_EQ(NodeError(EXDEV, "rename", "/a", "/b"),
            "EXDEV: cross-device link not permitted, rename '/a' -> '/b'");
  // An errno Node's table here does not name keeps its number and the C library's text.
  EXPECT_EQ(NodeError(EDOM, "stat", "/y").rfind("E" + std::to_string(EDOM) + ": ", 0), 0u);
}

TEST(NodeCompatTest, NormalizePathAsTheReference) {
  EXPECT_EQ(NormalizePath("  '/a//b/'  "), "/a/b");
  EXPECT_EQ(NormalizePath("\"/a/b\""), "/a/b");
  EXPECT_EQ(NormalizePath("/"), "");  // the reference's replace(/\/+$/, '')
  EXPECT_EQ(NormalizePath("///"), "");
  EXPECT_EQ(NormalizePath("rel/x/"), "rel/x");
}

TEST(NodeCompatTest, ResolveIsLexicalAndAbsolute) {
  EXPECT_EQ(ResolvePath("/a/./b/../c/"), "/a/c");
  EXPECT_EQ(ResolvePath("/"), "/");
  EXPECT_EQ(ResolvePath("x/y"), (std::filesystem::current_path() / "x/y").string());
}

TEST(NodeCompatTest, HomeIsExpandedOnlyAtTheStart) {
  const char* old = std::getenv("HOME");
  std::string saved = old != nullptr ? old : "";
  ::setenv("HOME", "/home/someone/", 1);
  EXPECT_EQ(ExpandHome("~"), "/home/someone");
  EXPECT_EQ(ExpandHome("~/docs/../x"), "/home/someone/x");
  EXPECT_EQ(ExpandHome("/a/~/b"), "/a/~/b");
  EXPECT_EQ(ExpandHome("~other"), "~other");
  if (old != nullptr) {
    ::setenv("HOME", saved.c_str(), 1);
  } else {
    ::unsetenv("HOME");
  }
}

TEST(NodeCompatTest, WithinAllowedIsByWholeComponents) {
  const std::vector<std::string> allowed = {"/srv/data", ""};
  EXPECT_TRUE(WithinAllowed("/srv/data", allowed));
  EXPECT_TRUE(WithinAllowed("/srv/data/x/y", allowed));
  EXPECT_TRUE(WithinAllowed("/srv/data/x/../y", allowed));
  EXPECT_FALSE(WithinAllowed("/srv/database", allowed));
  EXPECT_FALSE(WithinAllowed("/srv/data/../other", allowed));
  EXPECT_FALSE(WithinAllowed("", allowed));
  EXPECT_FALSE(WithinAllowed(std::string("/srv/data/a\0b", 13), allowed));
  EXPECT_TRUE(WithinAllowed("/anything", {"/"}));
}

TEST(NodeCompatTest, DatesReadAsJavaScriptsToString) {
  const char* old = std::getenv("TZ");
  std::string saved = old != nullptr ? old : "";
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(JsDate(timespec{1796109360, 0}),
            "Tue Dec 01 2026 07:16:00 GMT+0000 (Coordinated Universal Time)");
  if (old != nullptr) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(NodeCompatTest, ReplaceFirstExpandsDollarPatterns) {
  EXPECT_EQ(JsReplaceFirst("a-b-b", "b", "c"), "a-c-b");
  EXPECT_EQ(JsReplaceFirst("abc", "b", "[$&]"), "a[b]c");
  EXPECT_EQ(JsReplaceFirst("abc", "b", "$`$'"), "aacc");
  EXPECT_EQ(JsReplaceFirst("abc", "b", "$$1"), "a$1c");
  EXPECT_EQ(JsReplaceFirst("abc", "x", "y"), "abc");
  EXPECT_EQ(JsReplaceFirst("abc", "c", "$"), "ab$");
}

TEST(NodeCompatTest, TrimAndSizes) {
  EXPECT_EQ(JsTrim(" \t x y \r\n"), "x y");
  EXPECT_EQ(JsTrim(" \f\v "), "");
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
  EXPECT_EQ(FormatSize(1536), "1.50 KB");
  EXPECT_EQ(FormatSize(int64_t{5} << 40), "5.00 TB");
  EXPECT_EQ(FormatSize(int64_t{3} << 50), "3072.00 TB");
}

}  // namespace
}  // namespace naut::envs::fs

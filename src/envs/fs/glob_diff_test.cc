#include <gtest/gtest.h>

#include "envs/fs/glob.h"
#include "envs/fs/unified_diff.h"

namespace naut::envs::fs {
namespace {

TEST(GlobMatch, MinimatchSemantics) {
  EXPECT_TRUE(GlobMatch("*.txt", "a.txt"));
  EXPECT_FALSE(GlobMatch("*.txt", "sub/a.txt"));
  EXPECT_TRUE(GlobMatch("**/*.txt", "sub/deep/a.txt"));
  EXPECT_TRUE(GlobMatch("**/*.txt", "a.txt"));
  EXPECT_TRUE(GlobMatch("*.txt", ".hidden.txt"));  // dot: true
  EXPECT_TRUE(GlobMatch("sub/**", "sub/x/y"));
  EXPECT_TRUE(GlobMatch("file?.c", "file1.c"));
  EXPECT_FALSE(GlobMatch("file?.c", "file10.c"));
  EXPECT_TRUE(GlobMatch("*.{c,h}", "x.h"));
  EXPECT_FALSE(GlobMatch("*.{c,h}", "x.cc"));
  EXPECT_TRUE(GlobMatch("[a-c]*", "beta"));
  EXPECT_FALSE(GlobMatch("[!a-c]*", "beta"));
  EXPECT_TRUE(GlobMatch("node_modules", "node_modules"));
  EXPECT_FALSE(GlobMatch("node_modules", "src/node_modules"));
  EXPECT_TRUE(GlobMatch("**/node_modules/**", "src/node_modules/x/y.js"));
}

TEST(UnifiedDiff, MatchesJsdiffFormat) {
  std::string diff = UnifiedDiff("a\nb\nc\n", "a\nB\nc\n", "/x/f.txt");
  EXPECT_EQ(diff,
            "Index: /x/f.txt\n"
            "===================================================================\n"
            "--- /x/f.txt\toriginal\n"
            "+++ /x/f.txt\tmodified\n"
            "@@ -1,3 +1,3 @@\n"
            " a\n"
            "-b\n"
            "+B\n"
            " c\n");
}

TEST(UnifiedDiff, NoNewlineAtEndAndSeparateHunks) {
  std::string diff = UnifiedDiff("a\nb", "a\nc", "f");
  EXPECT_NE(diff.find("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"),
            std::string::npos)
      << diff;
  std::string old_text, new_text;
  for (int i = 0; i < 30; ++i) {
    old_text += "line" + std::to_string(i) + "\n";
    new_text += (i == 2 || i == 25 ? "changed" : "line") + std::to_string(i) + "\n";
  }
  diff = UnifiedDiff(old_text, new_text, "f");
  EXPECT_NE(diff.find("@@ -1,7 +1,7 @@\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("@@ -22,9 +22,9 @@\n"), std::string::npos) << diff;
  EXPECT_EQ(UnifiedDiff("same\n", "same\n", "f"),
            "Index: f\n===================================================================\n--- "
            "f\toriginal\n+++ f\tmodified\n");
}

}  // namespace
}  // namespace naut::envs::fs

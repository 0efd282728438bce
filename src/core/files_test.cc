#include "core/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/data_home.h"
#include "core/ids.h"

namespace naut {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-files-" + NewId());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FilesTest, AtomicWriteReplacesContent) {
  fs::path p = dir_ / "a.txt";
  ASSERT_TRUE(WriteFileAtomic(p, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(p, "two").ok());
  EXPECT_EQ(*ReadFile(p), "two");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FilesTest, ReadMissingFileIsNotFound) {
  auto r = ReadFile(dir_ / "nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);
}

TEST_F(FilesTest, DataHomeIsCreatedPrivate) {
  auto home = OpenDataHome(dir_ / "home" / "nested");
  ASSERT_TRUE(home) << home.error().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(home->root.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(fs::is_directory(home->skills_dir()));
  EXPECT_TRUE(fs::is_directory(home->runs_dir()));
  EXPECT_TRUE(fs::is_directory(home->logs_dir()));
}

TEST_F(FilesTest, DataHomeOverAFileIsRefused) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "file", "x").ok());
  auto home = OpenDataHome(dir_ / "file");
  ASSERT_FALSE(home);
  EXPECT_NE(home.error().message().find("not a directory"), std::string::npos);
}

}  // namespace
}  // namespace naut

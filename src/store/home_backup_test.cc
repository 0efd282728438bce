#include "store/home_backup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/files.h"
#include "core/home_lock.h"
#include "core/ids.h"
#include "store/db.h"

namespace naut::store {
namespace {

namespace fs = std::filesystem;

constexpr Migration kNotes[] = {
    {1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"},
    {2, "note tags", "ALTER TABLE notes ADD COLUMN tag TEXT"},
};

class HomeBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("naut-backup-" + NewId());
    fs::create_directories(base_ / "outside");
    Put(base_ / "outside" / "host-secret", "host file");
    auto home = OpenDataHome(base_ / "home");
    ASSERT_TRUE(home.ok()) << home.error().ToString();
    home_ = *home;
    auto db = Db::Open(home_.database());
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate("notes", kNotes).ok());
    ASSERT_TRUE(
        db_->Exec("INSERT INTO notes (text, tag) VALUES ('first', 'a'), ('second', 'b')").ok());
    Put(home_.progress_file(), "# Progress\n- [ ] reach level 2 (in progress, attempt 1)\n");
    Put(home_.skills_dir() / "open_shop.py", "def open_shop():\n    pass\n");
    Put(home_.root / "rpg" / "state.json", "{\"level\": 1}");
    Put(home_.logs_dir() / "neuronaut.log", "a log line\n");
    Put(home_.root / "index" / "memory.hnsw", "derived");
    Put(home_.root / "workspaces" / "w1" / "main.py", "print(1)\n");
    // What sandboxed code may leave in a workspace: a link out of the home, a FIFO.
    fs::create_directory_symlink(base_ / "outside", home_.root / "workspaces" / "w1" / "out");
    ASSERT_EQ(mkfifo((home_.root / "workspaces" / "w1" / "pipe").c_str(), 0600), 0);
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(base_);
  }
  static void Put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  static std::string Get(const fs::path& p) {
    auto t = ReadFile(p);
    return t ? *t : "<" + t.error().message() + ">";
  }

  fs::path base_;
  DataHome home_;
  std::unique_ptr<Db> db_;  // held open, as a running agent holds it
};

TEST_F(HomeBackupTest, BackupAndRestoreIntoAnEmptyHomeKeepsEverything) {
  auto backup = BackupHome(home_, base_ / "bk");
  ASSERT_TRUE(backup.ok()) << backup.error().ToString();
  EXPECT_EQ(backup->schema.at("notes"), 2);
  ASSERT_EQ(backup->skipped.size(), 1u);
  EXPECT_NE(backup->skipped[0].find("workspaces/w1/pipe"), std::string::npos);
  EXPECT_TRUE(fs::exists(base_ / "bk" / "backup.json"));
  EXPECT_FALSE(fs::exists(base_ / "bk" / "logs"));
  EXPECT_FALSE(fs::exists(base_ / "bk" / "index"));
  // The link was copied as a link, never followed.
  EXPECT_TRUE(fs::is_symlink(base_ / "bk" / "workspaces" / "w1" / "out"));
  EXPECT_FALSE(fs::exists(base_ / "bk" / "workspaces" / "w1" / "out" / "host-secret") &&
               !fs::is_symlink(base_ / "bk" / "workspaces" / "w1" / "out"));

  DataHome fresh{base_ / "restored"};
  auto restored = RestoreHome(base_ / "bk", fresh);
  ASSERT_TRUE(restored.ok()) << restored.error().ToString();
  EXPECT_EQ(Get(fresh.progress_file()), Get(home_.progress_file()));
  EXPECT_EQ(Get(fresh.skills_dir() / "open_shop.py"), Get(home_.skills_dir() / "open_shop.py"));
  EXPECT_EQ(Get(fresh.root / "rpg" / "state.json"), "{\"level\": 1}");
  EXPECT_EQ(fs::read_symlink(fresh.root / "workspaces" / "w1" / "out"), base_ / "outside");
  auto db = Db::Open(fresh.database());
  ASSERT_TRUE(db.ok()) << db.error().ToString();
  EXPECT_EQ(*(*db)->SchemaVersion("notes"), 2);
  auto q = (*db)->Prepare("SELECT group_concat(text || ':' || tag, ',') FROM notes");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnText(0), "first:a,second:b");
}

TEST_F(HomeBackupTest, ABackupNeverOverwritesAndLeavesNothingHalfWritten) {
  fs::create_directories(base_ / "taken");
  auto r = BackupHome(home_, base_ / "taken");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("already exists"), std::string::npos);
  auto inside = BackupHome(home_, home_.root / "bk");
  EXPECT_FALSE(inside.ok());
  // A failed copy (an unreadable folder makes it fail midway) leaves no partial directory.
  if (geteuid() != 0) {
    fs::permissions(home_.skills_dir(), fs::perms::none);
    EXPECT_FALSE(BackupHome(home_, base_ / "bad").ok());
    fs::permissions(home_.skills_dir(), fs::perms::owner_all);
  }
  for (const auto& e : fs::directory_iterator(base_))
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
}

TEST_F(HomeBackupTest, RestoreRefusesAFullHomeADamagedDatabaseAndANonBackup) {
  ASSERT_TRUE(BackupHome(home_, base_ / "bk").ok());

  auto full = RestoreHome(base_ / "bk", home_);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message().find("not empty"), std::string::npos) << full.error().message();
  EXPECT_EQ(Get(home_.progress_file()).find("# Progress"), 0u) << "the full home was touched";

  EXPECT_FALSE(RestoreHome(base_ / "outside", DataHome{base_ / "r1"}).ok());

  // A damaged database stops the restore before anything is written.
  {
    std::fstream f(base_ / "bk" / "neuronaut.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    std::string junk(8000, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  DataHome target{base_ / "r2"};
  auto damaged = RestoreHome(base_ / "bk", target);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.error().message().find("damaged"), std::string::npos)
      << damaged.error().message();
  EXPECT_FALSE(fs::exists(target.progress_file()));
}

TEST_F(HomeBackupTest, RestoreRefusesAHomeWhoseAgentIsRunning) {
  ASSERT_TRUE(BackupHome(home_, base_ / "bk").ok());
  auto target = OpenDataHome(base_ / "busy");
  ASSERT_TRUE(target.ok());
  auto lock = HomeLock::Acquire(*target, "run-x", "neuronaut run");
  ASSERT_TRUE(lock.ok());
  auto r = RestoreHome(base_ / "bk", *target);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("run-x"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace naut::store

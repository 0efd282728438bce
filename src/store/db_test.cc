#include "store/db.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.h"

namespace naut::store {
namespace {

namespace fs = std::filesystem;

constexpr Migration kV1[] = {
    {1, "notes table", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"},
};
constexpr Migration kV2[] = {
    {1, "notes table", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"},
    {2, "note tags", "ALTER TABLE notes ADD COLUMN tag TEXT"},
};

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-db-" + NewId());
    fs::create_directories(dir_);
    path_ = dir_ / "test.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Db> OpenOk() {
    auto db = Db::Open(path_);
    EXPECT_TRUE(db) << db.error().ToString();
    return db ? std::move(db).value() : nullptr;
  }

  fs::path dir_, path_;
};

TEST_F(DbTest, MigrationsApplyOnceAndReopenIsIdempotent) {
  {
    auto db = OpenOk();
    ASSERT_TRUE(db->Migrate("notes", kV1).ok());
    EXPECT_EQ(*db->SchemaVersion("notes"), 1);
    ASSERT_TRUE(db->Exec("INSERT INTO notes (text) VALUES ('kept')").ok());
  }
  {
    auto db = OpenOk();
    ASSERT_TRUE(db->Migrate("notes", kV1).ok());  // nothing to do; the table is not recreated
    ASSERT_TRUE(db->Migrate("notes", kV2).ok());
    EXPECT_EQ(*db->SchemaVersion("notes"), 2);
    auto q = db->Prepare("SELECT COUNT(*) FROM schema_migrations WHERE component = 'notes'");
    ASSERT_TRUE(q);
    ASSERT_TRUE(*q->Step());
    EXPECT_EQ(q->ColumnInt(0), 2);
    auto t = db->Prepare("SELECT text, tag FROM notes");
    ASSERT_TRUE(*t->Step());
    EXPECT_EQ(t->ColumnText(0), "kept");
    EXPECT_TRUE(t->ColumnIsNull(1));
  }
}

TEST_F(DbTest, NewerSchemaIsRefusedWithClearMessage) {
  {
    auto db = OpenOk();
    ASSERT_TRUE(db->Migrate("notes", kV2).ok());
  }
  auto db = OpenOk();
  Status s = db->Migrate("notes", kV1);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(
      s.message().find("'notes' is at schema version 2, but this neuronaut knows versions up to 1"),
      std::string::npos)
      << s.message();
}

TEST_F(DbTest, ComponentsMigrateIndependently) {
  auto db = OpenOk();
  constexpr Migration other[] = {{1, "t", "CREATE TABLE other (x)"}};
  ASSERT_TRUE(db->Migrate("notes", kV2).ok());
  ASSERT_TRUE(db->Migrate("other", other).ok());
  EXPECT_EQ(*db->SchemaVersion("other"), 1);
}

TEST_F(DbTest, FailedMigrationRollsBackAndNamesItself) {
  auto db = OpenOk();
  constexpr Migration bad[] = {{1, "broken", "CREATE TABLE a (x); CREATE TABLEX b"}};
  Status s = db->Migrate("bad", bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("migration bad #1 (broken)"), std::string::npos) << s.message();
  EXPECT_EQ(*db->SchemaVersion("bad"), 0);
  EXPECT_FALSE(db->Prepare("SELECT * FROM a"));  // rolled back
}

TEST_F(DbTest, TruncatedFileIsReportedNotCrashedOn) {
  {
    auto db = OpenOk();
    ASSERT_TRUE(db->Migrate("notes", kV1).ok());
    auto tx = db->Begin();
    ASSERT_TRUE(tx);
    for (int i = 0; i < 2000; ++i) {
      auto ins = db->Prepare("INSERT INTO notes (text) VALUES (?)");
      ins->Bind(1, std::string(200, 'x') + std::to_string(i));
      ASSERT_TRUE(ins->Run().ok());
    }
    ASSERT_TRUE(tx->Commit().ok());
    ASSERT_TRUE(db->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  }
  auto size = fs::file_size(path_);
  fs::resize_file(path_, size / 2);
  auto db = Db::Open(path_);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), Code::kDataLoss);
  EXPECT_NE(db.error().message().find(path_.string()), std::string::npos) << db.error().message();
}

TEST_F(DbTest, ForeignFileIsReported) {
  std::ofstream(path_) << "this is not a database, but it is long enough to have a header...."
                       << std::string(200, 'z');
  auto db = Db::Open(path_);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), Code::kDataLoss);
  EXPECT_NE(db.error().message().find("not a database"), std::string::npos) << db.error().message();
}

TEST_F(DbTest, TransactionRollsBackUnlessCommitted) {
  auto db = OpenOk();
  ASSERT_TRUE(db->Migrate("notes", kV1).ok());
  {
    auto tx = db->Begin();
    ASSERT_TRUE(db->Exec("INSERT INTO notes (text) VALUES ('lost')").ok());
  }
  auto q = db->Prepare("SELECT COUNT(*) FROM notes");
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnInt(0), 0);
}

TEST_F(DbTest, WalModeAndBackup) {
  auto db = OpenOk();
  auto q = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnText(0), "wal");
  q->Reset();
  Status m = db->Migrate("notes", kV1);
  ASSERT_TRUE(m.ok()) << m.ToString();
  ASSERT_TRUE(db->Exec("INSERT INTO notes (text) VALUES ('b')").ok());
  ASSERT_TRUE(db->Backup(dir_ / "copy.db").ok());
  auto copy = Db::Open(dir_ / "copy.db");
  ASSERT_TRUE(copy);
  auto c = (*copy)->Prepare("SELECT text FROM notes");
  ASSERT_TRUE(*c->Step());
  EXPECT_EQ(c->ColumnText(0), "b");
}

TEST_F(DbTest, BadSqlNamesTheStatement) {
  auto db = OpenOk();
  auto q = db->Prepare("SELEC 1");
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message().find("SELEC 1"), std::string::npos);
}

TEST_F(DbTest, UnwritableLocationIsPermissionError) {
  auto db = Db::Open(dir_ / "no" / "such" / "dir" / "x.db");
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), Code::kPermissionDenied);
}

}  // namespace
}  // namespace naut::store

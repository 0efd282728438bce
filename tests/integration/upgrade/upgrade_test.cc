// Upgrades without loss. For every schema neuronaut.db has had (tests/fixtures/schema/*.sql:
// the DDL as each version wrote it, and the rows a few runs leave), a data home holding such a
// database is opened by the current `neuronaut` as a user would (runs, skills and memory
// commands). Every row is still there, runs, skills and memories read back, the schema is now
// the same as a new home's, and the newest fixture is at the current versions, so that adding a
// migration without a fixture of the schema it leaves behind fails here.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "core/files.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "memory/embedder.h"
#include "store/db.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kFixtures = fs::path(NAUT_SOURCE_DIR) / "tests/fixtures/schema";

using Versions = std::map<std::string, int>;

struct Fixture {
  fs::path sql;
  Versions versions;  // from its "-- versions: agent=1 memory=1" line
};

std::vector<Fixture> Fixtures() {
  std::vector<Fixture> out;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (entry.path().extension() != ".sql") continue;
    Fixture f{entry.path(), {}};
    auto text = ReadFile(entry.path());
    std::smatch line;
    if (text && std::regex_search(*text, line, std::regex("-- versions:([^\\n]*)"))) {
      std::string rest = line[1];
      std::regex pair("(\\w+)=(\\d+)");
      for (auto it = std::sregex_iterator(rest.begin(), rest.end(), pair);
           it != std::sregex_iterator(); ++it) {
        f.versions[(*it)[1]] = std::stoi((*it)[2]);
      }
    }
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const Fixture& a, const Fixture& b) { return a.sql.filename() < b.sql.filename(); });
  return out;
}

std::vector<std::string> Column(store::Db& db, const std::string& sql) {
  std::vector<std::string> out;
  auto q = db.Prepare(sql);
  EXPECT_TRUE(q.ok()) << sql << ": " << q.error().ToString();
  if (!q.ok()) return out;
  while (true) {
    auto row = q->Step();
    EXPECT_TRUE(row.ok()) << sql << ": " << row.error().ToString();
    if (!row.ok() || !*row) break;
    out.push_back(q->ColumnText(0));
  }
  return out;
}

// The tables a database holds (FTS5's own shadow tables aside: they follow their table).
std::vector<std::string> Tables(store::Db& db) {
  return Column(db,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'memory_fts_%' ORDER BY name");
}

// Every row of `table`, each as the SQL literals of the columns it has in `columns_from`.
std::vector<std::string> Rows(store::Db& db, const std::string& table,
                              const std::vector<std::string>& columns) {
  std::string expr;
  for (const auto& c : columns) expr += (expr.empty() ? "" : " || ',' || ") + ("quote(" + c + ")");
  return Column(db, "SELECT " + expr + " FROM " + table + " ORDER BY 1");
}

std::vector<std::string> ColumnsOf(store::Db& db, const std::string& table) {
  return Column(db, "SELECT name FROM pragma_table_info('" + table + "')");
}

// The schema as a set of (type, name, SQL with its whitespace normalised): the fixtures keep the
// DDL's words, not every line break of the string literals it came from.
std::set<std::string> Schema(store::Db& db) {
  std::set<std::string> out;
  for (auto& s :
       Column(db,
              "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master "
              "WHERE name NOT LIKE 'sqlite_%'")) {
    s = std::regex_replace(s, std::regex("\\s+"), " ");
    s = std::regex_replace(s, std::regex(" ?([(),]) ?"), "$1");
    out.insert(s);
  }
  return out;
}

Versions VersionsOf(store::Db& db) {
  Versions v;
  for (const auto& row : Column(
           db,
           "SELECT component || '=' || MAX(version) FROM schema_migrations GROUP BY component")) {
    v[row.substr(0, row.find('='))] = std::stoi(row.substr(row.find('=') + 1));
  }
  return v;
}

class UpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("naut-upgrade-" + NewId());
    fs::create_directories(root_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }

  CommandResult Run(const fs::path& home, std::vector<std::string> args) {
    args.insert(args.begin(), NAUT_CLI);
    auto r = RunCommand({.argv = args, .env = {{"NEURONAUT_HOME", home.string()}}}, "", 60s);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : CommandResult{};
  }

  // What opens every part of the database, as a user's first commands after an upgrade do.
  void OpenEverything(const fs::path& home) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"runs", "list"}, {"memory", "status"}, {"skills", "list"}}) {
      auto r = Run(home, args);
      EXPECT_EQ(r.status.exit_code, 0) << args[0] << " " << args[1] << ": " << r.out << r.err;
    }
  }

  // A home whose database is built from `fixture` the way that version left it; memory vectors
  // are the hashing-v1 embeddings of their texts (what NeuroNaut stored; README of the fixtures).
  fs::path HomeFrom(const Fixture& fixture) {
    fs::path home = root_ / fixture.sql.stem();
    fs::create_directories(home);
    auto db = store::Db::Open(home / "neuronaut.db");
    EXPECT_TRUE(db.ok()) << db.error().ToString();
    auto sql = ReadFile(fixture.sql);
    EXPECT_TRUE(sql.ok());
    Status built = (*db)->Exec(*sql);
    EXPECT_TRUE(built.ok()) << fixture.sql.filename() << ": " << built.ToString();
    auto tables = Tables(**db);
    if (std::find(tables.begin(), tables.end(), "memory_items") != tables.end()) {
      memory::HashingEmbedder embedder(512);
      auto q = (*db)->Prepare("SELECT id, text FROM memory_items");
      std::vector<std::pair<int64_t, std::string>> items;
      while (q.ok() && q->Step().value_or(false))
        items.emplace_back(q->ColumnInt(0), q->ColumnText(1));
      for (const auto& [id, text] : items) {
        memory::Vector v = embedder.EmbedText(text);
        auto up = (*db)->Prepare("UPDATE memory_items SET embedding = ? WHERE id = ?");
        up->BindBlob(1, v.data(), v.size() * sizeof(float)).Bind(2, id);
        EXPECT_TRUE(up->Run().ok());
      }
    }
    return home;
  }

  fs::path root_;
};

TEST_F(UpgradeTest, EveryEarlierSchemaOpensWithNothingLost) {
  auto fixtures = Fixtures();
  ASSERT_GE(fixtures.size(), 3u) << "fixtures in " << kFixtures;

  fs::path fresh = root_ / "fresh";
  OpenEverything(fresh);
  auto fresh_db = store::Db::Open(fresh / "neuronaut.db");
  ASSERT_TRUE(fresh_db.ok());
  const std::set<std::string> current_schema = Schema(**fresh_db);
  const Versions current = VersionsOf(**fresh_db);

  for (const auto& fixture : fixtures) {
    SCOPED_TRACE(fixture.sql.filename().string());
    ASSERT_FALSE(fixture.versions.empty()) << "no '-- versions:' line";
    fs::path home = HomeFrom(fixture);
    // What the old version left, table by table, in the columns it had.
    std::map<std::string, std::vector<std::string>> columns, before;
    {
      auto db = store::Db::Open(home / "neuronaut.db");
      ASSERT_TRUE(db.ok());
      EXPECT_EQ(VersionsOf(**db), fixture.versions);
      for (const auto& t : Tables(**db)) {
        columns[t] = ColumnsOf(**db, t);
        before[t] = Rows(**db, t, columns[t]);
      }
    }

    OpenEverything(home);

    auto db = store::Db::Open(home / "neuronaut.db");
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(VersionsOf(**db), current);
    EXPECT_EQ(Schema(**db), current_schema) << "the upgraded schema differs from a new home's";
    for (const auto& [table, rows] : before) {
      auto after = Rows(**db, table, columns[table]);
      if (table == "schema_migrations") {  // the new versions are added
        for (const auto& r : rows)
          EXPECT_NE(std::find(after.begin(), after.end(), r), after.end()) << r;
      } else {
        EXPECT_EQ(after, rows) << "table " << table << " changed";
      }
    }

    // What a user sees of it.
    auto runs = Run(home, {"runs", "list"});
    EXPECT_NE(runs.out.find("20261126T060000Z-0a1b2c3d"), std::string::npos) << runs.out;
    EXPECT_NE(runs.out.find("interrupted"), std::string::npos) << runs.out;  // the killed one
    auto show = Run(home, {"runs", "show", "20261126T070000Z"});
    EXPECT_NE(show.out.find("reach the cave"), std::string::npos) << show.out << show.err;
    if (!fixture.versions.count("skills")) continue;
    auto skills = Run(home, {"skills", "show", "greet_bot"});
    EXPECT_EQ(skills.status.exit_code, 0) << skills.err;
    EXPECT_NE(skills.out.find("tools.rpg.send_message"), std::string::npos) << skills.out;
    auto file = ReadFile(home / "skills" / "greet_bot.py");
    ASSERT_TRUE(file.ok()) << "the skill's file was not written back";
    EXPECT_NE(file->find("def greet_bot"), std::string::npos);
    if (fixture.versions.at("skills") >= 2) {  // a retired skill stays listed as such
      auto listed = Run(home, {"skills", "list"});
      EXPECT_NE(listed.out.find("hunt_slime v1 (retired: failed 3 times in a row)"),
                std::string::npos)
          << listed.out;
      EXPECT_NE(listed.out.find("last error: KeyError: 'hp'"), std::string::npos) << listed.out;
    }
    if (fixture.versions.at("skills") >= 3) {  // a draft says why its check failed
      auto listed = Run(home, {"skills", "list"});
      EXPECT_NE(listed.out.find("open_shop v1 (draft)"), std::string::npos) << listed.out;
      EXPECT_NE(listed.out.find("check failed: check_goal(visit_shop): not achieved"),
                std::string::npos)
          << listed.out;
    }
    if (fixture.versions.at("skills") >= 4) {  // a consolidated skill keeps its sources and case
      auto listed = Run(home, {"skills", "list", "--all"});
      EXPECT_NE(listed.out.find("buy_potion v1 (merged into buy_item) (verified)"),
                std::string::npos)
          << listed.out;
      auto shown = Run(home, {"skills", "show", "buy_item"});
      EXPECT_NE(shown.out.find("buy_item(\"Potion\") for \"Buy a potion at the market\""),
                std::string::npos)
          << shown.out;
    }
    if (fixture.versions.at("memory") >= 2) {  // a reflection keeps its importance and sources
      auto lesson = Run(home, {"memory", "search", "HP potion inn", "--kind", "reflection"});
      EXPECT_NE(lesson.out.find("importance 8 from #1"), std::string::npos) << lesson.out;
    }
    auto found = Run(home, {"memory", "search", "goblin innkeeper tavern"});
    EXPECT_EQ(found.status.exit_code, 0) << found.err;
    EXPECT_NE(found.out.find("greeted the player in the tavern"), std::string::npos) << found.out;
  }

  // The newest fixture is the current schema: a new migration needs a fixture of its own.
  EXPECT_EQ(fixtures.back().versions, current)
      << "the schema moved on (see " << (kFixtures / "README.md").string()
      << "): add a fixture of the current schema, so that the next version is tested upgrading "
         "from it";
}

// A database from a newer NeuroNaut is refused by name, and left as it was.
TEST_F(UpgradeTest, ANewerSchemaIsRefusedAndLeftAlone) {
  Fixture newest = Fixtures().back();
  fs::path home = HomeFrom(newest);
  {
    auto db = store::Db::Open(home / "neuronaut.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec("INSERT INTO schema_migrations VALUES ('agent', 99, 'from the future', "
                           "'2030-01-01T00:00:00Z')")
                    .ok());
  }
  auto r = Run(home, {"runs", "list"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("newer NeuroNaut"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("neuronaut.db"), std::string::npos) << r.err;
  auto db = store::Db::Open(home / "neuronaut.db");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(VersionsOf(**db)["agent"], 99);
}

}  // namespace
}  // namespace naut

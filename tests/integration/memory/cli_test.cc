// `neuronaut memory ...` and `neuronaut skills ...` started as real processes.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <random>
#include <thread>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"
#include "memory/memory_store.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class MemoryCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("naut-memcli-" + NewId());
    home_ = root_ / "home";
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  SpawnOptions Options(std::vector<std::string> args) {
    args.insert(args.begin(), NAUT_CLI);
    return {.argv = args,
            .env = {{"NEURONAUT_HOME", home_.string()}, {"LLM_BASE_URL", "http://127.0.0.1:1"}}};
  }
  CommandResult Run(std::vector<std::string> args) {
    auto r = RunCommand(Options(std::move(args)), "", 120s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }
  fs::path Write(const std::string& name, const std::string& text) {
    std::ofstream(root_ / name) << text;
    return root_ / name;
  }

  fs::path root_, home_;
};

TEST_F(MemoryCliTest, AddSearchAndEmbedderSwitch) {
  auto a = Run({"memory", "add", "The Hunt button pays gold", "--env", "rpg", "--tag", "combat"});
  ASSERT_EQ(a.status.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, "1\n");
  auto b = Run({"memory", "add", "--kind", "episode", "--task", "rest", "--outcome", "success"});
  ASSERT_EQ(b.status.exit_code, 0) << b.err;
  auto s = Run({"memory", "search", "gold from hunting", "--json", "-k", "1"});
  ASSERT_EQ(s.status.exit_code, 0) << s.err;
  auto hits = ParseJson(s.out, "search output");
  ASSERT_TRUE(hits) << s.out;
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0]["id"], 1);
  EXPECT_EQ((*hits)[0]["environment"], "rpg");
  auto bad = Run({"memory", "add", "x", "--kind", "nonsense"});
  EXPECT_EQ(bad.status.exit_code, 1);
  EXPECT_NE(bad.err.find("not one of episode"), std::string::npos) << bad.err;

  // Another embedder dimension: refused with the way out, until reindex.
  auto mixed = Run({"--set", "embeddings.dim=128", "memory", "search", "gold"});
  EXPECT_EQ(mixed.status.exit_code, 1);
  EXPECT_NE(mixed.err.find("neuronaut memory reindex"), std::string::npos) << mixed.err;
  auto re = Run({"--set", "embeddings.dim=128", "memory", "reindex"});
  ASSERT_EQ(re.status.exit_code, 0) << re.err;
  EXPECT_NE(re.out.find("reindexed 2 memories with hashing-v1 (dim 128)"), std::string::npos);
  auto after = Run({"--set", "embeddings.dim=128", "memory", "search", "gold"});
  EXPECT_EQ(after.status.exit_code, 0) << after.err;
  EXPECT_NE(after.out.find("The Hunt button pays gold"), std::string::npos);
}

TEST_F(MemoryCliTest, CorruptIndexFileIsRebuiltByTheNextCommand) {
  ASSERT_EQ(Run({"memory", "add", "alpha apples"}).status.exit_code, 0);
  ASSERT_EQ(Run({"memory", "add", "beta bananas"}).status.exit_code, 0);
  ASSERT_TRUE(WriteFileAtomic(home_ / "index/memory.hnsw", "not an index at all").ok());
  auto st = Run({"memory", "status"});
  ASSERT_EQ(st.status.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("index: 2 vectors"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("rebuilt now"), std::string::npos) << st.out;
  auto s = Run({"memory", "search", "bananas", "--mode", "vector", "-k", "1"});
  EXPECT_NE(s.out.find("beta bananas"), std::string::npos) << s.out;
}

TEST_F(MemoryCliTest, KilledAddCommandsLoseNoCommittedRecord) {
  std::mt19937 rng(7);
  std::vector<std::pair<int64_t, std::string>> committed;
  for (int i = 0; i < 24; ++i) {
    std::string text = "note " + std::to_string(i) + " about kiwis";
    auto p = Subprocess::Spawn(Options({"memory", "add", text}));
    ASSERT_TRUE(p) << p.error().ToString();
    // Kill every other writer after a random short delay: before, during or after its commit.
    if (i % 2 == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 80));
      (*p)->Signal(SIGKILL);
    }
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read((*p)->stdout_fd(), buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    auto status = (*p)->Wait();
    if (status.success()) committed.emplace_back(std::stoll(out), text);
  }
  ASSERT_GE(committed.size(), 12u);
  auto store = memory::MemoryStore::Open(home_ / "neuronaut.db",
                                         std::make_unique<memory::HashingEmbedder>(512),
                                         {.index_dir = home_ / "index"});
  ASSERT_TRUE(store) << store.error().ToString();
  for (const auto& [id, text] : committed) {
    auto m = (*store)->Get(id);
    ASSERT_TRUE(m) << "committed " << id << " lost";
    EXPECT_EQ(m->text, text);
  }
  auto index = (*store)->Index();
  ASSERT_TRUE(index) << index.error().ToString();
  auto q = (*store)->db().Prepare("SELECT id FROM memory_items WHERE deleted = 0 ORDER BY id");
  std::vector<int64_t> ids;
  while (*q->Step()) ids.push_back(q->ColumnInt(0));
  EXPECT_EQ((*index)->Ids(), ids);
}

TEST_F(MemoryCliTest, SkillsLifecycle) {
  auto v1 = Write("hunt.py", R"py(import tools

def hunt_monster(chat_id: int):
    """Press Hunt once in the game chat."""
    return tools.rpg__press_inline_button(chat_id=chat_id, button_text="Hunt")
)py");
  auto add = Run({"skills", "add", v1.string(), "--env", "rpg"});
  ASSERT_EQ(add.status.exit_code, 0) << add.err;
  EXPECT_EQ(add.out, "stored hunt_monster v1\n");
  auto v2 = Write("hunt2.py", R"py(import tools

def hunt_monster(chat_id: int, times: int = 2):
    """Press Hunt `times` times in the game chat."""
    for _ in range(times):
        tools.rpg__press_inline_button(chat_id=chat_id, button_text="Hunt")
)py");
  add = Run({"skills", "add", v2.string(), "--env", "rpg"});
  EXPECT_EQ(add.out, "stored hunt_monster v2 (supersedes v1)\n") << add.err;
  EXPECT_TRUE(fs::exists(home_ / "skills/hunt_monster.py"));

  auto bad = Write("bad.py", "import subprocess\n\ndef run():\n    '''x'''\n");
  auto refused = Run({"skills", "add", bad.string()});
  EXPECT_EQ(refused.status.exit_code, 1);
  EXPECT_NE(refused.err.find("import of 'subprocess' is not allowed"), std::string::npos)
      << refused.err;

  auto list = Run({"skills", "list", "--all", "--json"});
  auto listed = ParseJson(list.out, "list");
  ASSERT_TRUE(listed) << list.out;
  EXPECT_EQ(listed->size(), 2u);
  auto show = Run({"skills", "show", "hunt_monster"});
  EXPECT_NE(show.out.find("signature: hunt_monster(chat_id: int, times: int = 2)"),
            std::string::npos)
      << show.out;
  auto search = Run({"skills", "search", "fight in the game chat", "--env", "rpg"});
  EXPECT_NE(search.out.find("hunt_monster v2"), std::string::npos) << search.out;

  auto bundle = root_ / "bundle.json";
  ASSERT_EQ(Run({"skills", "export", "-o", bundle.string()}).status.exit_code, 0);
  auto rm = Run({"skills", "rm", "hunt_monster"});
  EXPECT_EQ(rm.status.exit_code, 0) << rm.err;
  EXPECT_FALSE(fs::exists(home_ / "skills/hunt_monster.py"));
  EXPECT_EQ(Run({"skills", "show", "hunt_monster"}).status.exit_code, 1);
  auto imp = Run({"skills", "import", bundle.string()});
  EXPECT_EQ(imp.status.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.out, "added hunt_monster\n");
  EXPECT_TRUE(fs::exists(home_ / "skills/hunt_monster.py"));
  auto garbage = Write("garbage.json", "{\"format\": 3");
  EXPECT_EQ(Run({"skills", "import", garbage.string()}).status.exit_code, 1);
}

}  // namespace
}  // namespace naut

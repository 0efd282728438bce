// The embedded engine as the memory's embedder, with the real embedding model
// (models/all-MiniLM-L6-v2-F32.gguf, which scripts/embed_model.sh makes; the tests skip,
// saying so, when it is absent): its contract, and how much better it retrieves than the
// hashing embedder when a query says the same thing as a memory in other words.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "memory/embedder.h"

namespace naut::memory {
namespace {

const std::string kModel = NAUT_SOURCE_DIR "/models/all-MiniLM-L6-v2-F32.gguf";

#define NEED_MODEL()                    \
  if (!std::filesystem::exists(kModel)) \
  GTEST_SKIP() << kModel << " is absent (scripts/embed_model.sh makes it)"

TEST(EngineEmbedder, ConfigErrorsNameWhatIsMissing) {
  Config c;
  c.embeddings.backend = "embedded";
  auto none = MakeEmbedder(c);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), Code::kInvalidArgument);
  EXPECT_NE(none.error().message().find("[embeddings] model"), std::string::npos);
  c.embeddings.model = "/nonexistent/embedder.gguf";
  auto missing = MakeEmbedder(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_NE(missing.error().message().find("/nonexistent/embedder.gguf"), std::string::npos);
}

TEST(EngineEmbedder, UnitVectorsNamedByTheModelFile) {
  NEED_MODEL();
  Config c;
  c.embeddings.backend = "embedded";
  c.embeddings.model = kModel;
  c.llm.threads = 2;
  auto e = MakeEmbedder(c);
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  EXPECT_EQ((*e)->id(), "embedded:all-MiniLM-L6-v2-F32");
  EXPECT_EQ(*(*e)->Dimension(), 384);
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "the hero walks on and on ";
  const std::vector<std::string> texts = {"Hunt monsters for gold.", "", long_text,
                                          "[CLS] markup stays text [SEP]"};
  auto v = (*e)->Embed(texts);
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  ASSERT_EQ(v->size(), texts.size());
  for (const Vector& x : *v) {
    ASSERT_EQ(x.size(), 384u);
    EXPECT_NEAR(Dot(x, x), 1.0f, 1e-4);
  }
  // The same text gives the same vector, alone or in a batch.
  auto one = (*e)->EmbedOne("Hunt monsters for gold.");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, (*v)[0]);
}

// Memories an agent might keep, each with a query that asks for it in other words (few words
// shared). Written for this test.
struct Pair {
  const char* memory;
  const char* query;
};
const Pair kPairs[] = {
    {"The blacksmith in the village repairs broken swords for ten coins.",
     "Where can I get my damaged weapon fixed?"},
    {"Drinking the red potion restores health after a fight.",
     "How do I heal once a battle is over?"},
    {"The inn lets you sleep until morning for five gold.",
     "Is there somewhere to rest overnight?"},
    {"Wolves roam the northern forest after dark.", "Which woods are dangerous at night?"},
    {"The merchant buys animal pelts at a good price.", "Who pays well for hides?"},
    {"Pressing the Hunt button starts a fight with a random monster.",
     "How do I begin combat against a creature?"},
    {"The quest board in the square lists new tasks every day.",
     "Where are today's missions posted?"},
    {"Fishing at the lake gives food but takes a long time.",
     "Catching something to eat by the water is slow."},
    {"The dragon in the mountains is too strong for a level one hero.",
     "A beginner should avoid the huge beast on the peaks."},
    {"Selling the old shield freed space in the backpack.",
     "Getting rid of gear made room in my bag."},
    {"The file config.yaml holds the server port and the log level.",
     "Which settings document says what port to listen on?"},
    {"Running pytest in the project folder executes the unit tests.",
     "How do I check the code works automatically?"},
    {"The script crashed because the input list was empty.",
     "Why did the program fail? It got no items."},
    {"Reading a large file line by line keeps memory use low.",
     "How to process a huge document without running out of RAM?"},
    {"The API refused the request because the token had expired.",
     "Authentication failed: the credential was no longer valid."},
    {"Use git commit to save a snapshot of the changes.", "How do I record my edits in history?"},
    {"The download stopped halfway when the network dropped.",
     "Fetching the data was interrupted by a lost connection."},
    {"Sorting the scores from highest to lowest shows the winner first.",
     "Order the points descending so the champion is at the top."},
    {"The weather tomorrow will be rainy and cold.", "Should I bring an umbrella and a coat?"},
    {"My sister's birthday is on the fourth of July.",
     "When does my sibling celebrate turning a year older?"},
    {"The train to the city leaves every thirty minutes.",
     "How often is there a rail connection downtown?"},
    {"The doctor said to take the pills twice a day with food.",
     "What did the physician say about my medication schedule?"},
    {"The cat knocked the glass off the kitchen table.", "The kitten broke a cup in the kitchen."},
    {"Our team meeting moved from Monday to Wednesday afternoon.",
     "The weekly staff gathering was rescheduled to midweek."},
    {"Boil the pasta for nine minutes in salted water.", "How long should noodles cook?"},
    {"The car needs new tires before winter.",
     "The vehicle's wheels must be replaced before the snow."},
    {"She paid the electricity bill online yesterday.",
     "The power invoice was settled over the internet."},
    {"The museum is closed on Mondays.", "Which day can't I visit the gallery?"},
    {"Planting tomatoes needs a sunny spot and daily watering.",
     "How should I grow this vegetable in my garden?"},
    {"The password must have at least twelve characters.",
     "What is the minimum length for a login secret?"},
};

struct Recall {
  double at1 = 0, at3 = 0;
};

Recall Measure(Embedder& e) {
  std::vector<std::string> memories, queries;
  for (const Pair& p : kPairs) {
    memories.emplace_back(p.memory);
    queries.emplace_back(p.query);
  }
  auto mv = e.Embed(memories);
  auto qv = e.Embed(queries);
  EXPECT_TRUE(mv.ok() && qv.ok());
  if (!mv.ok() || !qv.ok()) return {};
  Recall r;
  for (size_t q = 0; q < queries.size(); ++q) {
    const float target = Dot((*qv)[q], (*mv)[q]);
    int above = 0;  // memories scored above the one the query asks for
    for (size_t m = 0; m < memories.size(); ++m)
      if (m != q && Dot((*qv)[q], (*mv)[m]) >= target) ++above;
    r.at1 += above == 0 ? 1 : 0;
    r.at3 += above < 3 ? 1 : 0;
  }
  r.at1 /= static_cast<double>(queries.size());
  r.at3 /= static_cast<double>(queries.size());
  return r;
}

TEST(EngineEmbedder, RetrievesParaphrasesFarBetterThanHashing) {
  NEED_MODEL();
  auto minilm = EngineEmbedder::Load(kModel, 2);
  ASSERT_TRUE(minilm.ok()) << minilm.error().ToString();
  HashingEmbedder hashing(512);
  const Recall h = Measure(hashing);
  const Recall m = Measure(**minilm);
  std::cout << "recall over " << std::size(kPairs) << " paraphrased queries: hashing @1 " << h.at1
            << " @3 " << h.at3 << "; all-MiniLM-L6-v2 @1 " << m.at1 << " @3 " << m.at3 << "\n";
  testing::Test::RecordProperty("hashing_recall_at_1", std::to_string(h.at1));
  testing::Test::RecordProperty("minilm_recall_at_1", std::to_string(m.at1));
  // Measured: hashing 0.067 @1 (2 of 30), 0.23 @3 (7); MiniLM 0.97 @1 (29), 1.0 @3 (30), a
  // margin of 0.90 and 0.77. Half of it is asked for, so that a small change of either
  // embedder leaves the test standing while a broken model (near hashing or worse) fails it.
  EXPECT_GE(m.at1, h.at1 + 0.45);
  EXPECT_GE(m.at3, h.at3 + 0.38);
}

}  // namespace
}  // namespace naut::memory

#include "agent/trace.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.h"

namespace naut::agent {
namespace {

TEST(TraceTest, EventsAreAppendedAndSummarised) {
  auto dir = std::filesystem::temp_directory_path() / ("naut-trace-" + NewId());
  {
    auto w = TraceWriter::Open(dir, "run-1");
    ASSERT_TRUE(w) << w.error().ToString();
    (*w)->Event("task_start", {{"task", "Reach level 2"}});
    (*w)->Event("round", {{"round", 1}});
    (*w)->Event("model_call", {{"prompt_tokens", 1000},
                               {"cached_tokens", 800},
                               {"completion_tokens", 50},
                               {"latency_ms", 20}});
    (*w)->Event("tool_call",
                {{"tool", "rpg__press_inline_button"}, {"is_error", true}, {"latency_ms", 3}});
    (*w)->Event("task_end", {{"success", true}, {"rounds", 1}});
  }
  // A torn last line, as a kill -9 mid-write would leave.
  std::ofstream(dir / "run-1" / "events.jsonl", std::ios::app) << "{\"type\": \"rou";
  auto s = SummariseTrace(dir / "run-1" / "events.jsonl");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->events, 5);
  EXPECT_EQ(s->skipped_lines, 1);
  EXPECT_EQ(s->tasks_done, 1);
  EXPECT_EQ(s->prompt_tokens, 1000);
  EXPECT_EQ(s->cached_tokens, 800);
  EXPECT_EQ(s->tool_errors, 1);
  ASSERT_EQ(s->lines.size(), 2u);
  EXPECT_EQ(s->lines[0], "task: Reach level 2");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace naut::agent

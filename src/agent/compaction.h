#pragma once
// Compaction: how the loop makes text fit the model's context. Long text is cut in the middle
// with a note saying how much was cut and of what; a task's earlier rounds are shown to the next
// round as a summary (the latest in its last steps, older ones in a line each); a conversation
// the model refuses as too long is shortened oldest exchange first. Plain functions over values,
// no state: safe from any thread.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "llm/chat.h"

namespace naut::agent {

// What happened in one round of a task, kept for the next rounds, the critic and the episode.
struct RoundLog {
  std::vector<std::string> steps;  // "game__press({...}) -> ..." lines, one an action
  std::string critique;            // the critic's, when the round was not verified
  std::string error;               // what stopped the round (the model unreachable, ...)
};

// `text` when it holds at most `cap` bytes; else its first three quarters and last quarter of
// `cap` with "[... N characters of <what> cut to fit the context ...]" between them. UTF-8
// sequences are kept whole at both cuts.
std::string Truncate(const std::string& text, size_t cap, std::string_view what);

// `s` on one line (newlines and tabs become spaces), cut to `cap` bytes and "..." after.
std::string OneLine(std::string s, size_t cap);

// How many of a round's latest steps the next round is shown in full.
inline constexpr size_t kLatestRoundSteps = 10;

// "Earlier rounds of this task did not succeed: ..." for the rounds in `earlier` (the current
// round not among them): the last of them in its latest kLatestRoundSteps steps, each older one
// as its step count; every round's error and critique. Empty when `earlier` is. Cut to
// `cap_chars` with Truncate.
std::string CompactEarlierRounds(const std::vector<RoundLog>& earlier, size_t cap_chars);

// The steps of every round, a line each, cut to `cap_chars`: what an episode remembers.
std::string EpisodeSummary(const std::vector<RoundLog>& rounds, size_t cap_chars);

// After the model said the conversation exceeds its context: shortens `messages` (system, task
// prompt, then the exchange) for one more try. The oldest exchange after the task prompt goes
// first; when only the task prompt and the latest message are left, a latest message over 800
// characters is cut to half. Returns false when there is nothing left to shorten.
bool ShrinkConversation(std::vector<llm::Message>& messages);

}  // namespace naut::agent

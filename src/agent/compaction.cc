#include "agent/compaction.h"

#include <algorithm>

namespace naut::agent {

std::string Truncate(const std::string& text, size_t cap, std::string_view what) {
  if (text.size() <= cap) return text;
  size_t head = cap * 3 / 4, tail = cap - head;
  // Keep UTF-8 sequences whole at both cut points.
  while (head > 0 && (static_cast<unsigned char>(text[head]) & 0xC0) == 0x80) --head;
  size_t tail_start = text.size() - tail;
  while (tail_start < text.size() && (static_cast<unsigned char>(text[tail_start]) & 0xC0) == 0x80)
    ++tail_start;
  return text.substr(0, head) + "\n[... " + std::to_string(tail_start - head) + " characters of " +
         std::string(what) + " cut to fit the context ...]\n" + text.substr(tail_start);
}

std::string OneLine(std::string s, size_t cap) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > cap) s = s.substr(0, cap) + "...";
  return s;
}

std::string CompactEarlierRounds(const std::vector<RoundLog>& earlier, size_t cap_chars) {
  if (earlier.empty()) return "";
  std::string feedback = "Earlier rounds of this task did not succeed:\n";
  for (size_t i = 0; i < earlier.size(); ++i) {
    const RoundLog& r = earlier[i];
    bool latest = i + 1 == earlier.size();
    feedback += "Round " + std::to_string(i + 1) + ":";
    if (latest) {
      feedback += "\n";
      size_t from = r.steps.size() > kLatestRoundSteps ? r.steps.size() - kLatestRoundSteps : 0;
      if (from) feedback += "  (" + std::to_string(from) + " earlier steps omitted)\n";
      for (size_t k = from; k < r.steps.size(); ++k) feedback += "  " + r.steps[k] + "\n";
    } else {
      feedback += " " + std::to_string(r.steps.size()) + " steps;";
    }
    if (!r.error.empty()) feedback += "  error: " + r.error + "\n";
    if (!r.critique.empty()) feedback += "  critique: " + r.critique + "\n";
    if (!latest) feedback += "\n";
  }
  return Truncate(feedback, cap_chars, "earlier rounds");
}

std::string EpisodeSummary(const std::vector<RoundLog>& rounds, size_t cap_chars) {
  std::string summary;
  for (const auto& r : rounds) {
    for (const auto& s : r.steps) summary += s + "\n";
  }
  return Truncate(summary, cap_chars, "episode");
}

bool ShrinkConversation(std::vector<llm::Message>& messages) {
  if (messages.size() > 3) {
    // Drop the oldest exchange after the task prompt.
    messages.erase(messages.begin() + 2,
                   messages.begin() + std::min<size_t>(4, messages.size() - 1));
    return true;
  }
  if (messages.size() > 2 && messages.back().content.size() > 800) {
    // Only the task prompt and the latest message are left: the latest is cut to half.
    auto& last = messages.back().content;
    last = Truncate(last, last.size() / 2, "message");
    return true;
  }
  return false;
}

}  // namespace naut::agent

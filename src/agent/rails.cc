#include "agent/rails.h"

#include <cctype>
#include <functional>

namespace naut::agent {

std::optional<std::string> Budget::Exceeded() const {
  if (rounds_ >= limits_.rounds)
    return "round budget of " + std::to_string(limits_.rounds) + " rounds used up";
  if (tool_calls_ >= limits_.tool_calls) {
    return "tool-call budget of " + std::to_string(limits_.tool_calls) + " calls used up";
  }
  if (tokens_ >= limits_.tokens)
    return "token budget of " + std::to_string(limits_.tokens) + " tokens used up";
  auto elapsed = std::chrono::steady_clock::now() - start_;
  if (elapsed >= limits_.wall) {
    return "time budget of " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limits_.wall).count()) +
           " s used up";
  }
  return std::nullopt;
}

namespace {

// `result` with the numbers of its identifiers blanked ("message_id: 19" -> "message_id: #",
// "\"id\":19" -> "\"id\":#"): a new id is not progress (a model sent /start ten times, each
// answer a new message id), while other numbers (hit points in a fight) are.
std::string WithoutIds(const std::string& result) {
  std::string out;
  out.reserve(result.size());
  for (size_t i = 0; i < result.size();) {
    out += result[i++];
    bool after_id = out.ends_with("id: ") || out.ends_with("id\":") || out.ends_with("id\": ") ||
                    out.ends_with("id=");
    if (after_id && i < result.size() && std::isdigit(static_cast<unsigned char>(result[i]))) {
      while (i < result.size() && std::isdigit(static_cast<unsigned char>(result[i]))) ++i;
      out += '#';
    }
  }
  return out;
}

}  // namespace

RepeatDetector::Verdict RepeatDetector::Observe(const std::string& tool, const Json& arguments,
                                                const std::string& result) {
  std::string key = tool + "\x1f" + DumpJson(arguments) + "\x1f" +
                    std::to_string(std::hash<std::string>{}(WithoutIds(result)));
  recent_.push_back(std::move(key));
  if (recent_.size() > 16) recent_.pop_front();
  // The longest run of the last call, or of the last 2- or 3-call cycle, ending now.
  int best = 1;
  for (size_t period = 1; period <= 3; ++period) {
    size_t n = recent_.size();
    if (n < 2 * period) continue;
    size_t i = n;
    while (i >= period + 1 && recent_[i - 1] == recent_[i - 1 - period]) --i;
    int cycles = static_cast<int>((n - i) / period) + 1;
    if (cycles > best) best = cycles;
  }
  repeats_ = best;
  if (repeats_ >= stop_after_) return Verdict::kStop;
  if (repeats_ >= warn_after_) return Verdict::kWarn;
  return Verdict::kOk;
}

void RepeatDetector::Reset() {
  recent_.clear();
  repeats_ = 0;
}

}  // namespace naut::agent

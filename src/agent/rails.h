#pragma once
// Safety rails of the agent loop: budgets that end a task or a run, and detection of the
// same tool call repeated. Plain values, used by the loop's thread only.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "core/json.h"

namespace naut::agent {

struct BudgetLimits {
  int rounds = 4;
  int tool_calls = 40;
  int64_t tokens = 200000;
  std::chrono::milliseconds wall{std::chrono::minutes(15)};
};

// Counts what a task (or a run) has used; Exceeded() names the first limit passed.
class Budget {
 public:
  explicit Budget(BudgetLimits limits)
      : limits_(limits), start_(std::chrono::steady_clock::now()) {}
  void AddRound() { ++rounds_; }
  void AddToolCall() { ++tool_calls_; }
  void AddTokens(int64_t n) { tokens_ += n; }
  // e.g. "tool-call budget of 40 calls used up"; nullopt while within every limit.
  std::optional<std::string> Exceeded() const;
  int rounds() const { return rounds_; }
  int tool_calls() const { return tool_calls_; }
  int64_t tokens() const { return tokens_; }
  const BudgetLimits& limits() const { return limits_; }

 private:
  BudgetLimits limits_;
  std::chrono::steady_clock::time_point start_;
  int rounds_ = 0;
  int tool_calls_ = 0;
  int64_t tokens_ = 0;
};

// Notices a model stuck in a loop: the same call (tool + arguments + result) made again and again,
// or a short cycle of calls repeating (A B A B ...). The verdict escalates: first a warning to show
// the model, then a stop.
class RepeatDetector {
 public:
  enum class Verdict { kOk, kWarn, kStop };
  explicit RepeatDetector(int warn_after = 3, int stop_after = 5)
      : warn_after_(warn_after), stop_after_(stop_after) {}
  // `result` is what the call returned: a call that keeps returning the same thing is stuck;
  // the same call with changing results (attacking in a fight) is progress.
  Verdict Observe(const std::string& tool, const Json& arguments, const std::string& result);
  // How many times in a row the latest call (or cycle) has repeated.
  int repeats() const { return repeats_; }
  void Reset();

 private:
  int warn_after_, stop_after_;
  std::deque<std::string> recent_;
  int repeats_ = 0;
};

}  // namespace naut::agent

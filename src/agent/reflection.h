#pragma once
// Memory replay and reflection: the model looks back over recent episodes (successes and
// failures, with their steps) and draws short, general lessons, each with an importance from
// 1 to 10 and the ids of the episodes it came from; they are stored as memories of kind
// "reflection" and shown to the actor before the raw episodes (EpisodeMemory::Retrieve). A
// lesson nearly the same as a stored one is dropped; an answer that is not the JSON asked for,
// or a lesson that names no episode it was shown, stores nothing and is reported.
//
// Called on the agent loop's thread only (or once by `neuronaut memory reflect`).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/loop_access.h"
#include "agent/toolbox.h"

namespace naut::agent {

// When the agent replays: never; after a task that failed (the default); after every task and
// at the end of a run.
enum class ReflectWhen { kOff, kFailures, kEachTask };
// "off" | "failures" | "each_task".
std::optional<ReflectWhen> ParseReflectWhen(std::string_view text);

// At most this many lessons from one replay, and this many episodes replayed.
inline constexpr int kLessonsPerReplay = 3;
inline constexpr int kEpisodesPerReplay = 8;

// The lessons in a model's answer ({"lessons": [{"lesson", "importance", "episodes"}]}, read
// leniently), keeping only ids among `shown`; an error says what was wrong with the answer.
Result<std::vector<Lesson>> ParseLessons(const std::string& answer,
                                         const std::vector<int64_t>& shown);

struct ReplayReport {
  int episodes = 0;                  // replayed
  std::vector<std::string> stored;   // the lessons stored
  std::vector<std::string> dropped;  // "<lesson>: why"
};

class Reflector {
 public:
  // `memory` must outlive the Reflector. `run_id` is written with each lesson.
  Reflector(EpisodeMemory& memory, std::string env, std::string run_id, LoopAccess access);

  // Replays the episodes stored since the last replay of this Reflector (the newest
  // kEpisodesPerReplay of them; on the first call, the newest ones) and stores the lessons the
  // model draws. `why` ("task failed", "run end", "on demand") goes into the "reflection"
  // event. Nothing to replay costs no model call.
  Result<ReplayReport> Replay(const std::string& why);

 private:
  EpisodeMemory& memory_;
  std::string env_, run_id_;
  LoopAccess access_;
  int64_t last_episode_ = 0;  // the newest episode replayed
};

}  // namespace naut::agent

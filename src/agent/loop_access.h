#pragma once
// What the agent loop lends each of its roles (curriculum, critic, skill writer): the model and
// the prompts, reached through the loop, which counts every call (its sampling seed, its tokens,
// the model_call event); the observation of the environment; and the loop's event sink. A role
// never holds the ChatModel itself, so a role's tests script the model with a lambda.
//
// Every function is called on the loop's thread only.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "llm/chat.h"

namespace naut::agent {

// Everything the loop reports, as (type, fields); the agent also writes it to the run's trace.
using EventSink = std::function<void(const std::string& type, const Json& fields)>;

struct LoopAccess {
  // One model call without tools; `format` asks for a constrained answer where the backend can.
  std::function<llm::ChatResult(std::vector<llm::Message> messages,
                                const llm::ResponseFormat& format)>
      ask_model;
  // The prompt `name` rendered with `values` (prompts.h, the user's overrides included). An
  // error names the prompt and the placeholder.
  std::function<Result<std::string>(const std::string& name,
                                    const std::map<std::string, std::string>& values)>
      prompt;
  // The environment as it is now, readable and capped; words saying why when it cannot be read.
  std::function<std::string()> observe;
  EventSink emit;
};

// One model call for an answer in `format`; a backend that cannot constrain output refuses it
// (400), and is then asked again without it (the prompts ask for the same JSON in words, and
// the answers are read leniently).
inline llm::ChatResult AskForJson(const LoopAccess& access, const std::string& prompt,
                                  const llm::ResponseFormat& format) {
  auto answer = access.ask_model({llm::Message::User(prompt)}, format);
  if (!answer && answer.error().kind == llm::LlmError::Kind::kBadRequest)
    answer = access.ask_model({llm::Message::User(prompt)}, {});
  return answer;
}

}  // namespace naut::agent

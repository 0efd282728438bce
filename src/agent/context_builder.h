#pragma once
// The context builder: what the actor's prompt holds in a round, fitted to the model's context.
// The system prompt and the tool schemas always go in whole; what is left of the context (less a
// reserve for the answer) is shared out between the observation, the skills offered, the
// memories recalled and the summary of earlier rounds, each cut to its share. PromptBudget names
// every number of that arithmetic; BuildActorContext applies it to one round's material.
//
// Plain values and pure functions: safe from any thread. Sizes are estimated, not tokenized
// (kCharsPerToken): a prompt that still overflows is shortened by ShrinkConversation
// (compaction.h) when the model refuses it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/compaction.h"
#include "agent/toolbox.h"
#include "llm/chat.h"

namespace naut::agent {

// Characters a token holds, roughly, in English and JSON: the one conversion between the model's
// units (tokens) and the prompt's (characters). Good enough for budgeting.
inline constexpr int64_t kCharsPerToken = 4;

// The tokens `text` is estimated to take: a token per kCharsPerToken characters, and one more.
int64_t EstimateTokens(std::string_view text);

// The numbers that share out the model's context. Every share is written 1/N as an integer N so
// that the arithmetic is exact and identical wherever it is done; sizes of prompt parts are in
// characters, sizes of the context and the answer in tokens.
struct PromptBudget {
  // The context the model holds ([llm] context_size, or the embedded engine's own).
  int64_t context_tokens = 8192;

  // Kept free for the model's answer after the fixed part of the prompt (the system prompt and
  // the tool schemas): the most an action may take (max_answer_tokens).
  int64_t answer_reserve_tokens = 1024;
  // The room left for the observation, skills, memories and earlier rounds never falls below
  // this, however many tools there are: a prompt without an observation is useless, one that is
  // too long is shortened when the model refuses it.
  int64_t min_free_chars = 2000;
  // Shares of that room, 1/N each. The observation and the skills a third each, memories a sixth
  // (a few lines of similar episodes), earlier rounds a quarter. They add up to 13/12: skills
  // and memories rarely fill their shares, and a prompt that still does not fit is shortened
  // when the model refuses it (ShrinkConversation).
  int64_t observation_share = 3;
  int64_t skills_share = 3;
  int64_t memories_share = 6;
  int64_t feedback_share = 4;

  // A single tool result (and an observation read on its own) may take 1/N of the context ...
  int64_t tool_output_share = 8;
  // ... but never less than this many characters, however small the context.
  int64_t min_tool_output_chars = 2000;
  // The observation after each action and a code action's traceback come after every action:
  // 1/N of a tool result's room, so that the conversation keeps room for the next turns.
  int64_t after_action_share = 2;

  // An action is a call or a short program: an answer is capped at this many tokens, so that a
  // model that runs on (repeating itself, or a random model) is cut off before it fills the
  // context ...
  // (512: one call is ~40 tokens, a loop ~200; in real runs every longer answer was a model
  // running on, writing made-up observations or the same branch again and again).
  int64_t max_answer_tokens = 512;
  // ... and at 1/N of a small context.
  int64_t answer_context_share = 4;

  // Tokens the parts that always go in whole take, the answer's reserve included.
  int64_t FixedTokens(std::string_view system_prompt,
                      const std::vector<llm::ToolSpec>& tools) const;
  // Characters left for the shared parts after `fixed_tokens`.
  int64_t FreeChars(int64_t fixed_tokens) const;
  size_t ObservationChars(int64_t free_chars) const;
  size_t SkillsChars(int64_t free_chars) const;
  size_t MemoriesChars(int64_t free_chars) const;
  size_t FeedbackChars(int64_t free_chars) const;

  // Characters one tool result, printed output or observation may take.
  size_t ToolOutputChars() const;
  // Characters the observation after an action (and a traceback) may take.
  size_t AfterActionChars() const;
  // The max_tokens an action is sampled with.
  int MaxAnswerTokens() const;
};

// Where an action answer ends at the latest: the model has started to write what the agent
// shows it (a tool's response, the observation, whose first line is `observation`'s), which it
// can only make up. Small models do, for hundreds of tokens, after a correct call.
std::vector<std::string> ActionStops(std::string_view observation);

// "name(a, b=1)" from a skill's "def name(a, b=1):", so the model sees how to call it;
// "name(...)" when the definition is not found on one line.
std::string SkillSignature(const std::string& code, const std::string& name);

// What one round's prompt is built from, as retrieved for the task.
struct ActorMaterial {
  std::string system_prompt;
  std::vector<llm::ToolSpec> tools;
  std::string observation;  // as read now
  // The skills retrieved for the task, best first, and the similarity below which a skill is
  // not offered (it would lead the model astray) but still defined for the skills that call it.
  std::vector<SkillSnippet> skills;
  double skills_min_similarity = -1;
  std::vector<std::string> memories;     // readable lines about similar episodes, best first
  std::vector<RoundLog> earlier_rounds;  // this task's rounds before the current one
};

// One round's prompt parts, each within its share.
struct ActorContext {
  std::string observation;
  std::string skills_text;  // "- name(args): description" lines; empty when none fit
  // The Python source a code action gets defined before it: the offered skills and the ones
  // too unlike the task to offer.
  std::string skills_code;
  std::vector<std::string> offered_skills;  // names, in the order shown
  std::string memories_text;                // "- ..." lines; empty when none
  std::string feedback;                     // CompactEarlierRounds; empty in a first round
};

// Fits `material` to `budget`: the observation is cut in the middle, skills and memories are
// taken best first while the next whole entry still fits (the rest are left out), earlier rounds
// are compacted to their share.
ActorContext BuildActorContext(const PromptBudget& budget, const ActorMaterial& material);

}  // namespace naut::agent

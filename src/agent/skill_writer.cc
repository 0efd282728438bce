#include "agent/skill_writer.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "skills/skill_store.h"
#include "skills/validator.h"

namespace naut::agent {

std::optional<std::string> ExtractPythonBlock(const std::string& text) {
  for (const char* fence : {"```python", "```py\n", "```Python"}) {
    size_t start = text.find(fence);
    if (start == std::string::npos) continue;
    size_t body = text.find('\n', start);
    if (body == std::string::npos) return std::nullopt;
    // The closing fence starts a line: a "```" inside the code (a comment quoting the prompt,
    // a string) does not end it.
    size_t end = text.find("```", body + 1);
    while (end != std::string::npos && text[end - 1] != '\n') end = text.find("```", end + 3);
    std::string code =
        text.substr(body + 1, end == std::string::npos ? std::string::npos : end - body - 1);
    return code;
  }
  return std::nullopt;
}

std::optional<std::string> ExtractBareToolCode(const std::string& text,
                                               const std::vector<std::string>& tool_names) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(text).substr(begin);
  for (std::string_view prefix : {"print(", "result = "}) {
    if (rest.starts_with(prefix)) rest.remove_prefix(prefix.size());
  }
  if (rest.starts_with("tools.")) rest.remove_prefix(6);
  const bool calls_a_tool = std::any_of(tool_names.begin(), tool_names.end(), [&](const auto& n) {
    std::string_view after = rest.substr(std::min(rest.size(), n.size()));
    return rest.starts_with(n) &&
           (after.starts_with("(") || after.starts_with(" {") || after.starts_with("{"));
  });
  if (!calls_a_tool) return std::nullopt;
  size_t end = text.find("\n\n", begin);
  std::string code = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  return WithCallParentheses(code + "\n", tool_names);
}

namespace {

// "call(args)  # answer" -> ("call(args)", "answer"); a line without an answer is all call.
std::pair<std::string_view, std::string_view> SplitAction(std::string_view line) {
  size_t hash = line.find("  # ");
  if (hash == std::string_view::npos) return {line, {}};
  return {line.substr(0, hash), line.substr(hash + 4)};
}

std::string_view Trimmed(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

std::string CompactActions(const std::vector<std::string>& actions) {
  std::string out;
  for (size_t i = 0; i < actions.size();) {
    auto [call, answer] = SplitAction(actions[i]);
    size_t j = i + 1;
    while (j < actions.size() && SplitAction(actions[j]).first == call) ++j;
    if (j - i == 1) {
      out += actions[i] + "\n";
    } else {
      std::string_view last = SplitAction(actions[j - 1]).second;
      out += std::string(call) + "  # " + std::to_string(j - i) + " times in a row" +
             (last.empty() ? "" : "; the last answer: " + std::string(last)) + "\n";
    }
    i = j;
  }
  return out;
}

namespace {

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The tool names (<server>__<tool>) called in `text`: every `name(` with a "__" in the name.
std::vector<std::string> CalledToolNames(const std::string& text) {
  std::vector<std::string> names;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsNameChar(text[i]) || (i > 0 && IsNameChar(text[i - 1]))) continue;
    size_t end = i;
    while (end < text.size() && IsNameChar(text[end])) ++end;
    std::string name = text.substr(i, end - i);
    if (end < text.size() && text[end] == '(' && name.find("__") != std::string::npos &&
        !name.starts_with("__") && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
    i = end;
  }
  return names;
}

struct ToolsCall {
  size_t name_begin, name_end;  // the name of `tools.<name>(` in the code
};

// Every `tools.<name>(` of `code` (not `mytools.x(`), in order.
std::vector<ToolsCall> ToolsCalls(const std::string& code) {
  std::vector<ToolsCall> calls;
  for (size_t at = code.find("tools."); at != std::string::npos; at = code.find("tools.", at + 6)) {
    if (at > 0 && IsNameChar(code[at - 1])) continue;
    size_t end = at + 6;
    while (end < code.size() && IsNameChar(code[end])) ++end;
    if (end > at + 6 && end < code.size() && code[end] == '(') calls.push_back({at + 6, end});
  }
  return calls;
}

// The tools `actions` called, each once, in the order first called.
std::vector<std::string> ToolsUsed(const std::vector<std::string>& actions) {
  std::vector<std::string> tools;
  for (const auto& a : actions) {
    for (auto& n : CalledToolNames(a)) {
      if (std::find(tools.begin(), tools.end(), n) == tools.end()) tools.push_back(std::move(n));
    }
  }
  return tools;
}

}  // namespace

std::string TidySkillCode(const std::string& code, const std::string& docstring) {
  auto cleaned = skills::TidySkill(code, docstring);
  if (!cleaned) return code;
  return std::move(cleaned->code);
}

std::string WithToolPrefixes(const std::string& code, const std::vector<std::string>& actions) {
  const std::vector<std::string> tools = ToolsUsed(actions);
  std::string out;
  size_t from = 0;
  for (const auto& call : ToolsCalls(code)) {
    std::string name = code.substr(call.name_begin, call.name_end - call.name_begin);
    if (name.find("__") != std::string::npos) continue;
    std::string match;
    int matches = 0;
    for (const auto& t : tools) {
      if (t.ends_with("__" + name)) {
        match = t;
        ++matches;
      }
    }
    if (matches != 1) continue;
    out += code.substr(from, call.name_begin - from) + match;
    from = call.name_end;
  }
  return out + code.substr(from);
}

std::optional<std::string> SkillDraftProblem(const std::string& code,
                                             const std::vector<std::string>& skill_names,
                                             const std::vector<std::string>& tools_used) {
  constexpr int kCopiesAllowed = 3;
  std::string_view rest = code, previous;
  int line_no = 0, run = 0;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = Trimmed(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    run = line == previous ? run + 1 : 1;
    previous = line;
    if (run > kCopiesAllowed) {
      return "line " + std::to_string(line_no) + " repeats the line above " +
             std::to_string(run - 1) + " times: write a loop (for or while) that repeats it " +
             "until the tool's answer shows the step is done";
    }
  }
  for (const auto& call : ToolsCalls(code)) {
    std::string name = code.substr(call.name_begin, call.name_end - call.name_begin);
    if (name == "call") continue;
    bool is_skill = std::find(skill_names.begin(), skill_names.end(), name) != skill_names.end();
    if (!is_skill && name.find("__") == std::string::npos) {
      // Name the real ones: "e.g. tools.game__<name>" sent the 1.5B after tools it made up
      // (get_response, get_answer) under a prefix.
      std::string known;
      for (const auto& t : tools_used) known += (known.empty() ? "" : ", ") + ("tools." + t);
      return "tools." + name + "(...) is not a tool: tools are named <server>__<tool>" +
             (known.empty() ? std::string(" as in the actions") : "; the actions used " + known) +
             " (write the steps with these; a helper of your own is a def in the same block)";
    }
  }
  return std::nullopt;
}

std::string WithCallParentheses(const std::string& code,
                                const std::vector<std::string>& tool_names) {
  std::string out;
  size_t from = 0;
  while (from < code.size()) {
    size_t nl = code.find('\n', from);
    std::string line = code.substr(from, nl == std::string::npos ? std::string::npos : nl - from);
    from = nl == std::string::npos ? code.size() : nl + 1;
    size_t indent = line.find_first_not_of(" \t");
    size_t last = line.find_last_not_of(" \t\r");
    if (indent != std::string::npos && line[last] == '}') {
      std::string_view call = std::string_view(line).substr(indent, last + 1 - indent);
      if (call.starts_with("tools.")) call.remove_prefix(6);
      for (const auto& name : tool_names) {
        if (call.starts_with(name + " {") || call.starts_with(name + "{")) {
          size_t brace = line.find('{', indent);
          line = line.substr(0, brace) + "(" + line.substr(brace, last + 1 - brace) + ")";
          while (line[brace - 1] == ' ') line.erase(--brace, 1);
          break;
        }
      }
    }
    out += line + (nl == std::string::npos ? "" : "\n");
  }
  return out;
}

namespace {

// `v` as a Python literal: JSON's strings and numbers are Python's; true, false and null are
// spelled True, False and None.
std::string PythonLiteral(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + PythonLiteral(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, item] : v.items()) {
      out += (first ? "" : ", ") + Json(k).dump() + ": " + PythonLiteral(item);
      first = false;
    }
    return out + "}";
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ReplayCall(const ActionCall& c) {
  std::string call = "tools." + c.tool + "(";
  if (c.arguments.is_object() && !c.arguments.empty()) {
    bool keywords = true;
    for (const auto& [k, unused] : c.arguments.items())
      keywords = keywords && skills::IsPythonName(k);
    if (keywords) {
      bool first = true;
      for (const auto& [k, v] : c.arguments.items()) {
        call += (first ? "" : ", ") + k + "=" + PythonLiteral(v);
        first = false;
      }
    } else {
      call += PythonLiteral(c.arguments);
    }
  }
  return call + ")";
}

}  // namespace

std::optional<std::string> ReplaySkill(const std::string& name, const std::string& docstring,
                                       const std::vector<ActionCall>& calls) {
  if (calls.empty() || !skills::IsPythonName(name)) return std::nullopt;
  std::vector<std::pair<std::string, int>> steps;  // a call and how many times in a row
  for (const auto& c : calls) {
    if (!skills::IsPythonName(c.tool)) return std::nullopt;
    std::string line = ReplayCall(c);
    if (!steps.empty() && steps.back().first == line) {
      ++steps.back().second;
    } else {
      steps.emplace_back(std::move(line), 1);
    }
  }
  if (steps.size() > kMaxReplaySteps) return std::nullopt;
  // The docstring as a Python string literal: JSON's escapes are Python's.
  std::string doc = docstring + std::string(kReplayNote) + std::to_string(calls.size()) +
                    " tool calls that did it, in order; returns the last call's answer.";
  std::string code = "import tools\n\n\ndef " + name + "():\n    " + Json(doc).dump() + "\n";
  code += "    answer = None\n";
  for (const auto& [line, times] : steps) {
    if (times == 1) {
      code += "    answer = " + line + "\n";
    } else {
      code += "    for _ in range(" + std::to_string(times) + "):\n        answer = " + line + "\n";
    }
  }
  return code + "    return answer\n";
}

std::vector<std::string> TaskWords(const std::string& task) {
  static constexpr std::string_view kSmall[] = {"a",  "an", "the", "any", "from", "to", "of",
                                                "at", "in", "on",  "for", "with", "and"};
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && std::find(std::begin(kSmall), std::end(kSmall), word) == std::end(kSmall))
      words.push_back(word);
    word.clear();
  };
  for (char c : task) {
    if (std::isalnum(static_cast<unsigned char>(c)) && static_cast<unsigned char>(c) < 0x80) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      flush();
    }
  }
  flush();
  return words;
}

std::string SkillNameForTask(const std::string& task) {
  std::vector<std::string> words = TaskWords(task);
  if (words.size() > 5) words.resize(5);
  std::string name;
  for (const auto& w : words) name += (name.empty() ? "" : "_") + w;
  if (name.empty()) return "do_task";
  if (std::isdigit(static_cast<unsigned char>(name[0])) || skills::IsPythonKeyword(name))
    name = "do_" + name;
  return name;
}

bool ReplayFitsTask(const std::string& description, const std::string& task) {
  const std::vector<std::string> words = TaskWords(task);
  const std::vector<std::string> own =
      TaskWords(description.substr(0, description.find(kReplayNote)));
  return !own.empty() && std::all_of(own.begin(), own.end(), [&](const std::string& w) {
    return std::find(words.begin(), words.end(), w) != words.end();
  });
}

SkillWriter::SkillWriter(SkillLibrary* skills, std::string env, int skills_top_k, LoopAccess access)
    : skills_(skills),
      env_(std::move(env)),
      skills_top_k_(skills_top_k),
      access_(std::move(access)) {}

std::optional<std::string> SkillWriter::LearnByReplay(const std::string& task,
                                                      const std::vector<ActionCall>& calls,
                                                      const SkillChecker& check) {
  skills::SkillStore* store = skills_->Store();
  if (!check || store == nullptr || calls.empty()) return std::nullopt;
  const std::string base = SkillNameForTask(task);
  std::string name = base;
  for (int n = 2; store->Get(name); ++n) name = base + "_" + std::to_string(n);
  auto code = ReplaySkill(name, task, calls);
  if (!code) {
    access_.emit("skill",
                 {{"status", "not_replayed"},
                  {"reason",
                   "its " + std::to_string(calls.size()) + " calls cannot be a replay: more than " +
                       std::to_string(kMaxReplaySteps) + " steps, or a tool Python cannot name"}});
    return std::nullopt;
  }
  auto added = skills_->Add(*code, task, env_, SkillOrigin::kReplay);
  if (!added) {
    access_.emit("skill", {{"status", "not_replayed"}, {"reason", added.error().message()}});
    return std::nullopt;
  }
  SkillCheck result = check(*added, *code);
  if (result.state == SkillCheck::State::kPassed) {
    if (Status s = skills_->SetVerification(*added, true, result.note); !s.ok()) {
      access_.emit("skill",
                   {{"status", "failed"},
                    {"name", *added},
                    {"reason", "the check's result could not be stored: " + s.ToString()}});
    }
    access_.emit(
        "skill",
        {{"status", "verified"}, {"name", *added}, {"source", "replay"}, {"check", result.note}});
    return *added;
  }
  // A replay that does not do the task again is no skill: the model writes one instead.
  Status removed = store->Remove(*added);
  access_.emit("skill", {{"status", "not_replayed"},
                         {"name", *added},
                         {"reason", result.note + (removed.ok() ? ""
                                                                : " (and it could not be "
                                                                  "removed: " +
                                                                      removed.ToString() + ")")}});
  return std::nullopt;
}

std::string SkillWriter::Learn(const std::string& task,
                               const std::vector<std::string>& successful_actions,
                               const SkillChecker& check, const std::vector<ActionCall>& calls) {
  if (skills_ == nullptr) {
    access_.emit("skill",
                 {{"status", "unavailable"},
                  {"reason", "no skill library in this run (--no-skills, or none set up)"}});
    return "";
  }
  auto existing = skills_->SkillForTask(task, env_);
  if (existing && existing->has_value()) {
    access_.emit(
        "skill",
        {{"status", "kept"}, {"name", **existing}, {"reason", "already learned for this task"}});
    return **existing;
  }
  if (auto replayed = LearnByReplay(task, calls, check)) return *replayed;
  std::string actions = CompactActions(successful_actions);
  std::string names;
  std::vector<std::string> skill_names;
  if (auto known = skills_->Retrieve(task, env_, skills_top_k_)) {
    for (const auto& s : *known) {
      names += (names.empty() ? "" : ", ") + s.name;
      skill_names.push_back(s.name);
    }
  }
  auto prompt =
      access_.prompt("skill_writer", {{"task", task},
                                      {"actions", actions.empty() ? "(none recorded)" : actions},
                                      {"skill_names", names.empty() ? "(none)" : names}});
  if (!prompt) return "";
  std::vector<llm::Message> messages = {llm::Message::User(*prompt)};
  std::string draft;  // a stored skill whose check failed
  for (int attempt = 0; attempt < kSkillAttempts; ++attempt) {
    auto answer = access_.ask_model(messages, {});
    if (!answer) {
      access_.emit("skill", {{"status", "failed"}, {"reason", answer.error().ToString()}});
      return draft;
    }
    // A function without a docstring is described by the task it was written for.
    std::string code = TidySkillCode(
        WithToolPrefixes(ExtractPythonBlock(answer->content).value_or(answer->content),
                         successful_actions),
        task);
    std::string reply;
    if (auto problem = SkillDraftProblem(code, skill_names, ToolsUsed(successful_actions))) {
      access_.emit("skill", {{"status", "refused"}, {"reason", *problem}});
      reply = "That skill was refused: " + *problem;
    } else if (auto added = skills_->Add(code, task, env_, SkillOrigin::kModel); !added) {
      std::string refusal = added.error().message();
      // The store's message starts with what the event and the reply below already say.
      constexpr std::string_view kPrefix = "skill refused: ";
      if (refusal.starts_with(kPrefix)) refusal.erase(0, kPrefix.size());
      access_.emit("skill", {{"status", "refused"}, {"reason", refusal}});
      reply = "That skill was refused: " + refusal;
    } else if (!check) {
      access_.emit("skill", {{"status", "learned"}, {"name", *added}});
      return *added;
    } else {
      SkillCheck result = check(*added, code);
      if (result.state == SkillCheck::State::kNotRun) {
        access_.emit("skill",
                     {{"status", "learned"}, {"name", *added}, {"unverified", result.note}});
        return *added;
      }
      const bool passed = result.state == SkillCheck::State::kPassed;
      if (Status s = skills_->SetVerification(*added, passed, result.note); !s.ok())
        access_.emit("skill",
                     {{"status", "failed"},
                      {"name", *added},
                      {"reason", "the check's result could not be stored: " + s.ToString()}});
      access_.emit("skill", {{"status", passed ? "verified" : "draft"},
                             {"name", *added},
                             {passed ? "check" : "reason", result.note}});
      if (passed) return *added;
      draft = *added;
      reply = "That skill was run from the state the task started in, as " + *added +
              "(), and it did not do the task: " + result.note;
    }
    messages.push_back(llm::Message::Assistant(answer->content));
    messages.push_back(
        llm::Message::User(reply + "\nWrite it again, fixing that. One ```python block only."));
  }
  return draft;
}

}  // namespace naut::agent

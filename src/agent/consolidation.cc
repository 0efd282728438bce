#include "agent/consolidation.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "agent/compaction.h"
#include "skills/validator.h"

namespace naut::agent {

namespace {

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// `text` without the list marker, quotes and backticks around it.
std::string Unwrap(std::string text) {
  text = Trim(std::move(text));
  if (text.starts_with("- ") || text.starts_with("* ")) text = Trim(text.substr(2));
  while (!text.empty() && (text.front() == '`' || text.front() == '"' || text.front() == '\'' ||
                           text.front() == '*')) {
    text.erase(0, 1);
  }
  while (!text.empty() && (text.back() == '`' || text.back() == '"' || text.back() == '\'' ||
                           text.back() == '*' || text.back() == '.')) {
    text.pop_back();
  }
  return Trim(text);
}

std::string SkillsText(const std::vector<skills::Skill>& group,
                       const std::map<std::string, std::vector<skills::SkillCase>>& cases) {
  std::ostringstream out;
  for (const auto& k : group) {
    out << "\n- " << k.name << ", checked on:";
    for (const auto& c : cases.at(k.name)) out << " \"" << c.task << "\" (as " << c.call << ")";
    std::string code = k.code;
    while (!code.empty() && code.back() == '\n') code.pop_back();
    out << "\n```python\n" << code << "\n```\n";
  }
  return out.str();
}

}  // namespace

std::map<std::string, std::string> ParseConsolidationCalls(const std::string& answer,
                                                           const std::vector<std::string>& sources,
                                                           const std::string& entry) {
  std::map<std::string, std::string> calls;
  std::istringstream lines(answer);
  std::string line;
  while (std::getline(lines, line)) {
    line = Unwrap(line);
    const size_t sep = line.find(':');
    if (sep == std::string::npos) continue;
    std::string source = Unwrap(line.substr(0, sep));
    if (source.ends_with("()")) source.resize(source.size() - 2);
    std::string call = Unwrap(line.substr(sep + 1));
    if (std::find(sources.begin(), sources.end(), source) == sources.end()) continue;
    if (!call.starts_with(entry + "(") || call.back() != ')') continue;
    calls.emplace(source, call);
  }
  return calls;
}

std::vector<std::string> ExtractPythonBlocks(const std::string& text) {
  std::vector<std::string> blocks;
  size_t from = 0;
  while (true) {
    const size_t start = text.find("```py", from);
    if (start == std::string::npos) break;
    auto block = ExtractPythonBlock(text.substr(start));
    if (!block) break;
    // The block is the text after its fence line up to the closing fence.
    from = text.find('\n', start) + 1 + block->size() + 3;
    blocks.push_back(std::move(*block));
  }
  return blocks;
}

std::map<int, std::string> ParseSplitCalls(const std::string& answer, int tasks,
                                           const std::vector<std::string>& entries) {
  std::map<int, std::string> calls;
  std::istringstream lines(answer);
  std::string line;
  while (std::getline(lines, line)) {
    line = Unwrap(line);
    if (line.starts_with("Task ") || line.starts_with("task ")) line = line.substr(5);
    size_t digits = 0;
    while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) ++digits;
    if (digits == 0 || digits > 3 || digits >= line.size()) continue;
    const int task = std::stoi(line.substr(0, digits));
    if (task < 1 || task > tasks || std::string(":.)-").find(line[digits]) == std::string::npos)
      continue;
    std::string call = Unwrap(line.substr(digits + 1));
    if (call.empty() || call.back() != ')') continue;
    for (const auto& entry : entries) {
      if (call.starts_with(entry + "(")) calls.emplace(task, call);
    }
  }
  return calls;
}

Consolidator::Consolidator(skills::SkillStore& store, std::string env, LoopAccess access,
                           CaseRunner run, ConsolidationOptions options)
    : store_(store),
      env_(std::move(env)),
      access_(std::move(access)),
      run_(std::move(run)),
      options_(options) {}

Result<std::vector<skills::SkillGroup>> Consolidator::Groups() {
  NAUT_ASSIGN_OR_RETURN(auto groups, store_.SimilarGroups(env_, options_.min_similarity));
  // Replays are left out: each is its own task's calls with their literal arguments, and their
  // docstrings ("... Replays the 5 tool calls that did it ...") make any two look alike; the
  // 1.5B asked to merge them wrote no skill that passed (four calls a run, all refused). What is
  // left of a group is still a group when two skills remain: every pair of it was alike.
  std::erase_if(groups, [](skills::SkillGroup& g) {
    std::erase_if(g.skills, [](const skills::Skill& k) { return IsReplay(k.tags); });
    return g.skills.size() < 2;
  });
  return groups;
}

void Consolidator::Report(const Consolidation& c) {
  Json checks = Json::array();
  for (const auto& k : c.checks) {
    checks.push_back({{"source", k.source},
                      {"task", k.task},
                      {"call", k.call},
                      {"passed", k.check.state == SkillCheck::State::kPassed},
                      {"note", k.check.note}});
  }
  access_.emit("consolidation", {{"kind", c.kind},
                                 {"sources", c.sources},
                                 {"similarity", c.similarity},
                                 {"merged", c.merged},
                                 {"refused", c.refused},
                                 {"checks", checks}});
}

Result<std::vector<Consolidation>> Consolidator::Run() {
  NAUT_ASSIGN_OR_RETURN(auto groups, Groups());
  std::vector<Consolidation> out;
  for (const auto& group : groups) {
    if (out.size() >= options_.max_groups) break;
    out.push_back(Merge(group));
    Report(out.back());
  }
  if (options_.split_below <= 0) return out;
  NAUT_ASSIGN_OR_RETURN(auto overgrown, store_.Overgrown(env_, options_.split_below));
  size_t splits = 0;
  for (const auto& skill : overgrown) {
    if (splits++ >= options_.max_groups) break;
    out.push_back(Split(skill));
    Report(out.back());
  }
  return out;
}

std::string Consolidator::CheckAll(
    const std::string& code, const std::map<std::string, std::string>& calls,
    const std::map<std::string, std::vector<skills::SkillCase>>& cases, Consolidation& report) {
  report.checks.clear();
  std::string failures;
  for (const auto& [source, list] : cases) {
    for (const auto& c : list) {
      CaseCheck check{.source = source, .task = c.task, .call = calls.at(source)};
      check.check = run_(c, code, check.call);
      if (check.check.state != SkillCheck::State::kPassed) {
        failures += "\n- " + check.call + " for \"" + c.task + "\" (" + source + "'s task): " +
                    (check.check.state == SkillCheck::State::kNotRun ? "could not be run: " : "") +
                    OneLine(check.check.note, 400);
      }
      report.checks.push_back(std::move(check));
    }
  }
  return failures;
}

Consolidation Consolidator::Merge(const skills::SkillGroup& group) {
  Consolidation report;
  report.similarity = group.similarity;
  std::map<std::string, std::vector<skills::SkillCase>> cases;
  std::vector<skills::Skill> checked;
  std::string unchecked;
  for (const auto& k : group.skills) {
    report.sources.push_back(k.name);
    auto found = store_.Cases(k.name);
    if (found && !found->empty()) {
      cases[k.name] = std::move(*found);
      checked.push_back(k);
    } else {
      unchecked += (unchecked.empty() ? "" : ", ") + k.name;
    }
  }
  if (checked.size() < 2) {
    report.refused = "only " + std::to_string(checked.size()) + " of the " +
                     std::to_string(group.skills.size()) +
                     " skills passed a task it could be checked on (not verified: " + unchecked +
                     ")";
    return report;
  }
  report.sources.clear();
  for (const auto& k : checked) report.sources.push_back(k.name);
  auto prompt =
      access_.prompt("consolidate", {{"env", env_}, {"skills", SkillsText(checked, cases)}});
  if (!prompt) {
    report.refused = prompt.error().message();
    return report;
  }
  Ask(*prompt, "one ```python block, then the `<old skill name>: <new call>` lines.", report,
      [&](const std::string& answer) -> std::optional<std::string> {
        const std::string code = TidySkillCode(ExtractPythonBlock(answer).value_or(""));
        auto shape = code.empty()
                         ? Result<skills::SkillShape>(InvalidArgument("no ```python block"))
                         : skills::ValidateSkill(code);
        if (!shape) return "the function was refused: " + shape.error().message();
        if (auto draft = SkillDraftProblem(code, {})) return "the function was refused: " + *draft;
        const auto calls = ParseConsolidationCalls(answer, report.sources, shape->entry);
        std::string missing;
        for (const auto& name : report.sources) {
          if (!calls.contains(name)) missing += (missing.empty() ? "" : ", ") + name;
        }
        if (!missing.empty())
          return "no `<old skill name>: " + shape->entry + "(...)` line for " + missing;
        if (std::string failures = CheckAll(code, calls, cases, report); !failures.empty()) {
          return "it was run on the skills' tasks, each from the state it started in, and did "
                 "not do them all:" +
                 failures;
        }
        std::vector<skills::SkillCase> new_cases;
        for (const auto& [source, list] : cases) {
          for (skills::SkillCase c : list) {
            c.call = calls.at(source);
            new_cases.push_back(std::move(c));
          }
        }
        auto added = store_.AddConsolidated({.code = code, .environment = env_}, report.sources,
                                            "replaced " + std::to_string(checked.size()) +
                                                " skills; the checker agreed on each of their " +
                                                std::to_string(report.checks.size()) + " task(s)",
                                            new_cases);
        if (added) {
          report.merged = added->skill.name;
        } else {
          report.refused = "the library refused it: " + added.error().message();
        }
        return std::nullopt;
      });
  return report;
}

void Consolidator::Ask(const std::string& prompt, const std::string& again, Consolidation& report,
                       const std::function<std::optional<std::string>(const std::string&)>& take) {
  std::vector<llm::Message> messages = {llm::Message::User(prompt)};
  for (int attempt = 0; attempt < kSkillAttempts; ++attempt) {
    auto answer = access_.ask_model(messages, {});
    if (!answer) {
      report.refused = "the model could not answer: " + answer.error().ToString();
      return;
    }
    report.refused.clear();
    auto problem = take(answer->content);
    if (!problem) return;
    report.refused = *problem;
    messages.push_back(llm::Message::Assistant(answer->content));
    messages.push_back(llm::Message::User("That did not work: " + *problem +
                                          "\nWrite it again, fixing that: " + again));
  }
}

Consolidation Consolidator::Split(const skills::Skill& skill) {
  Consolidation report{.kind = "split", .sources = {skill.name}};
  auto found = store_.Cases(skill.name);
  if (!found || found->size() < 2) {
    report.refused = "it has fewer than two tasks to split on";
    return report;
  }
  const std::vector<skills::SkillCase>& cases = *found;
  std::string tasks;
  for (size_t i = 0; i < cases.size(); ++i) {
    tasks += std::to_string(i + 1) + ". \"" + cases[i].task + "\" (as " + cases[i].call + ")\n";
  }
  std::string code = skill.code;
  while (!code.empty() && code.back() == '\n') code.pop_back();
  auto prompt = access_.prompt(
      "split", {{"env", env_}, {"name", skill.name}, {"code", code}, {"tasks", tasks}});
  if (!prompt) {
    report.refused = prompt.error().message();
    return report;
  }
  Ask(*prompt, "one ```python block per function, then the `<task number>: <call>` lines.", report,
      [&](const std::string& answer) -> std::optional<std::string> {
        std::map<std::string, std::string> code_of;  // each new function's source by its name
        std::vector<std::string> entries;
        for (const auto& written : ExtractPythonBlocks(answer)) {
          const std::string block = TidySkillCode(written);
          auto shape = skills::ValidateSkill(block);
          if (!shape) return "a function was refused: " + shape.error().message();
          if (auto draft = SkillDraftProblem(block, {})) return "a function was refused: " + *draft;
          code_of[shape->entry] = block;
          entries.push_back(shape->entry);
        }
        if (entries.size() < 2)
          return "it needs two or more ```python blocks, one function per job";
        const auto calls = ParseSplitCalls(answer, static_cast<int>(cases.size()), entries);
        if (calls.size() != cases.size())
          return "each task needs a `<task number>: <call>` line of one of the new functions";
        // Each task's function, in task order.
        std::vector<std::string> function_of;
        function_of.reserve(calls.size());
        for (const auto& [task, call] : calls)
          function_of.push_back(call.substr(0, call.find('(')));
        if (std::set<std::string>(function_of.begin(), function_of.end()).size() < 2)
          return "one function does every task: that is not a split";
        report.checks.clear();
        std::string failures;
        std::map<std::string, std::vector<skills::SkillCase>> own;  // each function's tasks
        for (size_t i = 0; i < cases.size(); ++i) {
          const std::string& call = calls.at(static_cast<int>(i) + 1);
          CaseCheck check{.source = skill.name, .task = cases[i].task, .call = call};
          check.check = run_(cases[i], code_of.at(function_of[i]), call);
          if (check.check.state != SkillCheck::State::kPassed) {
            failures +=
                "\n- " + call + " for \"" + cases[i].task + "\": " + OneLine(check.check.note, 400);
          }
          report.checks.push_back(std::move(check));
          skills::SkillCase c = cases[i];
          c.call = call;
          own[function_of[i]].push_back(std::move(c));
        }
        if (!failures.empty()) {
          return "the functions were run on the tasks, each from the state it started in, and "
                 "did not do them all:" +
                 failures;
        }
        // In the order the model wrote them; a function no task uses is not kept.
        std::vector<std::pair<skills::NewSkill, std::vector<skills::SkillCase>>> stored;
        for (const auto& entry : entries) {
          if (own.contains(entry))
            stored.emplace_back(skills::NewSkill{.code = code_of.at(entry), .environment = env_},
                                std::move(own.at(entry)));
        }
        auto added =
            store_.AddSplit(skill.name, stored,
                            "split from " + skill.name + "; the checker agreed on each of its " +
                                std::to_string(cases.size()) + " tasks");
        if (!added) {
          report.refused = "the library refused it: " + added.error().message();
          return std::nullopt;
        }
        for (const auto& a : *added)
          report.merged += (report.merged.empty() ? "" : ", ") + a.skill.name;
        return std::nullopt;
      });
  return report;
}

}  // namespace naut::agent

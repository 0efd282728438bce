#pragma once
// Skill validation: a skill is Python source that compiles, defines exactly one public
// top-level function (the entry; helpers start with '_') with a docstring, imports only
// modules the runtime allows, and does not reach for the interpreter's escape hatches
// (eval, exec, open, __import__, dunder attributes, ...). The sandbox is the real boundary;
// this check refuses code that would only fail there, with a reason the model can act on.
//
// The check runs `python3 -I` in a subprocess with the code on stdin (Python's own parser,
// no code is executed). Thread-safe: no shared state.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace naut::skills {

struct Param {
  std::string name;
  std::optional<std::string> default_value;  // Python source of the default, if any
  std::string annotation;                    // Python source of the annotation, may be empty
};

struct SkillShape {
  std::string entry;      // the entry function's name
  std::string docstring;  // cleaned (inspect.cleandoc)
  std::vector<Param> params;
  bool is_async = false;
};

// The modules a skill may import (besides `tools`, the bridge to MCP tools).
const std::vector<std::string>& AllowedImports();

// Validates `code`. Errors: kInvalidArgument with the reason and line ("line 3: import of
// 'os' is not allowed; skills may import json, re, math, ..."), kUnavailable when python3
// cannot be run.
Result<SkillShape> ValidateSkill(const std::string& code,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A skill as TidySkill left it.
struct TidiedSkill {
  std::string code;
  std::vector<std::string> dropped;  // each removed statement's first line
  bool docstring_added = false;
};

// Repairs two slips models make in a skill that ValidateSkill would refuse, and nothing else:
// - a top-level statement that would run one of the code's own functions when the skill is
//   loaded, a call (`run()`, `x = run(2)`, `print(run())`) or an `if __name__ == "__main__":`
//   block, is dropped (models often end a skill by calling it; the agent calls it itself);
// - when the one public function has no docstring and `docstring` is not empty, `docstring`
//   (made one line) becomes its docstring.
// Any other problem is left for ValidateSkill to refuse, and code that does not parse comes
// back unchanged. Errors: kUnavailable when python3 cannot be run.
Result<TidiedSkill> TidySkill(const std::string& code, const std::string& docstring = "",
                              std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Whether `word` is one of Python's keywords (`def`, `None`, `class`, ...).
bool IsPythonKeyword(std::string_view word);

// Whether `word` can name a Python function or keyword argument: ASCII letters, digits and '_',
// not starting with a digit, and not a keyword.
bool IsPythonName(std::string_view word);

}  // namespace naut::skills

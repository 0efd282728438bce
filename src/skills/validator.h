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

// What DropLoadTimeCalls took out of a skill.
struct CleanedSkill {
  std::string code;
  std::vector<std::string> dropped;  // each removed statement's first line
};

// `code` without the top-level statements that would run one of its own functions when the
// skill is loaded: a call (`run()`, `x = run(2)`, `print(run())`) of a function the code
// defines, or an `if __name__ == "__main__":` block. Models often end a skill by calling it;
// the agent calls a skill itself, so such a statement is dropped rather than refused. Any
// other top-level statement is left for ValidateSkill to refuse, and code that does not parse
// comes back unchanged. Errors: kUnavailable when python3 cannot be run.
Result<CleanedSkill> DropLoadTimeCalls(
    const std::string& code, std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace naut::skills

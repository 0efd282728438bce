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

}  // namespace naut::skills

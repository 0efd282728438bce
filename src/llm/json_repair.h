#pragma once
// Near-JSON as local models write it, turned into JSON: trailing commas, single-quoted or bare
// keys and strings, Python literals (True/False/None), comments, unescaped newlines inside
// strings, and what a cut stream leaves (unterminated strings, missing closing brackets).
// Pure functions; safe from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::llm {

struct RepairReport {
  bool repaired = false;           // the text was not valid JSON as written
  std::vector<std::string> fixes;  // "closed 2 brackets", "removed a trailing comma", ...
};

// Parses `text` as JSON, repairing it when strict parsing fails. Only the first JSON value
// is read; text after it is ignored and reported. The error names what could not be fixed;
// text over kMaxJsonBytes or nested deeper than kMaxJsonDepth (core/json.h) is refused with
// ResourceExhausted, and the repairer stops at that depth rather than closing what it opened.
Result<Json> ParseJsonLenient(std::string_view text, RepairReport* report = nullptr);

// The index just past the JSON value (object or array) that starts at `start`, found by
// bracket matching that respects strings; npos when it never closes.
size_t FindJsonEnd(std::string_view text, size_t start);

}  // namespace naut::llm

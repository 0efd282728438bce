#pragma once
// Reading build and test tool output into structure: compiler and CMake diagnostics, Python
// tracebacks, and the test counts of CTest, pytest and unittest. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace naut::envs::exec {

struct Diagnostic {
  std::string file;      // as the tool printed it (callers may make it workspace-relative)
  int line = 0;          // 0: unknown
  int column = 0;        // 0: unknown
  std::string severity;  // error | warning | note | fatal error
  std::string message;
  Json ToJson() const;
};

// GCC/Clang "file:line:col: severity: message" (and "file:line: severity: message"),
// linker "undefined reference" errors, CMake "CMake Error at file:line (...)" blocks.
std::vector<Diagnostic> ParseCompilerDiagnostics(std::string_view output);

// The innermost `File "...", line N` of a Python traceback (or SyntaxError report) with the
// exception line as the message; nothing when `output` holds no traceback.
std::optional<Diagnostic> ParsePythonTraceback(std::string_view output);

struct TestCounts {
  int passed = 0;
  int failed = 0;  // failures and errors
  int skipped = 0;
  int total = 0;
  Json ToJson() const;
};

// "80% tests passed, 1 tests failed out of 5"; "No tests were found" gives zeros.
std::optional<TestCounts> ParseCtestSummary(std::string_view output);
// "3 passed, 1 failed, 2 skipped, 1 error in 0.12s".
std::optional<TestCounts> ParsePytestSummary(std::string_view output);
// "Ran 4 tests in 0.001s" then "OK" / "FAILED (failures=1, errors=1, skipped=1)".
std::optional<TestCounts> ParseUnittestSummary(std::string_view output);

// Replaces a leading `prefix` + "/" of diagnostic files ("/work/pkg/a.cc" -> "pkg/a.cc").
void StripPathPrefix(std::vector<Diagnostic>& diagnostics, std::string_view prefix);

}  // namespace naut::envs::exec

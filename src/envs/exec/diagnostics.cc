#include "envs/exec/diagnostics.h"

#include <re2/re2.h>

#include <sstream>

namespace naut::envs::exec {

namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

int CountBefore(std::string_view text, const RE2& pattern) {
  int n = 0;
  if (RE2::PartialMatch(text, pattern, &n)) return n;
  return 0;
}

}  // namespace

Json Diagnostic::ToJson() const {
  return {{"file", file},
          {"line", line},
          {"column", column},
          {"severity", severity},
          {"message", message}};
}

Json TestCounts::ToJson() const {
  return {{"passed", passed}, {"failed", failed}, {"skipped", skipped}, {"total", total}};
}

std::vector<Diagnostic> ParseCompilerDiagnostics(std::string_view output) {
  static const RE2 with_column(R"(^(.+?):(\d+):(\d+): (fatal error|error|warning|note): (.*)$)");
  static const RE2 without_column(R"(^(.+?):(\d+): (fatal error|error|warning|note): (.*)$)");
  static const RE2 linker(
      R"(^(?:/usr/bin/ld: )?(.+?):(?:\(.*\)|\d+)?:? (undefined reference to .*)$)");
  static const RE2 cmake(R"(^CMake (Error|Warning)(?: \(dev\))? at (.+?):(\d+) \((.*)\):\s*$)");
  static const RE2 cmake_plain(R"(^CMake (Error|Warning): (.*)$)");
  std::vector<Diagnostic> out;
  auto lines = Lines(output);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    Diagnostic d;
    std::string line_no, column_no, severity;
    if (RE2::FullMatch(line, with_column, &d.file, &line_no, &column_no, &d.severity, &d.message)) {
      d.line = std::stoi(line_no);
      d.column = std::stoi(column_no);
      out.push_back(std::move(d));
    } else if (RE2::FullMatch(line, without_column, &d.file, &line_no, &d.severity, &d.message)) {
      d.line = std::stoi(line_no);
      out.push_back(std::move(d));
    } else if (RE2::FullMatch(line, cmake, &severity, &d.file, &line_no, &d.message)) {
      d.severity = severity == "Error" ? "error" : "warning";
      d.line = std::stoi(line_no);
      // The explanation is the indented block that follows.
      std::string detail;
      for (size_t j = i + 1; j < lines.size(); ++j) {
        if (lines[j].empty() && detail.empty()) continue;
        if (lines[j].empty() || (lines[j][0] != ' ' && lines[j][0] != '\t')) break;
        if (!detail.empty()) detail += " ";
        detail += Trim(lines[j]);
      }
      d.message = detail.empty() ? "in " + d.message : detail;
      out.push_back(std::move(d));
    } else if (RE2::FullMatch(line, cmake_plain, &severity, &d.message)) {
      d.severity = severity == "Error" ? "error" : "warning";
      out.push_back(std::move(d));
    } else if (line.find("undefined reference to") != std::string_view::npos &&
               RE2::FullMatch(line, linker, &d.file, &d.message)) {
      d.severity = "error";
      out.push_back(std::move(d));
    }
  }
  return out;
}

std::optional<Diagnostic> ParsePythonTraceback(std::string_view output) {
  static const RE2 frame(R"re(^\s*File "(.+)", line (\d+).*$)re");
  static const RE2 exception(
      R"(^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|KeyboardInterrupt|StopIteration)(?::\s?(.*))?$)");
  std::optional<Diagnostic> found;
  std::string file, line_no;
  auto lines = Lines(output);
  for (auto& line : lines) {
    if (RE2::FullMatch(line, frame, &file, &line_no)) {
      Diagnostic d;
      d.file = file;
      d.line = std::stoi(line_no);
      d.severity = "error";
      found = d;
      continue;
    }
    std::string name, message;
    if (found && found->message.empty() && RE2::FullMatch(line, exception, &name, &message)) {
      found->message = message.empty() ? name : name + ": " + message;
    }
  }
  if (found && found->message.empty()) found->message = "traceback";
  return found;
}

std::optional<TestCounts> ParseCtestSummary(std::string_view output) {
  static const RE2 summary(R"((\d+)% tests passed, (\d+) tests? failed out of (\d+))");
  int percent = 0, failed = 0, total = 0;
  if (RE2::PartialMatch(output, summary, &percent, &failed, &total)) {
    TestCounts c;
    c.failed = failed;
    c.total = total;
    c.passed = total - failed;
    static const RE2 skipped(R"((\d+)\s+tests? (?:were|was) (?:not run|skipped))");
    c.skipped = CountBefore(output, skipped);
    return c;
  }
  if (output.find("No tests were found") != std::string_view::npos) return TestCounts{};
  return std::nullopt;
}

std::optional<TestCounts> ParsePytestSummary(std::string_view output) {
  static const RE2 line(R"((?m)^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s)");
  std::string counts;
  if (!RE2::PartialMatch(output, line, &counts)) {
    if (output.find("no tests ran") != std::string_view::npos) return TestCounts{};
    return std::nullopt;
  }
  TestCounts c;
  static const RE2 passed(R"((\d+) passed)"), failed(R"((\d+) failed)"), errors(R"((\d+) errors?)"),
      skipped(R"((\d+) skipped)");
  c.passed = CountBefore(counts, passed);
  c.failed = CountBefore(counts, failed) + CountBefore(counts, errors);
  c.skipped = CountBefore(counts, skipped);
  c.total = c.passed + c.failed + c.skipped;
  return c;
}

std::optional<TestCounts> ParseUnittestSummary(std::string_view output) {
  static const RE2 ran(R"(Ran (\d+) tests? in)");
  int total = 0;
  if (!RE2::PartialMatch(output, ran, &total)) return std::nullopt;
  TestCounts c;
  c.total = total;
  static const RE2 failures(R"(FAILED \(.*failures=(\d+))"), errors(R"(FAILED \(.*errors=(\d+))"),
      skipped(R"((?:OK|FAILED) \(.*skipped=(\d+))");
  c.failed = CountBefore(output, failures) + CountBefore(output, errors);
  c.skipped = CountBefore(output, skipped);
  c.passed = total - c.failed - c.skipped;
  return c;
}

void StripPathPrefix(std::vector<Diagnostic>& diagnostics, std::string_view prefix) {
  std::string with_slash = std::string(prefix) + "/";
  for (auto& d : diagnostics) {
    if (d.file.rfind(with_slash, 0) == 0) d.file = d.file.substr(with_slash.size());
  }
}

}  // namespace naut::envs::exec

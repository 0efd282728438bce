#include "llm/json_repair.h"

#include <fmt/format.h>

#include <cctype>
#include <optional>

namespace naut::llm {

namespace {

// Rewrites near-JSON into strict JSON text in one pass. Why a rewriter and not a second
// parser: nlohmann's parser stays the only judge of what JSON is; this only adds the quotes,
// commas and brackets a model left out.
class Repairer {
 public:
  Repairer(std::string_view in, RepairReport& report) : in_(in), report_(report) {}

  // The repaired text; nullopt when the value opens more than kMaxJsonDepth brackets, which
  // no repair should produce (and the parser would refuse).
  std::optional<std::string> Run() {
    while (!done_) {
      SkipSpaceAndComments();
      if (i_ >= in_.size()) break;
      Step();
    }
    if (too_deep_) return std::nullopt;
    Finish();
    return out_;
  }

 private:
  enum class Want { kValue, kKey, kColon, kCommaOrClose };
  struct Frame {
    char open;  // '{' or '['
  };

  void Note(const std::string& fix) {
    report_.repaired = true;
    for (const auto& f : report_.fixes) {
      if (f == fix) return;
    }
    report_.fixes.push_back(fix);
  }

  bool InObject() const { return !stack_.empty() && stack_.back().open == '{'; }

  void SkipSpaceAndComments() {
    while (i_ < in_.size()) {
      char c = in_[i_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (c == '/' && i_ + 1 < in_.size() && in_[i_ + 1] == '/') {
        Note("removed comments");
        while (i_ < in_.size() && in_[i_] != '\n') ++i_;
      } else if (c == '/' && i_ + 1 < in_.size() && in_[i_ + 1] == '*') {
        Note("removed comments");
        size_t end = in_.find("*/", i_ + 2);
        i_ = end == std::string_view::npos ? in_.size() : end + 2;
      } else {
        return;
      }
    }
  }

  void AfterValue() {
    if (stack_.empty()) {
      done_ = true;
      SkipSpaceAndComments();
      if (i_ < in_.size()) Note("ignored text after the JSON value");
    } else {
      want_ = Want::kCommaOrClose;
    }
  }

  void Close(char c) {
    char open = c == '}' ? '{' : '[';
    size_t depth = stack_.size();
    while (depth > 0 && stack_[depth - 1].open != open) --depth;
    ++i_;
    if (depth == 0) {
      Note("dropped an unmatched '" + std::string(1, c) + "'");
      return;
    }
    while (stack_.size() >= depth) {
      if (stack_.size() > depth) Note("closed a bracket the model left open");
      if (stack_.back().open == '{' && (want_ == Want::kColon)) out_ += ":null";
      if (stack_.back().open == '{' && want_ == Want::kValue && !out_.empty() &&
          out_.back() == ':') {
        out_ += "null";
      }
      out_ += stack_.back().open == '{' ? '}' : ']';
      stack_.pop_back();
      want_ = Want::kCommaOrClose;
    }
    AfterValue();
  }

  void Step() {
    char c = in_[i_];
    switch (want_) {
      case Want::kCommaOrClose:
        if (c == ',') {
          ++i_;
          SkipSpaceAndComments();
          if (i_ >= in_.size() || in_[i_] == '}' || in_[i_] == ']') {
            Note("removed a trailing comma");
            return;
          }
          out_ += ',';
          want_ = InObject() ? Want::kKey : Want::kValue;
        } else if (c == '}' || c == ']') {
          Close(c);
        } else if (c == ':' || c == ';') {
          Note("dropped a stray '" + std::string(1, c) + "'");
          ++i_;
        } else {
          Note("inserted a missing comma");
          out_ += ',';
          want_ = InObject() ? Want::kKey : Want::kValue;
        }
        return;
      case Want::kColon:
        if (c == ':' || c == '=') {
          if (c == '=') Note("replaced '=' with ':'");
          ++i_;
        } else {
          Note("inserted a missing ':'");
        }
        out_ += ':';
        want_ = Want::kValue;
        return;
      case Want::kKey:
        if (c == '}' || c == ']') {
          Close(c);
        } else if (c == '"' || c == '\'') {
          ReadString(c);
          want_ = Want::kColon;
        } else if (c == ',') {
          Note("removed an extra comma");
          ++i_;
        } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$') {
          Note("quoted bare keys");
          ReadBare(/*key=*/true);
          want_ = Want::kColon;
        } else {
          Note("dropped a stray '" + std::string(1, c) + "'");
          ++i_;
        }
        return;
      case Want::kValue:
        ReadValue(c);
        return;
    }
  }

  void ReadValue(char c) {
    if (c == '{' || c == '[') {
      if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
        too_deep_ = done_ = true;
        return;
      }
      stack_.push_back({c});
      out_ += c;
      ++i_;
      want_ = c == '{' ? Want::kKey : Want::kValue;
    } else if (c == '}' || c == ']') {
      Close(c);
    } else if (c == '"' || c == '\'') {
      ReadString(c);
      AfterValue();
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      ReadNumber();
      AfterValue();
    } else if (c == ',') {
      Note("removed an extra comma");
      ++i_;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      ReadBare(/*key=*/false);
      AfterValue();
    } else {
      Note("dropped a stray '" + std::string(1, c) + "'");
      ++i_;
    }
  }

  // Where a string ends when its quotes are not escaped properly: a quote followed by
  // something that can follow a string. A quote followed by more words is part of the text.
  bool QuoteEndsString(size_t at) const {
    size_t j = at + 1;
    while (j < in_.size() && (in_[j] == ' ' || in_[j] == '\t' || in_[j] == '\r')) ++j;
    if (j >= in_.size() || in_[j] == '\n') return true;
    char n = in_[j];
    // A quote right after is a missing comma between two strings ("a" "b").
    return n == ',' || n == '}' || n == ']' || n == ':' || n == '"';
  }

  void ReadString(char quote) {
    if (quote == '\'') Note("replaced single quotes");
    out_ += '"';
    ++i_;
    while (true) {
      if (i_ >= in_.size()) {
        Note("closed an unterminated string");
        out_ += '"';
        return;
      }
      char ch = in_[i_];
      if (ch == '\\') {
        if (i_ + 1 >= in_.size()) {
          ++i_;
          continue;
        }
        char n = in_[i_ + 1];
        if (n == '\'') {
          out_ += '\'';
        } else if (n == 'u') {
          bool hex = i_ + 5 < in_.size();
          for (size_t k = 2; hex && k < 6; ++k)
            hex = std::isxdigit(static_cast<unsigned char>(in_[i_ + k]));
          if (!hex) {
            Note("escaped a stray backslash");
            out_ += "\\\\";
            ++i_;
            continue;
          }
          out_ += in_.substr(i_, 2);
        } else if (std::string_view("\"\\/bfnrt").find(n) != std::string_view::npos) {
          out_ += ch;
          out_ += n;
        } else {
          Note("escaped a stray backslash");
          out_ += "\\\\";
          ++i_;
          continue;
        }
        i_ += 2;
        continue;
      }
      if (ch == quote) {
        if (QuoteEndsString(i_)) {
          ++i_;
          out_ += '"';
          return;
        }
        Note("escaped quotes inside a string");
        out_ += "\\\"";
        ++i_;
        continue;
      }
      if (ch == '"') {
        out_ += "\\\"";
      } else if (ch == '\n') {
        Note("escaped newlines inside a string");
        out_ += "\\n";
      } else if (ch == '\t') {
        out_ += "\\t";
      } else if (ch == '\r') {
        out_ += "\\r";
      } else if (static_cast<unsigned char>(ch) < 0x20) {
        out_ += fmt::format("\\u{:04x}", static_cast<int>(ch));
      } else {
        out_ += ch;
      }
      ++i_;
    }
  }

  void ReadNumber() {
    size_t start = i_;
    while (i_ < in_.size() && (std::isalnum(static_cast<unsigned char>(in_[i_])) ||
                               in_[i_] == '.' || in_[i_] == '-' || in_[i_] == '+')) {
      ++i_;
    }
    std::string tok(in_.substr(start, i_ - start));
    std::string num = tok;
    if (!num.empty() && num[0] == '+') num.erase(0, 1);
    if (!num.empty() && num[0] == '.') num.insert(0, "0");
    if (num.size() > 1 && num.back() == '.') num += '0';
    auto parsed = ParseJson(num, "number");
    if (parsed && parsed->is_number()) {
      if (num != tok) Note("normalised a number");
      out_ += parsed->dump();
    } else {
      Note("quoted a value that is not a number");
      out_ += DumpJson(Json(tok));
    }
  }

  void ReadBare(bool key) {
    size_t start = i_;
    if (key) {
      while (i_ < in_.size() &&
             (std::isalnum(static_cast<unsigned char>(in_[i_])) || in_[i_] == '_' ||
              in_[i_] == '-' || in_[i_] == '$' || in_[i_] == '.')) {
        ++i_;
      }
      out_ += DumpJson(Json(std::string(in_.substr(start, i_ - start))));
      return;
    }
    while (i_ < in_.size() && std::string_view(",}]\n").find(in_[i_]) == std::string_view::npos)
      ++i_;
    std::string word(in_.substr(start, i_ - start));
    while (!word.empty() && std::isspace(static_cast<unsigned char>(word.back()))) word.pop_back();
    if (word == "true" || word == "false" || word == "null") {
      out_ += word;
    } else if (word == "True" || word == "False") {
      Note("replaced Python literals");
      out_ += word == "True" ? "true" : "false";
    } else if (word == "None" || word == "undefined" || word == "NaN" || word == "Infinity") {
      Note("replaced " + word + " with null");
      out_ += "null";
    } else {
      Note("quoted a bare string");
      out_ += DumpJson(Json(word));  // invalid UTF-8 becomes U+FFFD, never an exception
    }
  }

  void Finish() {
    if (stack_.empty()) return;
    if (want_ == Want::kColon) out_ += ":null";
    if (want_ == Want::kValue && InObject() && !out_.empty() && out_.back() == ':') out_ += "null";
    Note(fmt::format("closed {} bracket(s) left open by a cut answer", stack_.size()));
    while (!stack_.empty()) {
      out_ += stack_.back().open == '{' ? '}' : ']';
      stack_.pop_back();
    }
  }

  std::string_view in_;
  RepairReport& report_;
  size_t i_ = 0;
  std::string out_;
  std::vector<Frame> stack_;
  Want want_ = Want::kValue;
  bool done_ = false;
  bool too_deep_ = false;
};

}  // namespace

Result<Json> ParseJsonLenient(std::string_view text, RepairReport* report) {
  RepairReport local;
  RepairReport& rep = report ? *report : local;
  rep = {};
  auto strict = ParseJson(text, "model output");
  if (strict) return strict;
  // Too big is not a slip a repair could fix. Too deep may be: the depth count takes stray
  // brackets at face value ("{{{{" before a call), which the repairer drops; what it keeps
  // is bounded by the same depth.
  if (text.size() > kMaxJsonBytes) return strict.error();
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  if (start == text.size()) return InvalidArgument("expected JSON, got empty text");
  // Repair completes what a model began; text that does not begin like JSON is not JSON.
  if (std::string_view("{[\"'-0123456789").find(text[start]) == std::string_view::npos) {
    return InvalidArgument("not valid JSON: '" + std::string(text.substr(start, 40)) +
                           "' does not start with a JSON value");
  }
  std::optional<std::string> fixed = Repairer(text.substr(start), rep).Run();
  rep.repaired = true;
  if (!fixed) {
    return ResourceExhausted("model output: JSON nests deeper than " +
                             std::to_string(kMaxJsonDepth) + " levels");
  }
  auto parsed = ParseJson(*fixed, "repaired model output");
  if (!parsed && parsed.error().code() == Code::kResourceExhausted) return parsed.error();
  if (!parsed || fixed->empty()) {
    std::string shown(text.substr(start, 80));
    return InvalidArgument("not valid JSON and not repairable: '" + shown +
                           (text.size() > start + 80 ? "...'" : "'"));
  }
  return parsed;
}

size_t FindJsonEnd(std::string_view text, size_t start) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace naut::llm

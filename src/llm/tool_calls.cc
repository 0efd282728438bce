#include "llm/tool_calls.h"

#include <algorithm>
#include <cctype>

#include "core/json_schema.h"
#include "core/tool_name.h"
#include "llm/json_repair.h"

namespace naut::llm {

namespace {

// Arguments travel inside a tools/call request, a few levels down; what the servers parse must
// stay within kMaxJsonDepth.
constexpr int kMaxArgumentsDepth = kMaxJsonDepth - 8;

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Shorten(std::string s, size_t n = 80) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

bool IsNameKey(const std::string& k) {
  return k == "name" || k == "tool" || k == "tool_name" || k == "function";
}
bool IsArgsKey(const std::string& k) {
  return k == "arguments" || k == "parameters" || k == "args" || k == "input" || k == "params";
}

struct Span {
  size_t begin, end;
};

void RemoveSpans(std::string& text, std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin > b.begin; });
  size_t last = std::string::npos;
  for (const auto& s : spans) {
    if (last != std::string::npos && s.end > last) continue;  // overlaps a removed span
    text.erase(s.begin, s.end - s.begin);
    last = s.begin;
  }
}

}  // namespace

std::string ParsedToolCalls::Correction() const {
  if (problems.empty()) return {};
  std::string s = "Not every tool call of your answer was run:\n";
  for (const auto& p : problems) s += "- " + p + "\n";
  s += "Reply with a corrected call: the exact tool name and a JSON object of arguments that "
       "matches its schema.";
  return s;
}

ToolCallParser::ToolCallParser(std::vector<ToolSpec> tools) : tools_(std::move(tools)) {}

const ToolSpec* ToolCallParser::Resolve(const std::string& name, std::string* note) const {
  for (const auto& t : tools_) {
    if (t.name == name) return &t;
  }
  const ToolSpec* found = nullptr;
  int matches = 0;
  std::string want = Lower(Trim(name));
  // "rpg.send_message" for "rpg__send_message".
  if (auto dot = want.find('.'); dot != std::string::npos)
    want = JoinToolName(want.substr(0, dot), want.substr(dot + 1));
  for (const auto& t : tools_) {
    std::string have = Lower(t.name);
    auto parts = SplitToolName(have);
    if (have == want || (parts && parts->tool == want)) {
      found = &t;
      ++matches;
    }
  }
  if (matches == 1) {
    *note = "tool name '" + name + "' read as '" + found->name + "'";
    return found;
  }
  return nullptr;
}

void ToolCallParser::Accept(const std::string& name, Json arguments, const std::string& raw,
                            const std::string& id, ParsedToolCalls& out) const {
  if (name.empty()) {
    out.problems.push_back("a tool call has no tool name: " + Shorten(raw));
    return;
  }
  std::string note;
  const ToolSpec* spec = Resolve(name, &note);
  if (!spec) {
    std::string names;
    for (size_t i = 0; i < tools_.size() && i < 15; ++i) names += (i ? ", " : "") + tools_[i].name;
    if (tools_.size() > 15) names += ", ...";
    out.problems.push_back(
        "unknown tool '" + Shorten(name, 60) + "'" +
        (tools_.empty() ? "; no tools are available" : "; available tools: " + names));
    return;
  }
  if (!note.empty()) out.repairs.push_back(note);
  std::string text = arguments.is_string() ? arguments.get<std::string>() : DumpJson(arguments);
  if (arguments.is_string()) {
    std::string s = Trim(arguments.get<std::string>());
    RepairReport report;
    auto parsed = s.empty() ? Result<Json>(Json::object()) : ParseJsonLenient(s, &report);
    if (!parsed) {
      out.problems.push_back("tool '" + spec->name + "': arguments are not valid JSON (" +
                             parsed.error().message() + ")");
      return;
    }
    if (report.repaired) out.repairs.push_back("tool '" + spec->name + "': arguments repaired");
    arguments = *parsed;
  }
  if (arguments.is_null()) {
    out.problems.push_back("tool '" + spec->name +
                           "': arguments are not valid JSON: " + Shorten(raw));
    return;
  }
  if (!arguments.is_object()) {
    out.problems.push_back("tool '" + spec->name + "': arguments must be a JSON object, got " +
                           std::string(JsonTypeName(arguments)));
    return;
  }
  JsonSchemaOptions model = JsonSchemaOptions::ForModel();
  model.read_json_text = [](std::string_view text) { return ParseJsonLenient(text); };
  JsonSchemaReport report = CheckJsonSchema(arguments, spec->parameters, "arguments", model);
  for (auto& repair : report.repairs) out.repairs.push_back(std::move(repair));
  std::vector<std::string> problems = std::move(report.problems);
  // A string argument read as JSON (a repair) can nest the whole lenient-parse limit below a
  // few levels of arguments; no tool server would accept that.
  if (JsonDepth(arguments) > kMaxArgumentsDepth) {
    problems.push_back("arguments nest deeper than " + std::to_string(kMaxArgumentsDepth) +
                       " levels");
  }
  if (!problems.empty()) {
    for (const auto& p : problems) out.problems.push_back("tool '" + spec->name + "': " + p);
    return;
  }
  ToolCall call;
  call.id = id.empty() ? "call_" + std::to_string(out.calls.size()) : id;
  call.name = spec->name;
  call.arguments = std::move(arguments);
  call.arguments_text = std::move(text);
  out.calls.push_back(std::move(call));
}

void ToolCallParser::AcceptObject(const Json& obj, const std::string& raw,
                                  ParsedToolCalls& out) const {
  if (obj.is_array()) {
    for (const auto& item : obj) AcceptObject(item, raw, out);
    return;
  }
  if (!obj.is_object()) {
    out.problems.push_back(
        "expected a tool call object {\"name\": ..., \"arguments\": {...}}, got " +
        std::string(JsonTypeName(obj)));
    return;
  }
  if (obj.contains("tool_calls") && obj["tool_calls"].is_array()) {
    AcceptObject(obj["tool_calls"], raw, out);
    return;
  }
  // OpenAI shape {"type": "function", "function": {"name", "arguments"}}.
  if (obj.contains("function") && obj["function"].is_object()) {
    Json inner = obj["function"];
    if (obj.contains("id") && !inner.contains("id")) inner["id"] = obj["id"];
    AcceptObject(inner, raw, out);
    return;
  }
  std::string name;
  Json args = Json::object();
  for (const auto& [k, v] : obj.items()) {
    if (IsNameKey(k) && v.is_string() && name.empty()) name = v.get<std::string>();
    if (IsArgsKey(k)) args = v;
  }
  std::string id = obj.contains("id") && obj["id"].is_string() ? obj["id"].get<std::string>() : "";
  Accept(name, args, raw, id, out);
}

namespace {

bool LooksLikeCall(const Json& j) {
  if (j.is_array()) return !j.empty() && std::all_of(j.begin(), j.end(), LooksLikeCall);
  if (!j.is_object()) return false;
  if (j.contains("tool_calls") && j["tool_calls"].is_array()) return true;
  if (j.contains("function") && j["function"].is_object()) return LooksLikeCall(j["function"]);
  bool name = false, args = false;
  for (const auto& [k, v] : j.items()) {
    name = name || (IsNameKey(k) && v.is_string());
    args = args || IsArgsKey(k);
  }
  return name && (args || j.size() == 1);
}

// The JSON value starting at `start`: up to its closing bracket, or the rest of the text when
// a cut stream never closed it.
size_t ValueEnd(std::string_view text, size_t start) {
  size_t end = FindJsonEnd(text, start);
  return end == std::string_view::npos ? text.size() : end;
}

// A small model that loses its place writes the same call again and again until it runs out of
// tokens (seen with Qwen2.5-Coder-0.5B: 27 identical send_message calls in one answer). A call
// is made once; its repeats right after it are dropped and the model is told so.
void DropRepeats(ParsedToolCalls& out) {
  std::vector<ToolCall> kept;
  for (size_t i = 0; i < out.calls.size();) {
    size_t same = i + 1;
    while (same < out.calls.size() && out.calls[same].name == out.calls[i].name &&
           out.calls[same].arguments == out.calls[i].arguments) {
      ++same;
    }
    if (same - i > 1) {
      out.problems.push_back(out.calls[i].name + " was called " + std::to_string(same - i) +
                             " times in a row with the same arguments; it was run once. Wait for "
                             "a call's result before you repeat it.");
    }
    kept.push_back(std::move(out.calls[i]));
    i = same;
  }
  out.calls = std::move(kept);
}

}  // namespace

// One answer's content, read for calls format by format. Each format's reader removes nothing
// itself: it records the spans it took, and Finish() cuts them out of the text at the end.
class ToolCallParser::ContentScan {
 public:
  ContentScan(const ToolCallParser& parser, std::string_view content)
      : parser_(parser), text_(WithoutReasoning(ValidUtf8(content))) {}

  ParsedToolCalls Run() && {
    Mistral();
    TaggedCalls();
    LlamaFunctions();
    PythonTags();
    // Fenced or bare JSON count only when no tagged format was used.
    if (!out_.from_content) Fenced();
    if (!out_.from_content) BareJson();
    return std::move(*this).Finish();
  }

 private:
  // Model text is not always valid UTF-8 (what is parsed, repaired and echoed back must be),
  // and reasoning is not where calls are made: a <think> block may quote example JSON.
  static std::string WithoutReasoning(std::string text) {
    for (size_t b; (b = text.find("<think>")) != std::string::npos;) {
      size_t e = text.find("</think>", b);
      text.erase(b, e == std::string::npos ? std::string::npos : e + 8 - b);
    }
    return text;
  }

  void Took(size_t begin, size_t end) {
    spans_.push_back({begin, end});
    out_.from_content = true;
  }

  bool Taken(size_t at) const {
    return std::any_of(spans_.begin(), spans_.end(),
                       [&](const Span& sp) { return at >= sp.begin && at < sp.end; });
  }

  size_t SkipSpace(size_t at) const {
    while (at < text_.size() && std::isspace(static_cast<unsigned char>(text_[at]))) ++at;
    return at;
  }

  // The JSON value at `json_start`, read as one or more calls; the span from `span_begin` to
  // the value's end (or `span_end_min`, if later) is taken. Returns where the span ends.
  size_t ParseAt(size_t json_start, size_t span_begin, size_t span_end_min,
                 const std::string& what) {
    size_t end = ValueEnd(text_, json_start);
    std::string raw = text_.substr(json_start, end - json_start);
    RepairReport report;
    auto parsed = ParseJsonLenient(raw, &report);
    if (!parsed) {
      out_.problems.push_back("could not read the tool call after " + what + ": " +
                              parsed.error().message());
    } else {
      if (report.repaired) out_.repairs.push_back(what + " call JSON repaired");
      parser_.AcceptObject(*parsed, raw, out_);
    }
    Took(span_begin, std::max(end, span_end_min));
    return std::max(end, span_end_min);
  }

  // Mistral: [TOOL_CALLS] followed by a JSON array/object, or name[ARGS]{...} (v11 template).
  void Mistral() {
    constexpr std::string_view kTag = "[TOOL_CALLS]";
    for (size_t pos = text_.find(kTag); pos != std::string::npos; pos = text_.find(kTag, pos)) {
      size_t j = SkipSpace(pos + kTag.size());
      if (j < text_.size() && (text_[j] == '[' || text_[j] == '{')) {
        pos = ParseAt(j, pos, 0, std::string(kTag));
        continue;
      }
      size_t args = text_.find("[ARGS]", j);
      size_t next = text_.find(kTag, j);
      if (args != std::string::npos && (next == std::string::npos || args < next)) {
        std::string name = Trim(std::string_view(text_).substr(j, args - j));
        size_t a = SkipSpace(args + 6);
        size_t end = a < text_.size() && text_[a] == '{' ? ValueEnd(text_, a) : a;
        std::string raw = text_.substr(a, end - a);
        parser_.Accept(name, Json(raw), raw, "", out_);
        Took(pos, end);
        pos = end;
        continue;
      }
      out_.problems.emplace_back("[TOOL_CALLS] is not followed by a JSON list of calls");
      Took(pos, pos + kTag.size());
      pos += kTag.size();
    }
  }

  // Hermes / Qwen: <tool_call>{...}</tool_call>, the closing tag possibly lost to a cut stream;
  // Qwen3-Coder writes <function=...> inside the tags instead of JSON.
  void TaggedCalls() {
    for (size_t pos = text_.find("<tool_call>"); pos != std::string::npos;
         pos = text_.find("<tool_call>", pos)) {
      size_t body = pos + 11;
      size_t close = text_.find("</tool_call>", body);
      size_t next = text_.find("<tool_call>", body);
      size_t limit = std::min(close, next);
      const size_t closed_end = close != std::string::npos && close < next ? close + 12 : 0;
      size_t first = SkipSpace(body);
      if (text_.compare(first, 10, "<function=") == 0) {
        const size_t region_end = limit == std::string::npos ? text_.size() : limit;
        const size_t end = closed_end ? closed_end : region_end;
        QwenXmlCall(first, region_end, pos, end);
        pos = end;
        continue;
      }
      size_t brace = text_.find_first_of("{[", body);
      if (brace == std::string::npos || brace >= limit) {
        out_.problems.emplace_back(
            "<tool_call> holds no JSON object {\"name\": ..., \"arguments\": {...}}");
        size_t end = close == std::string::npos ? (next == std::string::npos ? text_.size() : next)
                                                : close + 12;
        Took(pos, end);
        pos = end;
        continue;
      }
      pos = ParseAt(brace, pos, closed_end, "<tool_call>");
    }
  }

  // Qwen3-Coder: <function=name><parameter=key>value</parameter>...</function> between
  // `first` and `region_end`, values as text (the schema check repairs numbers, booleans,
  // objects and arrays). The call spans `span_begin` to `span_end`.
  void QwenXmlCall(size_t first, size_t region_end, size_t span_begin, size_t span_end) {
    size_t gt = text_.find('>', first);
    if (gt == std::string::npos || gt > region_end) gt = region_end;
    std::string name = Trim(std::string_view(text_).substr(first + 10, gt - first - 10));
    Json args = Json::object();
    for (size_t p = text_.find("<parameter=", gt); p != std::string::npos && p < region_end;) {
      size_t pg = text_.find('>', p);
      if (pg == std::string::npos || pg >= region_end) break;
      std::string key = Trim(std::string_view(text_).substr(p + 11, pg - p - 11));
      size_t pc = text_.find("</parameter>", pg);
      size_t next_param = text_.find("<parameter=", pg);
      size_t stop = std::min({pc, next_param, region_end});
      std::string value = text_.substr(pg + 1, stop - pg - 1);
      if (!value.empty() && value.front() == '\n') value.erase(0, 1);
      if (!value.empty() && value.back() == '\n') value.pop_back();
      args[key] = value;
      p = stop == pc ? pc + 12 : stop;
      if (p >= region_end) break;
      p = text_.find("<parameter=", p);
    }
    parser_.Accept(name, args, text_.substr(span_begin, span_end - span_begin), "", out_);
    Took(span_begin, span_end);
  }

  // Llama 3.x: <function=name>{...}</function>.
  void LlamaFunctions() {
    for (size_t pos = text_.find("<function="); pos != std::string::npos;
         pos = text_.find("<function=", pos)) {
      if (Taken(pos)) {
        ++pos;
        continue;
      }
      size_t gt = text_.find('>', pos);
      if (gt == std::string::npos) break;
      std::string name = Trim(std::string_view(text_).substr(pos + 10, gt - pos - 10));
      size_t brace = text_.find('{', gt);
      size_t close = text_.find("</function>", gt);
      size_t end = brace == std::string::npos ? gt + 1 : ValueEnd(text_, brace);
      std::string raw = brace == std::string::npos ? "{}" : text_.substr(brace, end - brace);
      parser_.Accept(name, Json(raw), raw, "", out_);
      if (close != std::string::npos && close >= end) end = close + 11;
      Took(pos, end);
      pos = end;
    }
  }

  // Llama 3.x: <|python_tag|>{...}, possibly followed by <|eom_id|>.
  void PythonTags() {
    for (size_t pos = text_.find("<|python_tag|>"); pos != std::string::npos;
         pos = text_.find("<|python_tag|>", pos)) {
      size_t brace = text_.find_first_of("{[", pos);
      if (brace == std::string::npos) {
        spans_.push_back({pos, pos + 14});
        pos += 14;
        continue;
      }
      pos = ParseAt(brace, pos, 0, "<|python_tag|>");
      size_t eom = text_.find("<|eom_id|>", pos);
      if (eom == pos) spans_.back().end = pos + 10;
    }
  }

  // ```json {...} ``` blocks that hold something shaped like a call.
  void Fenced() {
    for (size_t pos = text_.find("```"); pos != std::string::npos;) {
      size_t nl = text_.find('\n', pos);
      if (nl == std::string::npos) break;
      size_t close = text_.find("```", nl);
      size_t body_end = close == std::string::npos ? text_.size() : close;
      std::string body = Trim(std::string_view(text_).substr(nl + 1, body_end - nl - 1));
      if (!body.empty() && (body[0] == '{' || body[0] == '[')) {
        auto parsed = ParseJsonLenient(body);
        if (parsed.ok() && LooksLikeCall(*parsed)) {
          parser_.AcceptObject(*parsed, body, out_);
          Took(pos, close == std::string::npos ? text_.size() : close + 3);
        }
      }
      if (close == std::string::npos) break;
      pos = text_.find("```", close + 3);
    }
  }

  // A JSON value anywhere in the text shaped like a call. Bounded: a pathological answer full
  // of brackets must not cost quadratic time.
  void BareJson() {
    int candidates = 0;
    bool tried_unclosed = false;
    for (size_t pos = text_.find_first_of("{["); pos != std::string::npos && candidates < 64;
         ++candidates) {
      size_t closed = FindJsonEnd(text_, pos);
      if (closed == std::string::npos && tried_unclosed) {
        pos = text_.find_first_of("{[", pos + 1);
        continue;
      }
      tried_unclosed = tried_unclosed || closed == std::string::npos;
      size_t end = closed == std::string::npos ? text_.size() : closed;
      std::string raw = text_.substr(pos, end - pos);
      auto parsed = ParseJsonLenient(raw);
      if (parsed.ok() && LooksLikeCall(*parsed)) {
        parser_.AcceptObject(*parsed, raw, out_);
        Took(pos, end);
        pos = text_.find_first_of("{[", end);
      } else if (parsed.ok() && end < text_.size()) {
        pos = text_.find_first_of("{[", end);
      } else {
        pos = text_.find_first_of("{[", pos + 1);
      }
    }
  }

  // The text without the calls and the end-of-turn markers some templates leave behind.
  ParsedToolCalls Finish() && {
    RemoveSpans(text_, spans_);
    for (const char* marker :
         {"</tool_call>", "<|eom_id|>", "<|eot_id|>", "</s>", "<|tool_call|>"}) {
      for (size_t p; (p = text_.find(marker)) != std::string::npos;)
        text_.erase(p, std::string_view(marker).size());
    }
    out_.text = Trim(text_);
    DropRepeats(out_);
    return std::move(out_);
  }

  const ToolCallParser& parser_;
  std::string text_;
  std::vector<Span> spans_;
  ParsedToolCalls out_;
};

ParsedToolCalls ToolCallParser::ParseContent(std::string_view content) const {
  return ContentScan(*this, content).Run();
}

ParsedToolCalls ToolCallParser::Parse(const ChatResponse& response) const {
  if (response.tool_calls.empty()) return ParseContent(response.content);
  ParsedToolCalls out;
  for (const auto& call : response.tool_calls) {
    // Null arguments: the backend could not read them; the repairer gets one more look.
    Json args = call.arguments.is_null() ? Json(call.arguments_text) : call.arguments;
    Accept(call.name, args, call.arguments_text, call.id, out);
    if (!out.calls.empty() && out.calls.back().id == call.id)
      out.calls.back().arguments_text = call.arguments_text;
  }
  out.text = Trim(response.content);
  DropRepeats(out);
  return out;
}

}  // namespace naut::llm

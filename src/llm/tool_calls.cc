#include "llm/tool_calls.h"

#include <algorithm>
#include <cctype>
#include <cmath>

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

std::string TypeOf(const Json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number_float()) return "number";
  return std::string(JsonTypeName(v));
}

bool HasType(const Json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "integer")
    return v.is_number_integer() || v.is_number_unsigned() ||
           (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  return true;  // an unknown type name constrains nothing
}

std::vector<std::string> TypesOf(const Json& schema) {
  std::vector<std::string> types;
  if (!schema.is_object() || !schema.contains("type")) return types;
  const Json& t = schema["type"];
  if (t.is_string()) types.push_back(t.get<std::string>());
  if (t.is_array()) {
    for (const auto& x : t) {
      if (x.is_string()) types.push_back(x.get<std::string>());
    }
  }
  return types;
}

// The unambiguous fixes: numbers and booleans written as strings, scalars where a string is
// expected, a lone value where an array is expected.
bool Coerce(Json& v, const std::string& type) {
  if (v.is_string()) {
    std::string s = Trim(v.get<std::string>());
    if (type == "integer" || type == "number") {
      auto n = ParseJson(s, "number");
      if (n && n->is_number() && HasType(*n, type)) {
        v = type == "integer" ? Json(static_cast<int64_t>(n->get<double>())) : *n;
        return true;
      }
    }
    if (type == "boolean" && (s == "true" || s == "false" || s == "True" || s == "False")) {
      v = (s == "true" || s == "True");
      return true;
    }
    if (type == "object" || type == "array") {
      auto parsed = ParseJsonLenient(s);
      if (parsed.ok() && HasType(*parsed, type)) {
        v = *parsed;
        return true;
      }
    }
  }
  if (type == "string" && (v.is_number() || v.is_boolean())) {
    v = DumpJson(v);
    return true;
  }
  if (type == "integer" && v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
    v = static_cast<int64_t>(v.get<double>());
    return true;
  }
  if (type == "array" && !v.is_array() && !v.is_null()) {
    v = Json::array({v});
    return true;
  }
  return false;
}

void Validate(const Json& schema, Json& v, const std::string& where,
              std::vector<std::string>& problems, std::vector<std::string>* repairs, int depth) {
  if (!schema.is_object() || depth > 32) return;
  for (const char* key : {"anyOf", "oneOf"}) {
    if (schema.contains(key) && schema[key].is_array() && !schema[key].empty()) {
      for (const auto& branch : schema[key]) {
        Json copy = v;
        std::vector<std::string> p;
        Validate(branch, copy, where, p, nullptr, depth + 1);
        if (p.empty()) {
          v = copy;
          return;
        }
      }
      problems.push_back(where + " matches none of the allowed shapes");
      return;
    }
  }
  auto types = TypesOf(schema);
  if (!types.empty()) {
    bool match = std::any_of(types.begin(), types.end(),
                             [&](const std::string& t) { return HasType(v, t); });
    if (!match) {
      for (const auto& t : types) {
        Json before = v;
        if (Coerce(v, t)) {
          if (repairs)
            repairs->push_back(where + ": " + Shorten(DumpJson(before), 40) + " read as " + t);
          match = true;
          break;
        }
      }
    }
    if (!match) {
      std::string expected;
      for (size_t i = 0; i < types.size(); ++i) expected += (i ? " or " : "") + types[i];
      problems.push_back(where + " must be " +
                         (types.size() == 1 && (types[0] == "integer" || types[0] == "array" ||
                                                types[0] == "object")
                              ? "an "
                              : "a ") +
                         expected + ", got " + TypeOf(v) + " " + Shorten(DumpJson(v), 40));
      return;
    }
    if (std::find(types.begin(), types.end(), "integer") != types.end() && v.is_number_float()) {
      v = static_cast<int64_t>(v.get<double>());
    }
  }
  if (schema.contains("enum") && schema["enum"].is_array()) {
    const Json& e = schema["enum"];
    if (std::find(e.begin(), e.end(), v) == e.end()) {
      bool fixed = false;
      if (v.is_string()) {  // case slips: "Python" for "python"
        for (const auto& option : e) {
          if (option.is_string() &&
              Lower(option.get<std::string>()) == Lower(v.get<std::string>())) {
            if (repairs)
              repairs->push_back(where + ": " + DumpJson(v) + " read as " + DumpJson(option));
            v = option;
            fixed = true;
            break;
          }
        }
      }
      if (!fixed) {
        std::string options;
        for (size_t i = 0; i < e.size() && i < 10; ++i) options += (i ? ", " : "") + DumpJson(e[i]);
        if (e.size() > 10) options += ", ...";
        problems.push_back(where + " must be one of " + options + ", got " +
                           Shorten(DumpJson(v), 40));
        return;
      }
    }
  }
  if (schema.contains("const") && v != schema["const"]) {
    problems.push_back(where + " must be " + DumpJson(schema["const"]));
  }
  if (v.is_string()) {
    auto len = static_cast<int64_t>(v.get<std::string>().size());
    if (schema.contains("minLength") && schema["minLength"].is_number() &&
        len < schema["minLength"].get<int64_t>()) {
      problems.push_back(where + " must be at least " + DumpJson(schema["minLength"]) +
                         " characters long");
    }
    if (schema.contains("maxLength") && schema["maxLength"].is_number() &&
        len > schema["maxLength"].get<int64_t>()) {
      problems.push_back(where + " must be at most " + DumpJson(schema["maxLength"]) +
                         " characters long");
    }
  }
  if (v.is_number()) {
    double x = v.get<double>();
    if (schema.contains("minimum") && schema["minimum"].is_number() &&
        x < schema["minimum"].get<double>()) {
      problems.push_back(where + " must be at least " + DumpJson(schema["minimum"]) + ", got " +
                         DumpJson(v));
    }
    if (schema.contains("maximum") && schema["maximum"].is_number() &&
        x > schema["maximum"].get<double>()) {
      problems.push_back(where + " must be at most " + DumpJson(schema["maximum"]) + ", got " +
                         DumpJson(v));
    }
  }
  if (v.is_array()) {
    auto n = static_cast<int64_t>(v.size());
    if (schema.contains("minItems") && schema["minItems"].is_number() &&
        n < schema["minItems"].get<int64_t>()) {
      problems.push_back(where + " needs at least " + DumpJson(schema["minItems"]) + " items");
    }
    if (schema.contains("maxItems") && schema["maxItems"].is_number() &&
        n > schema["maxItems"].get<int64_t>()) {
      problems.push_back(where + " takes at most " + DumpJson(schema["maxItems"]) + " items");
    }
    if (schema.contains("items") && schema["items"].is_object()) {
      for (size_t i = 0; i < v.size(); ++i) {
        Validate(schema["items"], v[i], where + "[" + std::to_string(i) + "]", problems, repairs,
                 depth + 1);
      }
    }
  }
  if (v.is_object()) {
    const Json props = schema.contains("properties") && schema["properties"].is_object()
                           ? schema["properties"]
                           : Json::object();
    auto child = [&](const std::string& key) {
      return where.rfind("arguments", 0) == 0 && depth == 0 ? "argument '" + key + "'"
                                                            : where + "." + key;
    };
    // A null for an optional argument means "not given" to most models.
    for (auto it = v.begin(); it != v.end();) {
      bool required = false;
      if (schema.contains("required") && schema["required"].is_array()) {
        for (const auto& r : schema["required"]) required = required || r == it.key();
      }
      std::vector<std::string> allowed =
          props.contains(it.key()) ? TypesOf(props[it.key()]) : std::vector<std::string>{};
      if (it->is_null() && !required && props.contains(it.key()) &&
          std::find(allowed.begin(), allowed.end(), "null") == allowed.end()) {
        if (repairs) repairs->push_back(child(it.key()) + ": null dropped");
        it = v.erase(it);
      } else {
        ++it;
      }
    }
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const auto& r : schema["required"]) {
        if (r.is_string() && !v.contains(r.get<std::string>())) {
          problems.push_back(child(r.get<std::string>()) + " is required but missing");
        }
      }
    }
    for (auto& [key, value] : v.items()) {
      if (props.contains(key)) {
        Validate(props[key], value, child(key), problems, repairs, depth + 1);
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"] == false) {
        std::string known;
        for (const auto& [k, _] : props.items()) known += (known.empty() ? "" : ", ") + k;
        problems.push_back(child(key) + " is not accepted" +
                           (known.empty() ? "" : " (expected: " + known + ")"));
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_object()) {
        Validate(schema["additionalProperties"], value, child(key), problems, repairs, depth + 1);
      }
    }
  }
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

std::vector<std::string> ValidateArguments(const Json& schema, Json& args, const std::string& where,
                                           std::vector<std::string>* repairs) {
  std::vector<std::string> problems;
  Validate(schema, args, where, problems, repairs, 0);
  return problems;
}

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
  if (auto dot = want.find('.'); dot != std::string::npos) want.replace(dot, 1, "__");
  for (const auto& t : tools_) {
    std::string have = Lower(t.name);
    size_t sep = have.find("__");
    std::string bare = sep == std::string::npos ? have : have.substr(sep + 2);
    if (have == want || (bare == want && sep != std::string::npos)) {
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

void ToolCallParser::Accept(const std::string& name, Json arguments, std::string raw,
                            std::string id, ParsedToolCalls& out) const {
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
  auto problems = ValidateArguments(spec->parameters, arguments, "arguments", &out.repairs);
  // A string argument read as JSON (Coerce) can nest the whole lenient-parse limit below a
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

ParsedToolCalls ToolCallParser::ParseContent(std::string_view content) const {
  ParsedToolCalls out;
  // Model text is not always valid UTF-8; what is parsed, repaired and echoed back must be.
  std::string text = ValidUtf8(content);
  // Reasoning is not where calls are made; a <think> block may quote example JSON.
  for (size_t b; (b = text.find("<think>")) != std::string::npos;) {
    size_t e = text.find("</think>", b);
    text.erase(b, e == std::string::npos ? std::string::npos : e + 8 - b);
  }
  std::vector<Span> spans;
  auto parse_at = [&](size_t json_start, size_t span_begin, size_t span_end_min,
                      const std::string& what) -> size_t {
    size_t end = ValueEnd(text, json_start);
    std::string raw = text.substr(json_start, end - json_start);
    RepairReport report;
    auto parsed = ParseJsonLenient(raw, &report);
    if (!parsed) {
      out.problems.push_back("could not read the tool call after " + what + ": " +
                             parsed.error().message());
    } else {
      if (report.repaired) out.repairs.push_back(what + " call JSON repaired");
      AcceptObject(*parsed, raw, out);
    }
    spans.push_back({span_begin, std::max(end, span_end_min)});
    out.from_content = true;
    return std::max(end, span_end_min);
  };

  // Mistral: [TOOL_CALLS] followed by a JSON array/object, or name[ARGS]{...} (v11 template).
  for (size_t pos = text.find("[TOOL_CALLS]"); pos != std::string::npos;
       pos = text.find("[TOOL_CALLS]", pos)) {
    size_t j = pos + 12;
    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j < text.size() && (text[j] == '[' || text[j] == '{')) {
      pos = parse_at(j, pos, 0, "[TOOL_CALLS]");
      continue;
    }
    size_t args = text.find("[ARGS]", j);
    size_t next = text.find("[TOOL_CALLS]", j);
    if (args != std::string::npos && (next == std::string::npos || args < next)) {
      std::string name = Trim(std::string_view(text).substr(j, args - j));
      size_t a = args + 6;
      while (a < text.size() && std::isspace(static_cast<unsigned char>(text[a]))) ++a;
      size_t end = a < text.size() && text[a] == '{' ? ValueEnd(text, a) : a;
      std::string raw = text.substr(a, end - a);
      Accept(name, Json(raw), raw, "", out);
      spans.push_back({pos, end});
      out.from_content = true;
      pos = end;
      continue;
    }
    out.problems.push_back("[TOOL_CALLS] is not followed by a JSON list of calls");
    spans.push_back({pos, pos + 12});
    out.from_content = true;
    pos += 12;
  }

  // Hermes / Qwen: <tool_call>{...}</tool_call>, the closing tag possibly lost to a cut stream.
  for (size_t pos = text.find("<tool_call>"); pos != std::string::npos;
       pos = text.find("<tool_call>", pos)) {
    size_t body = pos + 11;
    size_t close = text.find("</tool_call>", body);
    size_t next = text.find("<tool_call>", body);
    size_t limit = std::min(close, next);
    // Qwen3-Coder: <function=name><parameter=key>value</parameter>...</function> inside the
    // tags, values as text (the schema check coerces numbers, booleans, objects and arrays).
    size_t first = body;
    while (first < text.size() && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
    if (text.compare(first, 10, "<function=") == 0) {
      const size_t region_end = limit == std::string::npos ? text.size() : limit;
      size_t gt = text.find('>', first);
      if (gt == std::string::npos || gt > region_end) gt = region_end;
      std::string name = Trim(std::string_view(text).substr(first + 10, gt - first - 10));
      Json args = Json::object();
      for (size_t p = text.find("<parameter=", gt); p != std::string::npos && p < region_end;) {
        size_t pg = text.find('>', p);
        if (pg == std::string::npos || pg >= region_end) break;
        std::string key = Trim(std::string_view(text).substr(p + 11, pg - p - 11));
        size_t pc = text.find("</parameter>", pg);
        size_t next_param = text.find("<parameter=", pg);
        size_t stop = std::min({pc, next_param, region_end});
        std::string value = text.substr(pg + 1, stop - pg - 1);
        if (!value.empty() && value.front() == '\n') value.erase(0, 1);
        if (!value.empty() && value.back() == '\n') value.pop_back();
        args[key] = value;
        p = stop == pc ? pc + 12 : stop;
        if (p >= region_end) break;
        p = text.find("<parameter=", p);
      }
      const size_t end = close != std::string::npos && close < next ? close + 12 : region_end;
      Accept(name, args, text.substr(pos, end - pos), "", out);
      spans.push_back({pos, end});
      out.from_content = true;
      pos = end;
      continue;
    }
    size_t brace = text.find_first_of("{[", body);
    if (brace == std::string::npos || brace >= limit) {
      out.problems.push_back(
          "<tool_call> holds no JSON object {\"name\": ..., \"arguments\": {...}}");
      size_t end = close == std::string::npos ? (next == std::string::npos ? text.size() : next)
                                              : close + 12;
      spans.push_back({pos, end});
      out.from_content = true;
      pos = end;
      continue;
    }
    size_t min_end = close != std::string::npos && close < next ? close + 12 : 0;
    pos = parse_at(brace, pos, min_end, "<tool_call>");
  }

  // Llama 3.x: <function=name>{...}</function>, and <|python_tag|>{...}.
  auto taken = [&](size_t at) {
    return std::any_of(spans.begin(), spans.end(),
                       [&](const Span& sp) { return at >= sp.begin && at < sp.end; });
  };
  for (size_t pos = text.find("<function="); pos != std::string::npos;
       pos = text.find("<function=", pos)) {
    if (taken(pos)) {
      ++pos;
      continue;
    }
    size_t gt = text.find('>', pos);
    if (gt == std::string::npos) break;
    std::string name = Trim(std::string_view(text).substr(pos + 10, gt - pos - 10));
    size_t brace = text.find('{', gt);
    size_t close = text.find("</function>", gt);
    size_t end = brace == std::string::npos ? gt + 1 : ValueEnd(text, brace);
    std::string raw = brace == std::string::npos ? "{}" : text.substr(brace, end - brace);
    Accept(name, Json(raw), raw, "", out);
    if (close != std::string::npos && close >= end) end = close + 11;
    spans.push_back({pos, end});
    out.from_content = true;
    pos = end;
  }
  for (size_t pos = text.find("<|python_tag|>"); pos != std::string::npos;
       pos = text.find("<|python_tag|>", pos)) {
    size_t brace = text.find_first_of("{[", pos);
    if (brace == std::string::npos) {
      spans.push_back({pos, pos + 14});
      pos += 14;
      continue;
    }
    pos = parse_at(brace, pos, 0, "<|python_tag|>");
    size_t eom = text.find("<|eom_id|>", pos);
    if (eom == pos) spans.back().end = pos + 10;
  }

  // Fenced or bare JSON, only when no tagged format was used.
  if (!out.from_content) {
    for (size_t pos = text.find("```"); pos != std::string::npos;) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) break;
      size_t close = text.find("```", nl);
      size_t body_end = close == std::string::npos ? text.size() : close;
      std::string body = Trim(std::string_view(text).substr(nl + 1, body_end - nl - 1));
      if (!body.empty() && (body[0] == '{' || body[0] == '[')) {
        auto parsed = ParseJsonLenient(body);
        if (parsed.ok() && LooksLikeCall(*parsed)) {
          AcceptObject(*parsed, body, out);
          spans.push_back({pos, close == std::string::npos ? text.size() : close + 3});
          out.from_content = true;
        }
      }
      if (close == std::string::npos) break;
      pos = text.find("```", close + 3);
    }
  }
  if (!out.from_content) {
    // Bounded: a pathological answer full of brackets must not cost quadratic time.
    int candidates = 0;
    bool tried_unclosed = false;
    for (size_t pos = text.find_first_of("{["); pos != std::string::npos && candidates < 64;
         ++candidates) {
      size_t closed = FindJsonEnd(text, pos);
      if (closed == std::string::npos && tried_unclosed) {
        pos = text.find_first_of("{[", pos + 1);
        continue;
      }
      tried_unclosed = tried_unclosed || closed == std::string::npos;
      size_t end = closed == std::string::npos ? text.size() : closed;
      std::string raw = text.substr(pos, end - pos);
      auto parsed = ParseJsonLenient(raw);
      if (parsed.ok() && LooksLikeCall(*parsed)) {
        AcceptObject(*parsed, raw, out);
        spans.push_back({pos, end});
        out.from_content = true;
        pos = text.find_first_of("{[", end);
      } else if (parsed.ok() && end < text.size()) {
        pos = text.find_first_of("{[", end);
      } else {
        pos = text.find_first_of("{[", pos + 1);
      }
    }
  }
  RemoveSpans(text, spans);
  // Leftover end-of-turn markers some templates leave behind.
  for (const char* marker : {"</tool_call>", "<|eom_id|>", "<|eot_id|>", "</s>", "<|tool_call|>"}) {
    for (size_t p; (p = text.find(marker)) != std::string::npos;)
      text.erase(p, std::string_view(marker).size());
  }
  out.text = Trim(text);
  DropRepeats(out);
  return out;
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

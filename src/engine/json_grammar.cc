#include "engine/json_grammar.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/grammar.h"

namespace naut::engine {

namespace {

constexpr int kMaxSchemaDepth = 64;
constexpr int64_t kMaxMagnitude = 9999999999999999;  // 16 digits, the integers' grammar cap

// The JSON rules every schema grammar shares.
constexpr const char* kJsonRules[][2] = {
    {"ws", "(\" \" | \"\\n\" [ \\t]{0,16})?"},
    // \u escapes of surrogates are left out: a lone one is not a character (parsers refuse it)
    // and a pair would count as two against maxLength.
    {"json-char",
     "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | "
     "[dD] [0-7] [0-9a-fA-F]{2}))"},
    {"json-string", "\"\\\"\" json-char* \"\\\"\""},
    {"json-int", "\"-\"? ([0-9] | [1-9] [0-9]{1,15})"},
    {"json-number", "json-int (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?"},
    {"json-boolean", "\"true\" | \"false\""},
    {"json-null", "\"null\""},
    {"json-value",
     "json-object | json-array | json-string | json-number | json-boolean | json-null"},
    {"json-object",
     "\"{\" ws (json-string ws \":\" ws json-value (ws \",\" ws json-string ws \":\" ws "
     "json-value)* ws)? \"}\""},
    {"json-array", "\"[\" ws (json-value (ws \",\" ws json-value)* ws)? \"]\""},
};

// Keywords that constrain values in ways a grammar here does not express.
constexpr const char* kRefused[] = {"pattern",
                                    "format",
                                    "multipleOf",
                                    "exclusiveMinimum",
                                    "exclusiveMaximum",
                                    "uniqueItems",
                                    "minProperties",
                                    "maxProperties",
                                    "patternProperties",
                                    "propertyNames",
                                    "contains",
                                    "not",
                                    "if",
                                    "then",
                                    "else",
                                    "dependentRequired",
                                    "dependentSchemas",
                                    "prefixItems",
                                    "unevaluatedProperties",
                                    "unevaluatedItems",
                                    "minContains",
                                    "maxContains",
                                    "dependencies"};

std::string Lit(const Json& value) { return GbnfLiteral(DumpJson(value)); }

std::string Group(const std::vector<std::string>& alts) {
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

std::string NameFor(std::string s) {
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) c = '-';
  }
  return s;
}

// Digit strings of equal length a <= b: alternatives for every string between them.
void DigitRange(const std::string& a, const std::string& b, const std::string& prefix,
                std::vector<std::string>* out) {
  if (a.empty()) {
    out->push_back(prefix.empty() ? "\"\"" : prefix);
    return;
  }
  auto join = [&](const std::string& x) { return prefix.empty() ? x : prefix + " " + x; };
  const size_t rest = a.size() - 1;
  const std::string tail_any = rest == 0 ? "" : " [0-9]{" + std::to_string(rest) + "}";
  if (a[0] == b[0]) {
    DigitRange(a.substr(1), b.substr(1), join(std::string("\"") + a[0] + "\""), out);
    return;
  }
  const bool a_low = a.find_first_not_of('0', 1) == std::string::npos;
  const bool b_high = b.find_first_not_of('9', 1) == std::string::npos;
  if (a_low && b_high) {
    out->push_back(join(std::string("[") + a[0] + "-" + b[0] + "]" + tail_any));
    return;
  }
  char lo = a[0], hi = b[0];
  if (!a_low) {
    DigitRange(a.substr(1), std::string(rest, '9'), join(std::string("\"") + a[0] + "\""), out);
    ++lo;
  }
  if (!b_high) --hi;
  if (lo <= hi) out->push_back(join(std::string("[") + lo + "-" + hi + "]" + tail_any));
  if (!b_high) {
    DigitRange(std::string(rest, '0'), b.substr(1), join(std::string("\"") + b[0] + "\""), out);
  }
}

// Alternatives for the non-negative integers in [lo, hi] without leading zeros.
void NonNegativeRange(int64_t lo, int64_t hi, std::vector<std::string>* out) {
  int64_t p = 1;
  for (int digits = 1; digits <= 16 && lo <= hi; ++digits, p *= 10) {
    const int64_t top = p * 10 - 1;
    if (lo > top) continue;
    const int64_t a = lo, b = std::min(hi, top);
    DigitRange(std::to_string(a), std::to_string(b), "", out);
    lo = top + 1;
  }
}

}  // namespace

std::string IntegerRangeGrammar(int64_t lo, int64_t hi) {
  std::vector<std::string> alts;
  if (lo < 0) {
    std::vector<std::string> neg;
    NonNegativeRange(std::max<int64_t>(1, hi < 0 ? -hi : 1), -lo, &neg);
    if (!neg.empty()) alts.push_back("\"-\" " + Group(neg));
  }
  if (hi >= 0) NonNegativeRange(std::max<int64_t>(0, lo), hi, &alts);
  std::string out;
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out;
}

JsonGrammarBuilder::JsonGrammarBuilder() {
  for (const auto& r : kJsonRules) AddRule(r[0], r[1]);
}

void JsonGrammarBuilder::AddRule(const std::string& name, const std::string& body) {
  if (rules_.find(name) == rules_.end()) order_.push_back(name);
  rules_[name] = body;
}

std::string JsonGrammarBuilder::Rule(const std::string& name) const {
  auto it = rules_.find(name);
  return it == rules_.end() ? "" : it->second;
}

std::string JsonGrammarBuilder::Text() const {
  std::string out;
  for (const std::string& n : order_) out += n + " ::= " + rules_.at(n) + "\n";
  return out;
}

std::string JsonGrammarBuilder::Where(const std::string& path) const {
  return "json schema" + (doc_name_.empty() ? "" : " '" + doc_name_ + "'") +
         (path.empty() ? "" : " at " + path);
}

Result<std::string> JsonGrammarBuilder::AddSchema(const Json& schema, const std::string& name) {
  std::string rule = Unique(name.empty() ? "schema" : name);
  doc_ = &schema;
  doc_name_ = name;
  refs_done_.clear();
  auto body = Visit(schema, rule, "", 0);
  doc_ = nullptr;
  if (!body.ok()) return body.error();
  AddRule(rule, *body);
  return rule;
}

Result<std::string> JsonGrammarBuilder::Ref(const std::string& ref, const std::string& path,
                                            int depth) {
  std::string key;
  for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
    if (ref.rfind(prefix, 0) == 0) {
      const std::string section = std::string(prefix).substr(2, std::string(prefix).size() - 3);
      key = ref.substr(std::string(prefix).size());
      const Json* defs =
          doc_ && doc_->is_object() && doc_->contains(section) ? &(*doc_)[section] : nullptr;
      if (!defs || !defs->is_object() || !defs->contains(key)) {
        return InvalidArgument(Where(path) + ": $ref '" + ref + "' names no definition");
      }
      std::string rule = NameFor(doc_name_ + "-def-" + key);
      if (refs_done_.insert(rule).second) {
        AddRule(rule, "");  // reserved first, so a recursive $ref finds it
        NAUT_ASSIGN_OR_RETURN(std::string body, Visit((*defs)[key], rule, path, depth + 1));
        AddRule(rule, body);
      }
      return rule;
    }
  }
  return InvalidArgument(Where(path) + ": $ref '" + ref +
                         "' is not a local reference (#/$defs/... or #/definitions/...)");
}

Result<std::string> JsonGrammarBuilder::Visit(const Json& s, const std::string& name,
                                              const std::string& path, int depth) {
  const std::string where = Where(path);
  if (depth > kMaxSchemaDepth) return InvalidArgument(where + ": nested too deeply");
  if (s.is_boolean()) {
    if (s.get<bool>()) return std::string("json-value");
    return InvalidArgument(where + ": the schema false admits no value");
  }
  if (!s.is_object()) return InvalidArgument(where + ": a schema must be an object or a boolean");
  for (const char* k : kRefused) {
    if (s.contains(k)) {
      return InvalidArgument(where + ": '" + k + "' cannot be expressed as a grammar");
    }
  }
  if (s.contains("$ref")) {
    if (!s["$ref"].is_string()) return InvalidArgument(where + ": $ref must be a string");
    return Ref(s["$ref"].get<std::string>(), path, depth);
  }
  if (s.contains("const")) return Lit(s["const"]);
  if (s.contains("enum")) {
    if (!s["enum"].is_array() || s["enum"].empty()) {
      return InvalidArgument(where + ": enum must be a non-empty array");
    }
    std::vector<std::string> alts;
    for (const Json& v : s["enum"]) alts.push_back(Lit(v));
    return Group(alts);
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"}) {
    if (!s.contains(key)) continue;
    const Json& list = s[key];
    if (!list.is_array() || list.empty()) {
      return InvalidArgument(where + ": " + key + " must be a non-empty array");
    }
    if (std::string(key) == "allOf" && list.size() > 1) {
      return InvalidArgument(where + ": allOf with several schemas cannot be expressed");
    }
    std::vector<std::string> alts;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string sub = name + "-" + std::to_string(i);
      NAUT_ASSIGN_OR_RETURN(
          std::string e,
          Visit(list[i], sub, path + "/" + key + "/" + std::to_string(i), depth + 1));
      alts.push_back(e);
    }
    return Group(alts);
  }
  if (s.contains("type")) {
    const Json& t = s["type"];
    if (t.is_string()) return VisitTyped(s, t.get<std::string>(), name, path, depth);
    if (t.is_array() && !t.empty()) {
      std::vector<std::string> alts;
      for (const Json& one : t) {
        if (!one.is_string()) return InvalidArgument(where + ": type must name types");
        NAUT_ASSIGN_OR_RETURN(std::string e,
                              VisitTyped(s, one.get<std::string>(),
                                         name + "-" + one.get<std::string>(), path, depth));
        alts.push_back(e);
      }
      return Group(alts);
    }
    return InvalidArgument(where + ": type must be a string or a list of strings");
  }
  if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
    return VisitTyped(s, "object", name, path, depth);
  }
  if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
    return VisitTyped(s, "array", name, path, depth);
  }
  return std::string("json-value");
}

Result<std::string> JsonGrammarBuilder::VisitTyped(const Json& s, const std::string& type,
                                                   const std::string& name, const std::string& path,
                                                   int depth) {
  const std::string where = Where(path);
  auto number_bound = [&](const char* key) -> Result<std::optional<double>> {
    if (!s.contains(key)) return std::optional<double>();
    if (!s[key].is_number()) return InvalidArgument(where + ": " + key + " must be a number");
    return std::optional<double>(s[key].get<double>());
  };
  if (type == "string") {
    const auto lo = GetOptionalInt(s, "minLength").value_or(0);
    const auto hi = GetOptionalInt(s, "maxLength");
    if (lo == 0 && !hi) return std::string("json-string");
    if (lo < 0 || (hi && *hi < lo) || lo > 1000 || (hi && *hi > 1000)) {
      return InvalidArgument(where + ": minLength/maxLength must be 0..1000 and ordered");
    }
    return "\"\\\"\" json-char{" + std::to_string(lo) + "," + (hi ? std::to_string(*hi) : "") +
           "} \"\\\"\"";
  }
  if (type == "integer") {
    NAUT_ASSIGN_OR_RETURN(auto lo, number_bound("minimum"));
    NAUT_ASSIGN_OR_RETURN(auto hi, number_bound("maximum"));
    if (!lo && !hi) return std::string("json-int");
    const auto a = static_cast<int64_t>(
        std::max(-static_cast<double>(kMaxMagnitude), lo ? std::ceil(*lo) : -1e300));
    const auto b = static_cast<int64_t>(
        std::min(static_cast<double>(kMaxMagnitude), hi ? std::floor(*hi) : 1e300));
    if (a > b) return InvalidArgument(where + ": no integer lies between minimum and maximum");
    std::string rule = Unique(name);
    AddRule(rule, IntegerRangeGrammar(a, b));
    return rule;
  }
  if (type == "number") {
    NAUT_ASSIGN_OR_RETURN(auto lo, number_bound("minimum"));
    if (s.contains("maximum")) {
      return InvalidArgument(where +
                             ": maximum on a number cannot be expressed (only on integers)");
    }
    if (lo && *lo > 0) {
      return InvalidArgument(where + ": a number minimum above 0 cannot be expressed");
    }
    if (lo) {
      return std::string(
          "([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?");
    }
    return std::string("json-number");
  }
  if (type == "boolean") return std::string("json-boolean");
  if (type == "null") return std::string("json-null");
  if (type == "object") return ObjectRule(s, Unique(name), path, depth);
  if (type == "array") return ArrayRule(s, Unique(name), path, depth);
  return InvalidArgument(where + ": unknown type '" + type + "'");
}

Result<std::string> JsonGrammarBuilder::ObjectRule(const Json& s, const std::string& name,
                                                   const std::string& path, int depth) {
  const std::string where = Where(path);
  const Json empty = Json::object();
  const Json& props = s.contains("properties") ? s["properties"] : empty;
  if (!props.is_object()) return InvalidArgument(where + ": properties must be an object");
  std::set<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) return InvalidArgument(where + ": required must be an array");
    for (const Json& r : s["required"]) {
      if (!r.is_string()) return InvalidArgument(where + ": required must list names");
      required.insert(r.get<std::string>());
    }
  }
  const Json* extra = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
  // Names in `required` without a schema of their own take any value.
  struct Prop {
    std::string key, value;
    bool required;
  };
  std::vector<Prop> list;
  for (const auto& [key, sub] : props.items()) {
    const std::string rule = name + "-" + NameFor(key);
    NAUT_ASSIGN_OR_RETURN(std::string v, Visit(sub, rule, path + "/properties/" + key, depth + 1));
    list.push_back({key, v, required.count(key) > 0});
  }
  for (const std::string& r : required) {
    if (props.contains(r)) continue;
    if (extra && extra->is_boolean() && !extra->get<bool>()) {
      return InvalidArgument(where + ": '" + r +
                             "' is required but additionalProperties is false and it has no "
                             "schema in properties");
    }
    list.push_back({r, "json-value", true});
  }
  if (list.empty()) {
    // No declared members: closed when additionalProperties is false, or when `properties`
    // is there (empty) and additionalProperties does not open it; else any members.
    const bool closed =
        extra ? extra->is_boolean() && !extra->get<bool>() : s.contains("properties");
    if (closed) {
      AddRule(name, "\"{\" ws \"}\"");
      return name;
    }
    std::string v = "json-value";
    if (extra && !extra->is_boolean()) {
      NAUT_ASSIGN_OR_RETURN(
          v, Visit(*extra, name + "-value", path + "/additionalProperties", depth + 1));
    }
    AddRule(name, "\"{\" ws (json-string ws \":\" ws " + v +
                      " (ws \",\" ws json-string ws \":\" ws " + v + ")* ws)? \"}\"");
    return name;
  }
  // Members in the schema's order, optional ones skippable. t<i>: the members from i on after
  // one has been written (each with its comma); s<i>: from i on when none has been written
  // yet, at least one (so that "{" ws and ws "}" never meet).
  const size_t n = list.size();
  auto kv = [&](size_t i) { return Lit(list[i].key) + " ws \":\" ws " + list[i].value; };
  std::vector<bool> req_after(n + 1, false);
  for (size_t i = n; i-- > 0;) req_after[i] = req_after[i + 1] || list[i].required;
  std::vector<std::string> t_names, s_names;
  for (size_t i = 0; i < n; ++i) {
    t_names.push_back(Unique(name + "-t" + std::to_string(i)));
    s_names.push_back(Unique(name + "-s" + std::to_string(i)));
  }
  auto t = [&](size_t i) { return t_names[i]; };
  auto sn = [&](size_t i) { return s_names[i]; };
  for (size_t i = n; i-- > 0;) {
    const std::string tail = i + 1 < n ? " " + t(i + 1) : "";
    const std::string member = "ws \",\" ws " + kv(i);
    AddRule(t(i), list[i].required ? member + tail : "(" + member + ")?" + tail);
    std::string body = kv(i) + tail;
    if (!list[i].required && i + 1 < n) body += " | " + sn(i + 1);
    AddRule(sn(i), body);
  }
  AddRule(name,
          req_after[0] ? "\"{\" ws " + sn(0) + " ws \"}\"" : "\"{\" ws (" + sn(0) + " ws)? \"}\"");
  return name;
}

Result<std::string> JsonGrammarBuilder::ArrayRule(const Json& s, const std::string& name,
                                                  const std::string& path, int depth) {
  const std::string where = Where(path);
  std::string item = "json-value";
  if (s.contains("items")) {
    NAUT_ASSIGN_OR_RETURN(item, Visit(s["items"], name + "-item", path + "/items", depth + 1));
  }
  const int64_t lo = GetOptionalInt(s, "minItems").value_or(0);
  const auto hi = GetOptionalInt(s, "maxItems");
  if (lo < 0 || (hi && *hi < lo) || lo > 1000 || (hi && *hi > 1000)) {
    return InvalidArgument(where + ": minItems/maxItems must be 0..1000 and ordered");
  }
  const std::string more = "(ws \",\" ws " + item + ")";
  std::string body;
  if (hi && *hi == 0) {
    body = "\"[\" ws \"]\"";
  } else {
    const int64_t rest_lo = std::max<int64_t>(0, lo - 1);
    const std::string rest =
        more + "{" + std::to_string(rest_lo) + "," + (hi ? std::to_string(*hi - 1) : "") + "}";
    const std::string items = item + " " + rest;
    body = lo == 0 ? "\"[\" ws (" + items + " ws)? \"]\"" : "\"[\" ws " + items + " ws \"]\"";
  }
  AddRule(name, body);
  return name;
}

std::string JsonGrammarBuilder::Unique(const std::string& base) {
  std::string name = NameFor(base);
  for (int k = 2; rules_.count(name) > 0; ++k) name = NameFor(base) + "-" + std::to_string(k);
  AddRule(name, "");  // reserved
  return name;
}

std::string JsonObjectGrammar() {
  JsonGrammarBuilder b;
  b.AddRule("root", "json-object");
  return b.Text();
}

Result<std::string> JsonSchemaToGrammar(const Json& schema) {
  JsonGrammarBuilder b;
  NAUT_ASSIGN_OR_RETURN(std::string rule, b.AddSchema(schema, ""));
  b.AddRule("root", rule);
  return b.Text();
}

}  // namespace naut::engine

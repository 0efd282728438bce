#include "core/json.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace naut {

namespace {

constexpr size_t kNpos = std::string_view::npos;

// The index just past the string literal whose opening quote is at `open`; npos when the
// text ends first.
size_t StringEnd(std::string_view text, size_t open) {
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return kNpos;
}

// Size first, then depth in one pass that steps over strings (a bracket inside a string does
// not nest). Exact for valid JSON; whatever else the text holds, the parser reports.
Status CheckLimits(std::string_view text, std::string_view what, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return ResourceExhausted(std::string(what) + ": " + std::to_string(text.size()) +
                             " bytes of JSON exceed the limit of " + std::to_string(max_bytes) +
                             " bytes");
  }
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    switch (text[i]) {
      case '"':
        i = StringEnd(text, i);
        if (i == kNpos) return Status::Ok();
        --i;
        break;
      case '[':
      case '{':
        if (++depth > kMaxJsonDepth) {
          return ResourceExhausted(std::string(what) + ": JSON nests deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels (at byte " +
                                   std::to_string(i) + ")");
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return Status::Ok();
}

size_t SkipSpace(std::string_view text, size_t i) {
  while (i < text.size() &&
         (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
    ++i;
  }
  return i;
}

// The index just past the value that starts at `i`, counting brackets however deep they go;
// npos when the text ends first.
size_t ValueEnd(std::string_view text, size_t i) {
  if (i >= text.size()) return kNpos;
  if (text[i] == '"') return StringEnd(text, i);
  if (text[i] != '[' && text[i] != '{') {
    while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']' &&
           text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
      ++i;
    }
    // In an object a scalar is always followed by something; at the end of a cut text it may
    // itself be cut ("12" of "1234").
    return i < text.size() ? i : kNpos;
  }
  size_t depth = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      i = StringEnd(text, i);
      if (i == kNpos) return kNpos;
      --i;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && --depth == 0) {
      return i + 1;
    }
  }
  return kNpos;
}

}  // namespace

namespace {

template <typename J>
Result<J> ParseJsonAs(std::string_view text, std::string_view what, size_t max_bytes) {
  if (Status st = CheckLimits(text, what, max_bytes); !st.ok()) return st;
  try {
    return J::parse(text.begin(), text.end());
  } catch (const typename J::parse_error& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON at byte " + std::to_string(e.byte) +
                           ": " + e.what());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON: " + e.what());
  }
}

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view what, size_t max_bytes) {
  return ParseJsonAs<Json>(text, what, max_bytes);
}

Result<nlohmann::ordered_json> ParseOrderedJson(std::string_view text, std::string_view what,
                                                size_t max_bytes) {
  return ParseJsonAs<nlohmann::ordered_json>(text, what, max_bytes);
}

Json PeekJsonMembers(std::string_view text, std::initializer_list<std::string_view> keys) {
  Json out = Json::object();
  size_t i = SkipSpace(text, 0);
  if (i >= text.size() || text[i] != '{') return out;
  for (++i;;) {
    i = SkipSpace(text, i);
    if (i >= text.size() || text[i] != '"') return out;
    size_t key_end = StringEnd(text, i);
    if (key_end == kNpos) return out;
    Json key = Json::parse(text.substr(i, key_end - i), nullptr, /*allow_exceptions=*/false);
    i = SkipSpace(text, key_end);
    if (i >= text.size() || text[i] != ':') return out;
    i = SkipSpace(text, i + 1);
    size_t value_end = ValueEnd(text, i);
    if (value_end == kNpos) return out;
    if (key.is_string() && text[i] != '[' && text[i] != '{' &&
        std::find(keys.begin(), keys.end(), key.get_ref<const std::string&>()) != keys.end()) {
      // A scalar: no nesting, so this parse builds one small value.
      Json value = Json::parse(text.substr(i, value_end - i), nullptr, false);
      if (!value.is_discarded()) out[key.get<std::string>()] = std::move(value);
    }
    i = SkipSpace(text, value_end);
    if (i >= text.size() || text[i] != ',') return out;
    ++i;
  }
}

int JsonDepth(const Json& j) {
  int deepest = 0;
  std::vector<std::pair<const Json*, int>> pending = {{&j, 0}};
  while (!pending.empty()) {
    auto [value, depth] = pending.back();
    pending.pop_back();
    if (!value->is_structured()) {
      deepest = std::max(deepest, depth);
      continue;
    }
    deepest = std::max(deepest, depth + 1);
    for (const Json& child : *value) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

std::string DumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

namespace {

std::string ScalarText(const nlohmann::ordered_json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    // Quoted only where bare text would read as something else.
    if (s.empty() || s.front() == ' ' || s.back() == ' ') return DumpJson(Json(s));
    return s;
  }
  if (v.is_null()) return "null";
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool IsScalar(const nlohmann::ordered_json& v) {
  return !v.is_object() && !v.is_array() &&
         !(v.is_string() && v.get_ref<const std::string&>().find('\n') != std::string::npos);
}

void AppendIndented(std::string& out, std::string_view text, const std::string& pad) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out += pad;
    out += text.substr(start, end - start);
    out += '\n';
    start = end + 1;
  }
}

// An object that reads best as one line of a list: scalars only, short, no line breaks.
bool IsFlatRow(const nlohmann::ordered_json& v) {
  constexpr size_t kMaxRowChars = 100;
  size_t chars = 0;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!IsScalar(it.value())) return false;
    std::string text = ScalarText(it.value());
    if (text.find('\n') != std::string::npos) return false;
    chars += it.key().size() + text.size() + 4;
  }
  return chars <= kMaxRowChars;
}

void DropKeys(nlohmann::ordered_json& v, const std::vector<std::string>& keys) {
  if (v.is_object()) {
    for (const auto& k : keys) v.erase(k);
    for (auto& [k, e] : v.items()) DropKeys(e, keys);
  } else if (v.is_array()) {
    for (auto& e : v) DropKeys(e, keys);
  }
}

// `v` (not a scalar) under a line that has been written already, indented by `depth`.
void AppendReadable(std::string& out, const nlohmann::ordered_json& v, int depth) {
  const std::string pad(static_cast<size_t>(depth) * 2, ' ');
  if (v.is_string()) {
    AppendIndented(out, v.get_ref<const std::string&>(), pad);
    return;
  }
  if (v.is_array() && v.empty()) return;
  if (v.is_array() && std::all_of(v.begin(), v.end(), [](const auto& e) { return IsScalar(e); })) {
    out += pad + "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + ScalarText(v[i]);
    out += "]\n";
    return;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string head = v.is_array() ? pad + "-" : pad + it.key() + ":";
    const auto& e = it.value();
    if (IsScalar(e)) {
      out += head + " " + ScalarText(e) + "\n";
    } else if (e.is_array() && !e.empty() &&
               std::all_of(e.begin(), e.end(), [](const auto& x) { return IsScalar(x); })) {
      std::string inline_list;
      AppendReadable(inline_list, e, 0);  // "[a, b]\n"
      out += head + " " + inline_list;
    } else if (e.is_string()) {
      out += head + " |\n";
      AppendReadable(out, e, depth + 1);
    } else if (e.empty()) {
      out += head + (e.is_array() ? " []\n" : " {}\n");
    } else if (v.is_array() && e.is_object() && IsFlatRow(e)) {
      std::string row;
      for (auto m = e.begin(); m != e.end(); ++m)
        row += (row.empty() ? "" : ", ") + m.key() + ": " + ScalarText(m.value());
      out += head + " " + row + "\n";
    } else if (v.is_array() && e.is_object()) {
      // "- first: member" with the others under it, as YAML writes a list of maps.
      std::string item;
      AppendReadable(item, e, depth + 1);
      item.replace(0, pad.size() + 2, pad + "- ");
      out += item;
    } else {
      out += head + "\n";
      AppendReadable(out, e, depth + 1);
    }
  }
}

}  // namespace

std::string JsonAsReadableText(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || (text[first] != '{' && text[first] != '[')) {
    return std::string(text);
  }
  auto parsed = ParseOrderedJson(text, "tool result");
  if (!parsed) return std::string(text);
  if (parsed->empty()) return std::string(text);
  std::string out;
  AppendReadable(out, *parsed, 0);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string JsonWithoutKeys(std::string_view text, const std::vector<std::string>& keys) {
  if (keys.empty()) return std::string(text);
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || (text[first] != '{' && text[first] != '[')) {
    return std::string(text);
  }
  auto parsed = ParseOrderedJson(text, "tool result");
  if (!parsed) return std::string(text);
  DropKeys(*parsed, keys);
  return parsed->dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    size_t k = 1;
    for (; len > 0 && k < len && i + k < s.size(); ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) break;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (len > 0 && k == len && cp >= min && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the bytes read so far (at least one)
      i += std::max<size_t>(1, k);
    }
  }
  return out;
}

std::string_view JsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::binary:
      return "binary";
    case Json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

namespace {
Result<const Json*> Field(const Json& obj, std::string_view key, std::string_view what) {
  if (!obj.is_object()) {
    return InvalidArgument(std::string(what) + ": expected an object, got " +
                           std::string(JsonTypeName(obj)));
  }
  auto it = obj.find(key);
  if (it == obj.end()) {
    return InvalidArgument(std::string(what) + ": missing field '" + std::string(key) + "'");
  }
  return &*it;
}

Status WrongType(std::string_view what, std::string_view key, std::string_view expected,
                 const Json& got) {
  return InvalidArgument(std::string(what) + ": field '" + std::string(key) + "' must be " +
                         std::string(expected) + ", got " + std::string(JsonTypeName(got)));
}
}  // namespace

Result<std::string> GetString(const Json& obj, std::string_view key, std::string_view what) {
  NAUT_ASSIGN_OR_RETURN(const Json* v, Field(obj, key, what));
  if (!v->is_string()) return WrongType(what, key, "a string", *v);
  return v->get<std::string>();
}

Result<int64_t> GetInt(const Json& obj, std::string_view key, std::string_view what) {
  NAUT_ASSIGN_OR_RETURN(const Json* v, Field(obj, key, what));
  if (!v->is_number_integer()) return WrongType(what, key, "an integer", *v);
  return v->get<int64_t>();
}

Result<bool> GetBool(const Json& obj, std::string_view key, std::string_view what) {
  NAUT_ASSIGN_OR_RETURN(const Json* v, Field(obj, key, what));
  if (!v->is_boolean()) return WrongType(what, key, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> GetOptionalString(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> GetOptionalInt(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  double d = it->get<double>();
  // 2^63 is the first double past int64_t; below -2^63 likewise.
  if (!std::isfinite(d) || std::floor(d) != d || d >= 9223372036854775808.0 ||
      d < -9223372036854775808.0) {
    return std::nullopt;
  }
  return static_cast<int64_t>(d);
}

std::optional<double> GetOptionalNumber(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

namespace {
// The member `key` of the object `obj`, or nullptr when it is absent or null.
Result<const Json*> PresentField(const Json& obj, std::string_view key, std::string_view what) {
  if (!obj.is_object()) {
    return InvalidArgument(std::string(what) + ": expected an object, got " +
                           std::string(JsonTypeName(obj)));
  }
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return static_cast<const Json*>(nullptr);
  return &*it;
}
}  // namespace

Result<std::optional<std::string>> GetStringIfPresent(const Json& obj, std::string_view key,
                                                      std::string_view what) {
  NAUT_ASSIGN_OR_RETURN(const Json* v, PresentField(obj, key, what));
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(what, key, "a string", *v);
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::optional<double>> GetNumberIfPresent(const Json& obj, std::string_view key,
                                                 std::string_view what) {
  NAUT_ASSIGN_OR_RETURN(const Json* v, PresentField(obj, key, what));
  if (!v) return std::optional<double>();
  if (!v->is_number()) return WrongType(what, key, "a number", *v);
  return std::optional<double>(v->get<double>());
}

Result<std::optional<std::vector<std::string>>> GetStringsIfPresent(const Json& obj,
                                                                    std::string_view key,
                                                                    std::string_view what) {
  NAUT_ASSIGN_OR_RETURN(const Json* v, PresentField(obj, key, what));
  if (!v) return std::optional<std::vector<std::string>>();
  std::vector<std::string> out;
  if (!v->is_array()) return WrongType(what, key, "an array of strings", *v);
  for (const auto& item : *v) {
    if (!item.is_string()) return WrongType(what, key, "an array of strings", item);
    out.push_back(item.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

}  // namespace naut

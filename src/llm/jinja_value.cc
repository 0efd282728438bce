#include "llm/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

namespace naut::llm::jinja {

void Throw(TemplateError::Kind kind, std::string message, Loc loc) {
  throw TemplateError{kind, std::move(message), loc};
}

namespace {
thread_local uint64_t g_work = 0;
}  // namespace

void AddWork(uint64_t units) { g_work += units; }

uint64_t TakeWork() {
  const uint64_t w = g_work;
  g_work = 0;
  return w;
}

namespace {

void CheckDepth(int depth) {
  if (depth > kMaxValueDepth) {
    Throw(TemplateError::Kind::kLimit,
          "a value nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
  }
}

// The key a dictionary indexes `v` by: equal for values Python hashes and compares as equal
// (1, 1.0 and True), nullopt for unhashable values.
std::optional<std::string> HashKey(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kString:
      return "s" + v.as_string();
    case Value::Kind::kInt:
      return "i" + std::to_string(v.as_int());
    case Value::Kind::kBool:
      return v.as_bool() ? "i1" : "i0";
    case Value::Kind::kFloat: {
      const double d = v.as_float();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.2e18) {
        return "i" + std::to_string(static_cast<int64_t>(d));
      }
      return "f" + FloatRepr(d);
    }
    case Value::Kind::kNone:
      return "n";
    case Value::Kind::kUndefined:
      return "u";
    case Value::Kind::kList: {
      if (!v.is_tuple()) return std::nullopt;
      std::string key = "t";
      for (const Value& item : v.items()) {
        auto k = HashKey(item);
        if (!k) return std::nullopt;
        key += std::to_string(k->size()) + ":" + *k;
      }
      return key;
    }
    case Value::Kind::kFunction: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "p%p", v.identity());
      return buf;
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
      return std::nullopt;
  }
  return std::nullopt;
}

const std::vector<Value>& EmptyItems() {
  static const std::vector<Value> empty;
  return empty;
}

}  // namespace

// ---- Value -------------------------------------------------------------------------------

Value Value::Undefined(std::string hint) {
  Value v;
  v.v_ = UndefinedTag{std::make_shared<const std::string>(std::move(hint))};
  return v;
}

Value Value::Markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::List(std::vector<Value> items) {
  if (items.size() > kMaxListItems) {
    Throw(TemplateError::Kind::kLimit,
          "a list of more than " + std::to_string(kMaxListItems) + " items");
  }
  AddWork(items.size());
  auto data = std::make_shared<ListData>();
  for (const Value& item : items) data->depth = std::max(data->depth, item.depth() + 1);
  CheckDepth(data->depth);
  data->items = std::move(items);
  Value v;
  v.v_ = std::shared_ptr<const ListData>(std::move(data));
  return v;
}

Value Value::Tuple(std::vector<Value> items) {
  Value v = List(std::move(items));
  const_cast<ListData&>(*std::get<std::shared_ptr<const ListData>>(v.v_)).tuple = true;
  return v;
}

Value Value::Generator(std::vector<Value> items) {
  Value v = List(std::move(items));
  const_cast<ListData&>(*std::get<std::shared_ptr<const ListData>>(v.v_)).generator = true;
  return v;
}

Value Value::Dict(DictData dict) {
  Value v;
  v.v_ = std::make_shared<const DictData>(std::move(dict));
  return v;
}

Value Value::Namespace() {
  Value v;
  v.v_ = std::make_shared<NamespaceData>();
  return v;
}

Value Value::Function(std::string name, NativeFunction fn) {
  Value v;
  v.v_ = std::make_shared<const FunctionData>(FunctionData{std::move(name), std::move(fn)});
  return v;
}

bool Value::is_tuple() const { return is_list() && std::get<6>(v_)->tuple; }
bool Value::is_generator() const { return is_list() && std::get<6>(v_)->generator; }

const std::vector<Value>& Value::items() const {
  if (!is_list()) return EmptyItems();
  return std::get<6>(v_)->items;
}

const DictData& Value::dict() const { return *std::get<7>(v_); }
NamespaceData& Value::ns() const { return *std::get<8>(v_); }
const FunctionData& Value::function() const { return *std::get<9>(v_); }

const std::string& Value::undefined_hint() const {
  static const std::string none;
  const auto& tag = std::get<0>(v_);
  return tag.hint ? *tag.hint : none;
}

int64_t Value::ToInt() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  if (is_int()) return as_int();
  if (is_float()) return static_cast<int64_t>(as_float());
  return 0;
}

double Value::ToDouble() const {
  if (is_float()) return as_float();
  return static_cast<double>(ToInt());
}

int Value::depth() const {
  if (is_list()) return std::get<6>(v_)->depth;
  if (is_dict()) return std::get<7>(v_)->depth();
  return 0;
}

const void* Value::identity() const {
  switch (kind()) {
    case Kind::kList:
      return std::get<6>(v_).get();
    case Kind::kDict:
      return std::get<7>(v_).get();
    case Kind::kNamespace:
      return std::get<8>(v_).get();
    case Kind::kFunction:
      return std::get<9>(v_).get();
    default:
      return nullptr;
  }
}

// ---- DictData, NamespaceData -------------------------------------------------------------

void DictData::Set(Value key, Value value) {
  auto hash = HashKey(key);
  if (!hash) RuntimeError("unhashable type: '" + TypeName(key) + "'");
  depth_ = std::max(depth_, std::max(key.depth(), value.depth()) + 1);
  CheckDepth(depth_);
  auto [it, inserted] = index_.emplace(std::move(*hash), entries_.size());
  if (inserted) {
    entries_.emplace_back(std::move(key), std::move(value));
  } else {
    entries_[it->second].second = std::move(value);
  }
}

const Value* DictData::Find(const Value& key) const {
  auto hash = HashKey(key);
  if (!hash) return nullptr;
  auto it = index_.find(*hash);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value* DictData::Find(std::string_view key) const {
  std::string hash = "s";
  hash += key;
  auto it = index_.find(hash);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value* NamespaceData::Find(std::string_view name) const {
  for (const auto& [k, v] : attrs) {
    if (k == name) return &v;
  }
  return nullptr;
}

void NamespaceData::Set(const std::string& name, Value value) {
  for (auto& [k, v] : attrs) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  attrs.emplace_back(name, std::move(value));
}

// ---- Python semantics --------------------------------------------------------------------

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_float() != 0;
    case Value::Kind::kString:
      return !v.as_string().empty();
    case Value::Kind::kList:
      return v.is_generator() || !v.items().empty();
    case Value::Kind::kDict:
      return v.dict().size() > 0;
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction:
      return true;
  }
  return false;
}

bool Equal(const Value& a, const Value& b) {
  AddWork(1);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.ToDouble() == b.ToDouble();
    return a.ToInt() == b.ToInt();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.as_string() == b.as_string();
    case Value::Kind::kList: {
      if (a.is_tuple() != b.is_tuple()) return false;
      if (a.identity() == b.identity()) return true;
      if (a.is_generator() || b.is_generator()) return false;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equal(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.identity() == b.identity()) return true;
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict().entries()) {
        const Value* other = b.dict().Find(k);
        if (other == nullptr || !Equal(v, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

int Compare(const Value& a, const Value& b, std::string_view op) {
  AddWork(1);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.ToDouble(), y = b.ToDouble();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.ToInt(), y = b.ToInt();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() &&
      !b.is_generator()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!Equal(x[i], y[i])) return Compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  RuntimeError("'" + std::string(op) + "' not supported between instances of '" + TypeName(a) +
               "' and '" + TypeName(b) + "'");
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return v.is_generator() ? "generator" : (v.is_tuple() ? "tuple" : "list");
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kFunction:
      return "function";
  }
  return "object";
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  const int exp = std::stoi(sci.substr(e + 1));
  if (digits.size() > 1) digits.erase(1, 1);  // the '.'
  const int n = static_cast<int>(digits.size());
  const int decpt = exp + 1;
  std::string out = sign;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(-decpt, '0') + digits;
    } else if (decpt >= n) {
      out += digits + std::string(decpt - n, '0') + ".0";
    } else {
      out += digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + ebuf;
}

namespace {

bool IsPrintable(char32_t c) {
  if (c < 0x20 || c == 0x7f) return false;
  if (c < 0x7f) return true;
  if (c <= 0xa0 || c == 0xad) return false;
  if (c >= 0xd800 && c <= 0xdfff) return false;
  if ((c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
      (c >= 0x205f && c <= 0x2064) || c == 0x3000 || c == 0xfeff || c == 0x1680 || c == 0x180e ||
      c == 0x061c) {
    return false;
  }
  return true;
}

void ReprString(std::string& out, std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  char buf[16];
  for (char32_t c : DecodeUtf8(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (!IsPrintable(c)) {
      if (c < 0x100) {
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      AppendUtf8(out, c);
    }
  }
  out += quote;
}

void ReprTo(std::string& out, const Value& v, int level) {
  if (level > kMaxValueDepth) {
    Throw(TemplateError::Kind::kLimit, "a value nests too deeply to be printed");
  }
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      out += "Undefined";
      return;
    case Value::Kind::kNone:
      out += "None";
      return;
    case Value::Kind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::kFloat:
      out += FloatRepr(v.as_float());
      return;
    case Value::Kind::kString:
      if (v.is_markup()) {
        out += "Markup(";
        ReprString(out, v.as_string());
        out += ')';
        return;
      }
      ReprString(out, v.as_string());
      return;
    case Value::Kind::kList: {
      if (v.is_generator()) {
        out += "<generator object>";
        return;
      }
      const bool tuple = v.is_tuple();
      out += tuple ? '(' : '[';
      const auto& items = v.items();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        ReprTo(out, items[i], level + 1);
      }
      if (tuple && items.size() == 1) out += ',';
      out += tuple ? ')' : ']';
      return;
    }
    case Value::Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.dict().entries()) {
        if (!first) out += ", ";
        first = false;
        ReprTo(out, k, level + 1);
        out += ": ";
        ReprTo(out, val, level + 1);
      }
      out += '}';
      return;
    }
    case Value::Kind::kNamespace: {
      out += "<Namespace {";
      bool first = true;
      for (const auto& [k, val] : v.ns().attrs) {
        if (!first) out += ", ";
        first = false;
        ReprString(out, k);
        out += ": ";
        ReprTo(out, val, level + 1);
      }
      out += "}>";
      return;
    }
    case Value::Kind::kFunction:
      out += "<function " + v.function().name + ">";
      return;
  }
}

void JsonString(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  char buf[16];
  auto escape_unit = [&](unsigned unit) {
    std::snprintf(buf, sizeof buf, "\\u%04x", unit);
    out += buf;
  };
  for (char32_t c : DecodeUtf8(s)) {
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      escape_unit(static_cast<unsigned>(c));
    } else if (ensure_ascii && c >= 0x7f) {
      if (c >= 0x10000) {
        const unsigned v = static_cast<unsigned>(c) - 0x10000;
        escape_unit(0xd800 + (v >> 10));
        escape_unit(0xdc00 + (v & 0x3ff));
      } else {
        escape_unit(static_cast<unsigned>(c));
      }
    } else {
      AppendUtf8(out, c);
    }
  }
  out += '"';
}

std::string JsonFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return FloatRepr(d);
}

struct JsonWriter {
  const JsonStyle& style;
  std::string item_sep;
  std::string key_sep;
  std::string out;

  void Newline(int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *style.indent;
  }

  void Key(const Value& k) {
    switch (k.kind()) {
      case Value::Kind::kString:
        JsonString(out, k.as_string(), style.ensure_ascii);
        return;
      case Value::Kind::kInt:
        out += '"' + std::to_string(k.as_int()) + '"';
        return;
      case Value::Kind::kFloat:
        out += '"' + JsonFloat(k.as_float()) + '"';
        return;
      case Value::Kind::kBool:
        out += k.as_bool() ? "\"true\"" : "\"false\"";
        return;
      case Value::Kind::kNone:
        out += "\"null\"";
        return;
      default:
        RuntimeError("keys must be str, int, float, bool or None, not " + TypeName(k));
    }
  }

  void Write(const Value& v, int level) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        out += "null";
        return;
      case Value::Kind::kBool:
        out += v.as_bool() ? "true" : "false";
        return;
      case Value::Kind::kInt:
        out += std::to_string(v.as_int());
        return;
      case Value::Kind::kFloat:
        out += JsonFloat(v.as_float());
        return;
      case Value::Kind::kString:
        JsonString(out, v.as_string(), style.ensure_ascii);
        return;
      case Value::Kind::kList: {
        if (v.is_generator()) RuntimeError("Object of type generator is not JSON serializable");
        const auto& items = v.items();
        if (items.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) out += item_sep;
          if (style.indent) Newline(level + 1);
          Write(items[i], level + 1);
        }
        if (style.indent) Newline(level);
        out += ']';
        return;
      }
      case Value::Kind::kDict: {
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& e : v.dict().entries()) entries.push_back(&e);
        if (entries.empty()) {
          out += "{}";
          return;
        }
        if (style.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](auto* a, auto* b) { return Compare(a->first, b->first) < 0; });
        }
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) out += item_sep;
          if (style.indent) Newline(level + 1);
          Key(entries[i]->first);
          out += key_sep;
          Write(entries[i]->second, level + 1);
        }
        if (style.indent) Newline(level);
        out += '}';
        return;
      }
      default:
        RuntimeError("Object of type " + TypeName(v) + " is not JSON serializable");
    }
  }
};

template <typename J>
Value FromJsonImpl(const J& j, int level) {
  if (level > kMaxValueDepth) {
    Throw(TemplateError::Kind::kLimit,
          "the input nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value(nullptr);
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value(static_cast<double>(u));
      }
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(FromJsonImpl(item, level + 1));
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      DictData d;
      for (auto it = j.begin(); it != j.end(); ++it) {
        d.Set(Value(it.key()), FromJsonImpl(it.value(), level + 1));
      }
      return Value::Dict(std::move(d));
    }
    case nlohmann::json::value_t::binary:
      return Value(nullptr);
  }
  return Value(nullptr);
}

}  // namespace

std::string Repr(const Value& v) {
  std::string out;
  ReprTo(out, v, 0);
  AddWork(out.size() / 256);
  return out;
}

std::string Str(const Value& v) {
  if (v.is_string()) return v.as_string();
  if (v.is_undefined()) return "";
  return Repr(v);
}

std::string ToJson(const Value& v, const JsonStyle& style) {
  JsonWriter w{style, {}, {}, {}};
  if (style.separators) {
    w.item_sep = style.separators->first;
    w.key_sep = style.separators->second;
  } else {
    w.item_sep = style.indent ? "," : ", ";
    w.key_sep = ": ";
  }
  w.Write(v, 0);
  AddWork(w.out.size() / 256);
  return std::move(w.out);
}

Value FromJson(const nlohmann::ordered_json& j) { return FromJsonImpl(j, 0); }
Value FromJson(const nlohmann::json& j) { return FromJsonImpl(j, 0); }

// ---- UTF-8 and character classes ----------------------------------------------------------

std::u32string DecodeUtf8(std::string_view s) {
  AddWork(s.size() / 256);
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char32_t>(c);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (cc & 0x3f);
      }
    }
    if (ok) {
      const char32_t min = len == 2 ? 0x80 : (len == 3 ? 0x800 : 0x10000);
      ok = cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out += cp;
      i += len;
    } else {
      out += static_cast<char32_t>(0xdc00 + c);  // surrogateescape
      ++i;
    }
  }
  return out;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c >= 0xdc80 && c <= 0xdcff) {
    out += static_cast<char>(c - 0xdc00);  // a byte that was not UTF-8, given back
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(out, c);
  return out;
}

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

size_t Utf8Length(std::string_view s) {
  if (IsAscii(s)) return s.size();
  return DecodeUtf8(s).size();
}

bool IsPySpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

char32_t ToUpper(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 32;
  if (c == 0xff) return 0x178;
  if (c == 0xb5) return 0x39c;
  if (c >= 0x100 && c <= 0x17f) {
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c % 2 == 0) ? c - 1 : c;
    if (c == 0x131) return 'I';
    if (c == 0x17f) return 'S';
    if (c != 0x130 && c != 0x138 && c != 0x149 && c % 2 == 1) return c - 1;
    return c;
  }
  if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) return c - 32;
  if (c == 0x3c2) return 0x3a3;
  if (c >= 0x430 && c <= 0x44f) return c - 32;
  if (c >= 0x450 && c <= 0x45f) return c - 80;
  if (c >= 0xff41 && c <= 0xff5a) return c - 32;
  return c;
}

char32_t ToLower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
  if (c == 0x178) return 0xff;
  if (c >= 0x100 && c <= 0x17f) {
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x130) return 'i';
    if (c != 0x138 && c != 0x149 && c != 0x131 && c != 0x17f && c % 2 == 0) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 32;
  if (c >= 0x410 && c <= 0x42f) return c + 32;
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  if (c >= 0xff21 && c <= 0xff3a) return c + 32;
  return c;
}

bool IsAlpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c < 0xc0) return c == 0xaa || c == 0xb5 || c == 0xba;
  if (c == 0xd7 || c == 0xf7) return false;
  if (IsPySpace(c)) return false;
  if ((c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) ||
      (c >= 0xff00 && c <= 0xff20) || (c >= 0xdc80 && c <= 0xdcff) ||
      (c >= 0x1f000 && c <= 0x1faff)) {
    return false;
  }
  return true;
}

bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace naut::llm::jinja

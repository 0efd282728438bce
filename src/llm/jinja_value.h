#pragma once
// The values a Jinja chat template works on (part of the engine behind llm/jinja.h; nothing
// outside src/llm/jinja*.cc should need this header). They behave like the Python objects
// Jinja2 hands a template, wherever a template can tell the difference: printing uses Python's
// str() and repr() (`None`, `True`, `['a', 1]`, `1e+16`), dictionaries keep insertion order,
// `==` compares by value across int/float/bool, strings index and measure by code point, and
// an undefined value prints as "" but fails when its attributes are read or it is computed
// with (Jinja2's default Undefined).
//
// Lists, tuples and dictionaries are immutable once built and shared between copies (a
// template runs in transformers' ImmutableSandboxedEnvironment, where they cannot change);
// a namespace() is the one mutable object and has reference semantics.
//
// Failures are thrown as TemplateError, which never leaves the engine: JinjaTemplate (jinja.h)
// turns it into a Status. Not thread-safe by itself; a render owns its values.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace naut::llm::jinja {

// 1-based line and column (in characters) in the template's source; 0 when not known yet.
struct Loc {
  int line = 0;
  int column = 0;
};

struct TemplateError {
  enum class Kind {
    kSyntax,   // the template cannot be parsed
    kRaised,   // the template called raise_exception(message)
    kRuntime,  // Python would raise (TypeError, UndefinedError, ...)
    kLimit,    // a bound on depth, size or steps was hit
  };
  Kind kind = Kind::kRuntime;
  std::string message;
  Loc loc;
};

[[noreturn]] void Throw(TemplateError::Kind kind, std::string message, Loc loc = {});

// Work done by value operations on this thread (one unit per list item built or value
// compared, one per 256 bytes of text built or decoded). The interpreter adds it to its step
// count, so that a template looping over big values is stopped as a long loop is.
void AddWork(uint64_t units);
uint64_t TakeWork();
[[noreturn]] inline void RuntimeError(std::string message) {
  Throw(TemplateError::Kind::kRuntime, std::move(message));
}

// Limits every value obeys, so that printing, comparing and destroying one never recurses
// deeper than the stack allows and a template cannot build unbounded lists.
inline constexpr int kMaxValueDepth = 400;
inline constexpr size_t kMaxListItems = size_t{1} << 20;

class Value;
struct ListData;
class DictData;
struct NamespaceData;
class Runtime;

// Arguments of a call: positional, then keyword (in the order written).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

using NativeFunction = std::function<Value(Runtime&, CallArgs&)>;

struct FunctionData {
  std::string name;  // for messages: "macro 'm'", "raise_exception"
  NativeFunction call;
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,  // a list or a tuple (ListData::tuple)
    kDict,
    kNamespace,
    kFunction,
  };

  Value() = default;  // undefined
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}

  // An undefined value whose use fails with `hint` ("'x' is undefined").
  static Value Undefined(std::string hint);
  // A string marked safe (markupsafe.Markup: what |safe and |escape give). Adding a plain
  // string to one HTML-escapes the plain string, as Python does; printing is unchanged.
  static Value Markup(std::string s);
  static Value List(std::vector<Value> items);
  static Value Tuple(std::vector<Value> items);
  // What Python's generators (map, select, unique, ...) give: iterable, always true, but
  // without len(), indexing or JSON.
  static Value Generator(std::vector<Value> items);
  static Value Dict(DictData dict);
  static Value Namespace();
  static Value Function(std::string name, NativeFunction fn);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is int
  bool is_string() const { return kind() == Kind::kString; }
  bool is_markup() const { return markup_ && is_string(); }
  bool is_list() const { return kind() == Kind::kList; }  // list, tuple or generator
  bool is_tuple() const;
  bool is_generator() const;
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_function() const { return kind() == Kind::kFunction; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return *std::get<5>(v_); }
  const std::vector<Value>& items() const;  // list or tuple
  const DictData& dict() const;
  NamespaceData& ns() const;
  const FunctionData& function() const;
  const std::string& undefined_hint() const;

  // An int for int and bool; a double for any number.
  int64_t ToInt() const;
  double ToDouble() const;
  // How deeply lists and dictionaries nest inside (0 for scalars).
  int depth() const;
  // Identity of the shared object (list, dict, namespace, function); nullptr for scalars.
  const void* identity() const;

 private:
  struct UndefinedTag {
    std::shared_ptr<const std::string> hint;
  };
  // Strings are shared, like Python's: reading a variable or an attribute never copies text.
  std::variant<UndefinedTag, std::nullptr_t, bool, int64_t, double,
               std::shared_ptr<const std::string>, std::shared_ptr<const ListData>,
               std::shared_ptr<const DictData>, std::shared_ptr<NamespaceData>,
               std::shared_ptr<const FunctionData>>
      v_;
  bool markup_ = false;
};

struct ListData {
  std::vector<Value> items;
  bool tuple = false;
  bool generator = false;
  int depth = 1;
};

// An insertion-ordered dictionary with Python's key semantics (1, 1.0 and True are one key).
class DictData {
 public:
  // Inserts or replaces; a replaced key keeps its first position. Throws on unhashable keys.
  void Set(Value key, Value value);
  // nullptr when absent or when `key` is unhashable (Jinja then yields undefined).
  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  int depth() const { return depth_; }

 private:
  std::vector<std::pair<Value, Value>> entries_;
  std::unordered_map<std::string, size_t> index_;
  int depth_ = 1;
};

struct NamespaceData {
  std::vector<std::pair<std::string, Value>> attrs;
  const Value* Find(std::string_view name) const;
  void Set(const std::string& name, Value value);
};

// Python's semantics.
bool Truthy(const Value& v);
bool Equal(const Value& a, const Value& b);
// -1, 0, 1; throws Python's TypeError message (naming `op`) when the two cannot be ordered.
int Compare(const Value& a, const Value& b, std::string_view op = "<");
std::string TypeName(const Value& v);  // 'str', 'int', 'NoneType', 'dict', ...
std::string Str(const Value& v);       // str(v); undefined is ""
std::string Repr(const Value& v);      // repr(v)
std::string FloatRepr(double d);       // repr(float): 1.0, 1e+16, 1.5e-07, inf, nan

// json.dumps(v, ensure_ascii, indent, separators, sort_keys). indent: nullopt for none, else
// the indent string; separators default to (", ", ": ") without indent and (",", ": ") with.
struct JsonStyle {
  bool ensure_ascii = false;
  std::optional<std::string> indent;
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};
std::string ToJson(const Value& v, const JsonStyle& style);

// Builds values from parsed JSON (objects keep the order the JSON type keeps). JSON nesting
// is bounded by the caller (core/json.h's ParseJson and ParseOrderedJson).
Value FromJson(const nlohmann::ordered_json& j);
Value FromJson(const nlohmann::json& j);

// UTF-8 as Python sees str: code points. Invalid bytes decode to U+DC80..U+DCFF and encode
// back to the same byte (Python's surrogateescape), so nothing is lost.
std::u32string DecodeUtf8(std::string_view s);
std::string EncodeUtf8(std::u32string_view s);
void AppendUtf8(std::string& out, char32_t c);
size_t Utf8Length(std::string_view s);
bool IsAscii(std::string_view s);

// Python's str.isspace() for one code point.
bool IsPySpace(char32_t c);
char32_t ToUpper(char32_t c);
char32_t ToLower(char32_t c);
bool IsAlpha(char32_t c);
bool IsDigit(char32_t c);

// markupsafe.escape of a plain string: & < > " ' as entities.
std::string HtmlEscape(std::string_view s);

}  // namespace naut::llm::jinja

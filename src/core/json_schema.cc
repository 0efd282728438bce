#include "core/json_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace naut {
namespace {

using Wording = JsonSchemaOptions::Wording;

// The first integral double outside int64_t, both ways.
constexpr double kInt64Bound = 9223372036854775808.0;

bool IsIntegral(double d) { return std::isfinite(d) && std::floor(d) == d; }

bool HasType(const Json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    return v.is_number_integer() || v.is_number_unsigned() ||
           (v.is_number_float() && IsIntegral(v.get<double>()));
  }
  return true;  // an unknown type name constrains nothing
}

std::vector<std::string> TypesOf(const Json& schema) {
  std::vector<std::string> types;
  auto it = schema.find("type");
  if (it == schema.end()) return types;
  if (it->is_string()) types.push_back(it->get<std::string>());
  if (it->is_array()) {
    for (const auto& t : *it) {
      if (t.is_string()) types.push_back(t.get<std::string>());
    }
  }
  return types;
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? std::string(separator) : "") + items[i];
  return out;
}

// A value quoted in a message: peers get 60 characters of it, models 40.
std::string Quote(const Json& v, Wording wording) {
  std::string s = DumpJson(v);
  if (wording == Wording::kPeer) return s.size() > 60 ? s.substr(0, 57) + "..." : s;
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// How an enum value is compared when repairing: "Python" and "python", "dry-run" and "dry_run".
std::string Folded(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

// `v` read as `type` when that is unambiguous (see JsonSchemaOptions::repair).
bool Repair(Json& v, const std::string& type, const JsonSchemaOptions& options) {
  if (v.is_string()) {
    std::string s = Trim(v.get<std::string>());
    if (type == "integer" || type == "number") {
      auto n = ParseJson(s, "number");
      if (n && n->is_number() && HasType(*n, type)) {
        bool small = std::fabs(n->get<double>()) < kInt64Bound;
        if (type == "number" || n->is_number_integer() || n->is_number_unsigned()) {
          v = *n;
          return true;
        }
        if (small) {
          v = static_cast<int64_t>(n->get<double>());
          return true;
        }
      }
    }
    if (type == "boolean" && (s == "true" || s == "false" || s == "True" || s == "False")) {
      v = (s == "true" || s == "True");
      return true;
    }
    if (type == "object" || type == "array") {
      auto parsed = options.read_json_text ? options.read_json_text(s) : ParseJson(s, "argument");
      if (parsed.ok() && HasType(*parsed, type)) {
        v = std::move(*parsed);
        return true;
      }
    }
  }
  if (type == "string" && (v.is_number() || v.is_boolean())) {
    v = DumpJson(v);
    return true;
  }
  if (type == "integer" && v.is_number_float() && IsIntegral(v.get<double>()) &&
      std::fabs(v.get<double>()) < kInt64Bound) {
    v = static_cast<int64_t>(v.get<double>());
    return true;
  }
  if (type == "array" && !v.is_array() && !v.is_null()) {
    v = Json::array({v});
    return true;
  }
  return false;
}

// One walk over a value and its schema. `v` is the value read; `fix` is the same value when
// repairs are on, else null, so nothing is changed through a const value. Each step reports
// problems through Problem(), which words them for the reader, and returns false when the
// rest of this schema need not be looked at.
class SchemaWalker {
 public:
  SchemaWalker(const JsonSchemaOptions& options, std::string_view root)
      : options_(options), root_(root) {}

  void Check(const Json& v, Json* fix, const Json& schema, const std::string& at, int depth) {
    if (depth > kMaxJsonDepth) {
      Problem(at, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels",
              "nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return;
    }
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) Problem(at, "no value is allowed here", "is not accepted here");
      return;
    }
    if (!schema.is_object()) return;
    if (!CheckBranches(v, fix, schema, at, depth) || Done()) return;
    if (!CheckType(v, fix, schema, at) || Done()) return;
    if (!CheckEnumAndConst(v, fix, schema, at) || Done()) return;
    if (v.is_number()) CheckNumber(v, schema, at);
    if (v.is_string()) CheckString(v, schema, at);
    if (v.is_array() && !Done()) CheckArray(v, fix, schema, at, depth);
    if (v.is_object() && !Done()) CheckObject(v, fix, schema, at, depth);
  }

  JsonSchemaReport TakeReport() { return std::move(report_); }

 private:
  // Whether the walk stops here: a peer hears of the first problem only.
  bool Done() const { return !options_.all_problems && !report_.problems.empty(); }

  void Problem(const std::string& at, const std::string& for_peer, const std::string& for_model) {
    if (Done()) return;
    report_.problems.push_back(options_.wording == Wording::kPeer ? at + ": " + for_peer
                                                                  : at + " " + for_model);
  }

  std::string Quote(const Json& v) const { return naut::Quote(v, options_.wording); }

  // Where a property sits: "arguments.limit" for a peer; for a model the arguments' own
  // properties are "argument 'limit'", deeper ones "argument 'items'[0].id".
  std::string Child(const std::string& at, const std::string& key) const {
    if (options_.wording == Wording::kModel && at == root_ && root_.rfind("arguments", 0) == 0)
      return "argument '" + key + "'";
    return at + "." + key;
  }

  // anyOf, oneOf and allOf. False when the value fits none of the shapes offered.
  bool CheckBranches(const Json& v, Json* fix, const Json& schema, const std::string& at,
                     int depth) {
    for (const char* key : {"anyOf", "oneOf"}) {
      auto it = schema.find(key);
      if (it == schema.end() || !it->is_array() || it->empty()) continue;
      const bool first_fit = std::string_view(key) == "anyOf" || fix != nullptr;
      if (!CheckAlternatives(v, fix, *it, at, depth, first_fit)) return false;
    }
    if (auto it = schema.find("allOf"); it != schema.end() && it->is_array()) {
      for (const auto& branch : *it) {
        if (Done()) break;
        Check(v, fix, branch, at, depth + 1);
      }
    }
    return true;
  }

  // With `first_fit`, the first branch the value satisfies (after its repairs, which are kept);
  // otherwise exactly one branch must fit.
  bool CheckAlternatives(const Json& v, Json* fix, const Json& branches, const std::string& at,
                         int depth, bool first_fit) {
    JsonSchemaOptions quiet = options_;
    quiet.all_problems = false;
    int fits = 0;
    std::string first_problem;
    for (const auto& branch : branches) {
      SchemaWalker inner(quiet, root_);
      Json copy;
      if (fix) copy = v;
      inner.Check(fix ? copy : v, fix ? &copy : nullptr, branch, at, depth + 1);
      JsonSchemaReport r = inner.TakeReport();
      if (!r.ok()) {
        if (first_problem.empty()) first_problem = r.problems.front();
        continue;
      }
      ++fits;
      if (first_fit) {
        if (fix) *fix = std::move(copy);
        for (auto& repair : r.repairs) report_.repairs.push_back(std::move(repair));
        return true;
      }
    }
    if (fits == 1) return true;
    if (fits > 1) {
      Problem(at, "matches more than one of the allowed shapes",
              "matches more than one of the allowed shapes");
    } else if (options_.wording == Wording::kPeer) {
      if (!Done()) report_.problems.push_back(first_problem);
    } else {
      Problem(at, "", "matches none of the allowed shapes");
    }
    return false;
  }

  // False when the value has none of the types allowed, even after repairs.
  bool CheckType(const Json& v, Json* fix, const Json& schema, const std::string& at) {
    const std::vector<std::string> types = TypesOf(schema);
    if (types.empty()) return true;
    bool fits = std::any_of(types.begin(), types.end(),
                            [&](const std::string& t) { return HasType(v, t); });
    for (size_t i = 0; !fits && fix && i < types.size(); ++i) {
      // A copy: *fix is often v itself, and Repair changes it.
      Json before = v;  // NOLINT(performance-unnecessary-copy-initialization)
      if (Repair(*fix, types[i], options_)) {
        report_.repairs.push_back(at + ": " + Quote(before) + " read as " + types[i]);
        fits = true;
      }
    }
    if (!fits) {
      const std::string expected = Join(types, " or ");
      const bool an = types.size() == 1 &&
                      (types[0] == "integer" || types[0] == "array" || types[0] == "object");
      Problem(at, "expected " + expected + ", got " + std::string(JsonTypeName(v)),
              "must be " + std::string(an ? "an " : "a ") + expected + ", got " +
                  std::string(JsonTypeName(v)) + " " + Quote(v));
      return false;
    }
    // 3.0 where an integer is expected: the tool gets 3.
    if (fix && v.is_number_float() &&
        std::find(types.begin(), types.end(), "integer") != types.end())
      (void)Repair(*fix, "integer", options_);
    return true;
  }

  // False when the value is none of the enum's.
  bool CheckEnumAndConst(const Json& v, Json* fix, const Json& schema, const std::string& at) {
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
      if (std::find(e->begin(), e->end(), v) == e->end() && !RepairEnumCase(v, fix, *e, at)) {
        std::string options;
        for (size_t i = 0; i < e->size() && i < 10; ++i)
          options += (i ? ", " : "") + DumpJson((*e)[i]);
        if (e->size() > 10) options += ", ...";
        Problem(at, Quote(v) + " is not one of " + Quote(*e),
                "must be one of " + options + ", got " + Quote(v));
        return false;
      }
    }
    if (auto c = schema.find("const"); c != schema.end() && *c != v) {
      Problem(at, "must be " + Quote(*c), "must be " + DumpJson(*c));
    }
    return true;
  }

  bool RepairEnumCase(const Json& v, Json* fix, const Json& options, const std::string& at) {
    if (!fix || !v.is_string()) return false;
    for (const auto& option : options) {
      if (option.is_string() && Folded(option.get<std::string>()) == Folded(v.get<std::string>())) {
        report_.repairs.push_back(at + ": " + DumpJson(v) + " read as " + DumpJson(option));
        *fix = option;
        return true;
      }
    }
    return false;
  }

  void CheckNumber(const Json& v, const Json& schema, const std::string& at) {
    const double d = v.get<double>();
    auto bound = [&](const char* key) -> const Json* {
      auto it = schema.find(key);
      return it != schema.end() && it->is_number() ? &*it : nullptr;
    };
    if (const Json* b = bound("minimum"); b && d < b->get<double>()) {
      Problem(at, Quote(v) + " is less than the minimum " + Quote(*b),
              "must be at least " + DumpJson(*b) + ", got " + DumpJson(v));
    }
    if (const Json* b = bound("maximum"); b && d > b->get<double>()) {
      Problem(at, Quote(v) + " is greater than the maximum " + Quote(*b),
              "must be at most " + DumpJson(*b) + ", got " + DumpJson(v));
    }
    if (const Json* b = bound("exclusiveMinimum"); b && d <= b->get<double>()) {
      Problem(at, Quote(v) + " must be greater than " + Quote(*b),
              "must be greater than " + DumpJson(*b) + ", got " + DumpJson(v));
    }
    if (const Json* b = bound("exclusiveMaximum"); b && d >= b->get<double>()) {
      Problem(at, Quote(v) + " must be less than " + Quote(*b),
              "must be less than " + DumpJson(*b) + ", got " + DumpJson(v));
    }
  }

  void CheckString(const Json& v, const Json& schema, const std::string& at) {
    const double length = static_cast<double>(Utf8Length(v.get_ref<const std::string&>()));
    if (auto it = schema.find("minLength");
        it != schema.end() && it->is_number() && length < it->get<double>()) {
      Problem(at, "shorter than " + Quote(*it) + " characters",
              "must be at least " + DumpJson(*it) + " characters long");
    }
    if (auto it = schema.find("maxLength");
        it != schema.end() && it->is_number() && length > it->get<double>()) {
      Problem(at, "longer than " + Quote(*it) + " characters",
              "must be at most " + DumpJson(*it) + " characters long");
    }
  }

  void CheckArray(const Json& v, Json* fix, const Json& schema, const std::string& at, int depth) {
    const double size = static_cast<double>(v.size());
    if (auto it = schema.find("minItems");
        it != schema.end() && it->is_number() && size < it->get<double>()) {
      Problem(at, "needs at least " + Quote(*it) + " items, got " + std::to_string(v.size()),
              "needs at least " + DumpJson(*it) + " items");
    }
    if (auto it = schema.find("maxItems");
        it != schema.end() && it->is_number() && size > it->get<double>()) {
      Problem(at, "allows at most " + Quote(*it) + " items, got " + std::to_string(v.size()),
              "takes at most " + DumpJson(*it) + " items");
    }
    auto items = schema.find("items");
    if (items == schema.end() || !(items->is_object() || items->is_boolean())) return;
    for (size_t i = 0; i < v.size() && !Done(); ++i) {
      Check(v[i], fix ? &(*fix)[i] : nullptr, *items, at + "[" + std::to_string(i) + "]",
            depth + 1);
    }
  }

  void CheckObject(const Json& v, Json* fix, const Json& schema, const std::string& at, int depth) {
    static const Json kNoProperties = Json::object();
    static const Json kNoneRequired = Json::array();
    auto p = schema.find("properties");
    const Json& props = p != schema.end() && p->is_object() ? *p : kNoProperties;
    auto r = schema.find("required");
    const Json& required = r != schema.end() && r->is_array() ? *r : kNoneRequired;
    if (fix) DropOptionalNulls(*fix, props, required, at);
    for (const auto& name : required) {
      if (name.is_string() && !v.contains(name.get<std::string>())) {
        Problem(Child(at, name.get<std::string>()), "required field is missing",
                "is required but missing");
      }
    }
    auto additional = schema.find("additionalProperties");
    for (const auto& [key, item] : v.items()) {
      if (Done()) return;
      Json* item_fix = fix ? &(*fix)[key] : nullptr;
      if (auto s = props.find(key); s != props.end()) {
        Check(item, item_fix, *s, Child(at, key), depth + 1);
      } else if (additional != schema.end() && *additional == false) {
        std::vector<std::string> known;
        for (const auto& [name, unused] : props.items()) known.push_back(name);
        Problem(
            Child(at, key),
            "unknown field" + (known.empty() ? "" : "; allowed: " + Join(known, ", ")),
            "is not accepted" + (known.empty() ? "" : " (expected: " + Join(known, ", ") + ")"));
      } else if (additional != schema.end()) {
        Check(item, item_fix, *additional, Child(at, key), depth + 1);
      }
    }
  }

  // A null for an optional property means "not given" to most models.
  void DropOptionalNulls(Json& v, const Json& props, const Json& required, const std::string& at) {
    for (auto it = v.begin(); it != v.end();) {
      auto s = props.find(it.key());
      const bool droppable =
          it->is_null() && s != props.end() &&
          std::find(required.begin(), required.end(), it.key()) == required.end();
      std::vector<std::string> types = droppable ? TypesOf(*s) : std::vector<std::string>{};
      if (droppable && std::find(types.begin(), types.end(), "null") == types.end()) {
        report_.repairs.push_back(Child(at, it.key()) + ": null dropped");
        it = v.erase(it);
      } else {
        ++it;
      }
    }
  }

  const JsonSchemaOptions& options_;
  const std::string root_;
  JsonSchemaReport report_;
};

}  // namespace

JsonSchemaReport CheckJsonSchema(Json& value, const Json& schema, std::string_view root,
                                 const JsonSchemaOptions& options) {
  SchemaWalker walker(options, root);
  walker.Check(value, options.repair ? &value : nullptr, schema, std::string(root), 0);
  return walker.TakeReport();
}

JsonSchemaReport CheckJsonSchema(const Json& value, const Json& schema, std::string_view root,
                                 const JsonSchemaOptions& options) {
  SchemaWalker walker(options, root);
  walker.Check(value, nullptr, schema, std::string(root), 0);
  return walker.TakeReport();
}

Status ValidateJson(const Json& value, const Json& schema, std::string_view root) {
  JsonSchemaReport report = CheckJsonSchema(value, schema, root, JsonSchemaOptions::ForPeer());
  if (report.ok()) return Status::Ok();
  return InvalidArgument(report.problems.front());
}

}  // namespace naut

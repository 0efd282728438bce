#include "llm/schema_sanitizer.h"

#include <algorithm>
#include <set>

namespace naut::llm {

namespace {

const std::set<std::string> kKept = {"type",
                                     "properties",
                                     "required",
                                     "items",
                                     "prefixItems",
                                     "enum",
                                     "const",
                                     "description",
                                     "title",
                                     "default",
                                     "minimum",
                                     "maximum",
                                     "exclusiveMinimum",
                                     "exclusiveMaximum",
                                     "minLength",
                                     "maxLength",
                                     "minItems",
                                     "maxItems",
                                     "additionalProperties",
                                     "anyOf",
                                     "pattern",
                                     "format"};
const std::set<std::string> kTypes = {"string", "number", "integer", "boolean",
                                      "object", "array",  "null"};
const std::set<std::string> kFormats = {"date", "time", "date-time", "uuid"};

class Sanitizer {
 public:
  Sanitizer(const Json& root, const SanitizeOptions& options, std::vector<std::string>& notes)
      : root_(root),
        options_(options),
        max_depth_(std::min(options.max_depth, kMaxJsonDepth)),
        notes_(notes) {}

  Json Run(const Json& schema, const std::string& path, int depth) {
    if (schema.is_boolean()) return schema.get<bool>() ? Json::object() : Json{{"type", "null"}};
    if (!schema.is_object()) {
      Note(path, "not a schema (" + std::string(JsonTypeName(schema)) + "), replaced by {}");
      return Json::object();
    }
    if (depth > max_depth_) {
      Note(path, "nested deeper than " + std::to_string(max_depth_) + " levels, replaced by {}");
      return Json::object();
    }
    if (schema.contains("$ref")) return Ref(schema, path, depth);

    const Json merged = MergeAllOf(schema, path);
    Schema out;
    for (const auto& [key, value] : merged.items()) {
      Keyword(key, value, path.empty() ? key : path + "." + key, depth, merged, out);
    }
    if (merged.contains("nullable") && merged["nullable"] == true && out.json.contains("type")) {
      Json t = out.json["type"].is_array() ? out.json["type"] : Json::array({out.json["type"]});
      if (std::find(t.begin(), t.end(), "null") == t.end()) t.push_back("null");
      out.json["type"] = t;
      Note(path, "nullable turned into a \"null\" type");
    }
    FinishDescription(path, out);
    return std::move(out.json);
  }

 private:
  // A schema being sanitized, and what its description is to gain from keywords that the
  // grammar cannot enforce.
  struct Schema {
    Json json = Json::object();
    std::string extra_description;
  };

  // allOf of object schemas: merged into this one.
  Json MergeAllOf(const Json& schema, const std::string& path) {
    Json merged = schema;
    if (!schema.contains("allOf") || !schema["allOf"].is_array()) return merged;
    merged.erase("allOf");
    for (const auto& part : schema["allOf"]) {
      Json p = part.is_object() && part.contains("$ref") ? Resolve(part["$ref"]) : part;
      if (!p.is_object()) continue;
      for (const auto& [k, v] : p.items()) {
        if (k == "properties" && v.is_object()) {
          if (!merged.contains("properties") || !merged["properties"].is_object())
            merged["properties"] = Json::object();
          for (const auto& [pk, pv] : v.items()) merged["properties"][pk] = pv;
        } else if (k == "required" && v.is_array()) {
          if (!merged.contains("required") || !merged["required"].is_array())
            merged["required"] = Json::array();
          for (const auto& r : v) merged["required"].push_back(r);
        } else if (!merged.contains(k)) {
          merged[k] = v;
        }
      }
    }
    Note(path, "allOf merged into one schema");
    return merged;
  }

  // One keyword of `merged` (at path `at`) into `out`: kept, rewritten, moved to the
  // description or removed with a note.
  void Keyword(const std::string& key, const Json& value, const std::string& at, int depth,
               const Json& merged, Schema& out) {
    if (key == "oneOf" || key == "anyOf") {
      out.json["anyOf"] = Alternatives(value, at, depth);
    } else if (key == "nullable") {
      return;  // handled with type, once every keyword is in
    } else if (!kKept.count(key)) {
      Note(at, "unsupported keyword removed");
    } else if (key == "type") {
      Json t = Type(value, at);
      if (!t.is_null()) out.json["type"] = t;
    } else if (key == "properties") {
      Properties(value, at, depth, out);
    } else if (key == "required") {
      Json req = Json::array();
      std::set<std::string> seen;
      if (value.is_array()) {
        for (const auto& r : value) {
          if (r.is_string() && seen.insert(r.get<std::string>()).second) req.push_back(r);
        }
      }
      out.json["required"] = std::move(req);
    } else if (key == "items" && !value.is_array()) {
      out.json["items"] = Run(value, at, depth + 1);
    } else if (key == "items" || (key == "prefixItems" && value.is_array())) {
      Json tuple = Json::array();
      for (size_t i = 0; i < value.size(); ++i)
        tuple.push_back(Run(value[i], at + "[" + std::to_string(i) + "]", depth + 1));
      out.json["prefixItems"] = std::move(tuple);
    } else if (key == "additionalProperties") {
      out.json[key] = value.is_boolean() ? value : Run(value, at, depth + 1);
    } else if (key == "pattern") {
      Pattern(value, at, out);
    } else if (key == "format") {
      std::string f = value.is_string() ? value.get<std::string>() : "";
      if (kFormats.count(f)) {
        out.json[key] = f;
      } else {
        Note(at, "format '" + f + "' moved to the description");
        out.extra_description += " Format: " + f + ".";
      }
    } else if (key == "enum") {
      Enum(value, at, merged, out);
    } else if (key == "description" || key == "title") {
      if (value.is_string()) out.json[key] = value;
    } else {
      out.json[key] = value;
    }
  }

  void Properties(const Json& value, const std::string& at, int depth, Schema& out) {
    if (!value.is_object()) {
      Note(at, "not an object, removed");
      return;
    }
    Json props = Json::object();
    for (const auto& [name, sub] : value.items()) {
      if (sub.is_boolean() && !sub.get<bool>()) {
        Note(at + "." + name, "forbidden property (false) removed");
        continue;
      }
      props[name] = Run(sub, at + "." + name, depth + 1);
    }
    out.json["properties"] = std::move(props);
  }

  // Only an anchored pattern without lookaround or backreferences is one the grammar can hold.
  void Pattern(const Json& value, const std::string& at, Schema& out) {
    std::string p = value.is_string() ? value.get<std::string>() : "";
    bool anchored = p.size() >= 2 && p.front() == '^' && p.back() == '$';
    bool fancy = p.find("(?=") != std::string::npos || p.find("(?!") != std::string::npos ||
                 p.find("(?<") != std::string::npos || p.find("\\1") != std::string::npos;
    if (anchored && !fancy) {
      out.json["pattern"] = p;
    } else {
      Note(at, anchored ? "pattern with lookaround or backreference moved to the description"
                        : "unanchored pattern moved to the description");
      out.extra_description += " Must match the pattern " + p + ".";
    }
  }

  void Enum(const Json& value, const std::string& at, const Json& merged, Schema& out) {
    if (!value.is_array() || value.empty()) {
      Note(at, "empty or invalid enum removed");
    } else if (value.size() > options_.max_enum) {
      Note(at, "enum of " + std::to_string(value.size()) + " values removed (more than " +
                   std::to_string(options_.max_enum) + ")");
      std::string some;
      for (size_t i = 0; i < 8; ++i) some += (i ? ", " : "") + DumpJson(value[i]);
      out.extra_description +=
          " One of " + std::to_string(value.size()) + " values such as " + some + ".";
      if (!merged.contains("type") && value[0].is_string()) out.json["type"] = "string";
    } else {
      out.json["enum"] = value;
    }
  }

  void FinishDescription(const std::string& path, Schema& out) {
    if (!out.extra_description.empty()) {
      std::string d =
          out.json.contains("description") ? out.json["description"].get<std::string>() : "";
      out.json["description"] =
          d + (d.empty() ? out.extra_description.substr(1) : out.extra_description);
    }
    if (out.json.contains("description")) {
      std::string d = out.json["description"].get<std::string>();
      if (d.size() > options_.max_description) {
        out.json["description"] = d.substr(0, options_.max_description) + "...";
        Note(path.empty() ? "description" : path + ".description", "shortened");
      }
    }
  }

  void Note(const std::string& path, const std::string& what) {
    notes_.push_back((path.empty() ? "(root)" : path) + ": " + what);
  }

  Json Type(const Json& value, const std::string& at) {
    if (value.is_string()) {
      if (kTypes.count(value.get<std::string>())) return value;
      Note(at, "unknown type '" + value.get<std::string>() + "' removed");
      return nullptr;
    }
    if (value.is_array()) {
      Json out = Json::array();
      for (const auto& t : value) {
        if (t.is_string() && kTypes.count(t.get<std::string>())) out.push_back(t);
      }
      if (out.empty()) return nullptr;
      return out.size() == 1 ? out[0] : out;
    }
    Note(at, "invalid type removed");
    return nullptr;
  }

  Json Alternatives(const Json& value, const std::string& at, int depth) {
    Json out = Json::array();
    if (!value.is_array()) {
      Note(at, "not an array, removed");
      return Json::array({Json::object()});
    }
    for (size_t i = 0; i < value.size(); ++i)
      out.push_back(Run(value[i], at + "[" + std::to_string(i) + "]", depth + 1));
    if (out.empty()) out.push_back(Json::object());
    return out;
  }

  Json Resolve(const Json& ref) {
    if (!ref.is_string()) return nullptr;
    std::string r = ref.get<std::string>();
    if (r.rfind("#/", 0) != 0 && r != "#") return nullptr;
    try {
      Json::json_pointer ptr(r.substr(1));
      if (!root_.contains(ptr)) return nullptr;
      return root_.at(ptr);
    } catch (const std::exception&) {
      return nullptr;
    }
  }

  Json Ref(const Json& schema, const std::string& path, int depth) {
    std::string ref = schema["$ref"].is_string() ? schema["$ref"].get<std::string>() : "";
    Json target = Resolve(schema["$ref"]);
    if (target.is_null()) {
      Note(path, "$ref '" + ref + "' cannot be resolved here, replaced by {}");
      return Json::object();
    }
    // A $ref expands at the depth of its use, so a chain of distinct $refs (a -> b -> c ...)
    // would recurse once per link without ever going deeper: the chain has its own bound.
    bool too_long = static_cast<int>(active_.size()) >= max_depth_;
    if (active_.count(ref) || too_long) {
      Note(path, too_long ? "chain of more than " + std::to_string(max_depth_) + " $refs cut at '" +
                                ref + "', replaced by {}"
                          : "recursive $ref '" + ref + "' cut, replaced by {}");
      Json cut = Json::object();
      if (target.is_object() && target.contains("type")) cut["type"] = target["type"];
      return cut;
    }
    active_.insert(ref);
    Json merged = target;
    if (merged.is_object()) {
      for (const auto& [k, v] : schema.items()) {
        if (k != "$ref") merged[k] = v;  // siblings of $ref (description, ...) win
      }
    }
    Json out = Run(merged, path, depth);
    active_.erase(ref);
    return out;
  }

  const Json& root_;
  const SanitizeOptions& options_;
  const int max_depth_;  // each level is a level of recursion here, so never past kMaxJsonDepth
  std::vector<std::string>& notes_;
  std::set<std::string> active_;  // $refs being expanded on the current path
};

}  // namespace

SanitizedSchema SanitizeToolSchema(const Json& schema, const SanitizeOptions& options) {
  SanitizedSchema out;
  Sanitizer s(schema, options, out.notes);
  Json root = schema;
  if (root.is_object()) {
    root.erase("$defs");
    root.erase("definitions");
  }
  out.schema = s.Run(root, "", 0);
  if (!out.schema.contains("type")) {
    out.schema["type"] = "object";
  } else if (out.schema["type"] != "object") {
    out.notes.emplace_back(
        "(root): a tool's parameters must be an object schema; replaced by an open object");
    out.schema = Json{{"type", "object"}};
  }
  if (!out.schema.contains("properties")) out.schema["properties"] = Json::object();
  return out;
}

}  // namespace naut::llm

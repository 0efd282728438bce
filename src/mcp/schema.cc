#include "mcp/schema.h"

#include <cmath>

namespace naut::mcp {
namespace {

bool IsType(const Json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer() || v.is_number_unsigned()) return true;
    if (v.is_number_float()) {
      double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d;
    }
    return false;
  }
  return true;  // unknown type names are not ours to reject
}

std::string Describe(const Json& v) {
  std::string s = DumpJson(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Status Check(const Json& v, const Json& schema, const std::string& path, int depth) {
  // Each level of the value or the schema is one level of recursion here.
  if (depth > kMaxJsonDepth) {
    return InvalidArgument(path + ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return Status::Ok();
    return InvalidArgument(path + ": no value is allowed here");
  }
  if (!schema.is_object()) return Status::Ok();

  if (auto it = schema.find("type"); it != schema.end()) {
    std::vector<std::string> types;
    if (it->is_string()) types.push_back(it->get<std::string>());
    if (it->is_array()) {
      for (const auto& t : *it)
        if (t.is_string()) types.push_back(t.get<std::string>());
    }
    bool ok = types.empty();
    for (const auto& t : types) ok = ok || IsType(v, t);
    if (!ok) {
      std::string expected;
      for (size_t i = 0; i < types.size(); ++i) expected += (i ? " or " : "") + types[i];
      return InvalidArgument(path + ": expected " + expected + ", got " +
                             std::string(JsonTypeName(v)));
    }
  }
  if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
    bool found = false;
    for (const auto& e : *it) found = found || e == v;
    if (!found)
      return InvalidArgument(path + ": " + Describe(v) + " is not one of " + Describe(*it));
  }
  if (auto it = schema.find("const"); it != schema.end() && *it != v) {
    return InvalidArgument(path + ": must be " + Describe(*it));
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (auto it = schema.find("minimum");
        it != schema.end() && it->is_number() && d < it->get<double>())
      return InvalidArgument(path + ": " + Describe(v) + " is less than the minimum " +
                             Describe(*it));
    if (auto it = schema.find("maximum");
        it != schema.end() && it->is_number() && d > it->get<double>())
      return InvalidArgument(path + ": " + Describe(v) + " is greater than the maximum " +
                             Describe(*it));
    if (auto it = schema.find("exclusiveMinimum");
        it != schema.end() && it->is_number() && d <= it->get<double>())
      return InvalidArgument(path + ": " + Describe(v) + " must be greater than " + Describe(*it));
    if (auto it = schema.find("exclusiveMaximum");
        it != schema.end() && it->is_number() && d >= it->get<double>())
      return InvalidArgument(path + ": " + Describe(v) + " must be less than " + Describe(*it));
  }
  if (v.is_string()) {
    size_t len = Utf8Length(v.get_ref<const std::string&>());
    if (auto it = schema.find("minLength");
        it != schema.end() && it->is_number() && len < it->get<double>())
      return InvalidArgument(path + ": shorter than " + Describe(*it) + " characters");
    if (auto it = schema.find("maxLength");
        it != schema.end() && it->is_number() && len > it->get<double>())
      return InvalidArgument(path + ": longer than " + Describe(*it) + " characters");
  }
  if (v.is_array()) {
    if (auto it = schema.find("minItems");
        it != schema.end() && it->is_number() && v.size() < it->get<double>())
      return InvalidArgument(path + ": needs at least " + Describe(*it) + " items, got " +
                             std::to_string(v.size()));
    if (auto it = schema.find("maxItems");
        it != schema.end() && it->is_number() && v.size() > it->get<double>())
      return InvalidArgument(path + ": allows at most " + Describe(*it) + " items, got " +
                             std::to_string(v.size()));
    if (auto it = schema.find("items");
        it != schema.end() && (it->is_object() || it->is_boolean())) {
      for (size_t i = 0; i < v.size(); ++i) {
        NAUT_RETURN_IF_ERROR(Check(v[i], *it, path + "[" + std::to_string(i) + "]", depth + 1));
      }
    }
  }
  if (v.is_object()) {
    const Json* props = nullptr;
    if (auto it = schema.find("properties"); it != schema.end() && it->is_object()) props = &*it;
    if (auto it = schema.find("required"); it != schema.end() && it->is_array()) {
      for (const auto& r : *it) {
        if (r.is_string() && !v.contains(r.get<std::string>())) {
          return InvalidArgument(path + "." + r.get<std::string>() + ": required field is missing");
        }
      }
    }
    auto additional = schema.find("additionalProperties");
    for (const auto& [key, item] : v.items()) {
      if (props && props->contains(key)) {
        NAUT_RETURN_IF_ERROR(Check(item, (*props)[key], path + "." + key, depth + 1));
      } else if (additional != schema.end()) {
        if (additional->is_boolean() && !additional->get<bool>()) {
          std::string allowed;
          if (props) {
            for (const auto& [name, unused] : props->items())
              allowed += (allowed.empty() ? "" : ", ") + name;
          }
          return InvalidArgument(path + "." + key + ": unknown field" +
                                 (allowed.empty() ? std::string() : "; allowed: " + allowed));
        }
        NAUT_RETURN_IF_ERROR(Check(item, *additional, path + "." + key, depth + 1));
      }
    }
  }
  if (auto it = schema.find("anyOf"); it != schema.end() && it->is_array() && !it->empty()) {
    Status first;
    for (const auto& s : *it) {
      Status st = Check(v, s, path, depth + 1);
      if (st.ok()) return Status::Ok();
      if (first.ok()) first = st;
    }
    return first;
  }
  if (auto it = schema.find("oneOf"); it != schema.end() && it->is_array() && !it->empty()) {
    int matches = 0;
    Status first;
    for (const auto& s : *it) {
      Status st = Check(v, s, path, depth + 1);
      if (st.ok())
        ++matches;
      else if (first.ok())
        first = st;
    }
    if (matches == 1) return Status::Ok();
    if (matches == 0) return first;
    return InvalidArgument(path + ": matches more than one of the allowed shapes");
  }
  if (auto it = schema.find("allOf"); it != schema.end() && it->is_array()) {
    for (const auto& s : *it) NAUT_RETURN_IF_ERROR(Check(v, s, path, depth + 1));
  }
  return Status::Ok();
}

}  // namespace

Status ValidateJson(const Json& value, const Json& schema, const std::string& root) {
  return Check(value, schema, root, 0);
}

}  // namespace naut::mcp

#include "core/json.h"

#include <algorithm>

namespace naut {

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON at byte " + std::to_string(e.byte) +
                           ": " + e.what());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON: " + e.what());
  }
}

std::string DumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
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

}  // namespace naut

#pragma once
// JSON at the edges: parsing that never throws, and typed field access with errors that name
// the field and what was expected. Inside the program, data lives in typed structs.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace naut {

using Json = nlohmann::json;

// Parses `text`; on failure the error names `what` (e.g. "mcp.json" or "model output") and
// the byte offset of the problem.
Result<Json> ParseJson(std::string_view text, std::string_view what);

// Serialises without throwing: invalid UTF-8 in strings is replaced, never an exception.
std::string DumpJson(const Json& j, int indent = -1);

// `text` with every invalid UTF-8 sequence (stray or truncated bytes, overlong forms,
// surrogates, code points past U+10FFFF) replaced by U+FFFD, so it can go into JSON; model
// output that ends mid-character or is made of raw byte tokens is the usual source.
std::string ValidUtf8(std::string_view text);

// Typed access. `what` names the object for the error ("tools/call params").
Result<std::string> GetString(const Json& obj, std::string_view key, std::string_view what);
Result<int64_t> GetInt(const Json& obj, std::string_view key, std::string_view what);
Result<bool> GetBool(const Json& obj, std::string_view key, std::string_view what);
std::optional<std::string> GetOptionalString(const Json& obj, std::string_view key);

// "string", "number", "object", ... for error messages.
std::string_view JsonTypeName(const Json& j);

}  // namespace naut

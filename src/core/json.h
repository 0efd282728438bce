#pragma once
// JSON at the edges: parsing that never throws, and typed field access with errors that name
// the field and what was expected. Inside the program, data lives in typed structs.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace naut {

using Json = nlohmann::json;

// Limits on JSON that comes from outside the process. nlohmann-json parses and destroys
// iteratively, but copying, comparing and serialising a value recurse once per nesting level,
// so a value nested 200,000 deep (400 KB of brackets) overflows the stack the first time it
// is copied or dumped. Every text from outside therefore goes through ParseJson, which refuses
// deeper nesting and bigger texts before it builds anything; whatever NeuroNaut builds from a
// parsed value is at most a few levels deeper, which copying and dumping take easily.
//
// Depth counts open arrays and objects: "1" is 0 deep, "[]" and "{}" are 1, "[[1]]" is 2.
// Real documents (tool schemas, tool results, model responses) stay far below 32.
inline constexpr int kMaxJsonDepth = 256;
// The default size cap: above any real MCP message, model response, tool result (images
// included, as base64) or file of ours. Callers expecting bigger or smaller texts pass their
// own cap.
inline constexpr size_t kMaxJsonBytes = 16 * 1024 * 1024;

// Parses `text`, the one entry point for JSON from outside the process (peers, model output,
// files). Errors name `what` (e.g. "mcp.json" or "model output"):
//   - ResourceExhausted when `text` is longer than `max_bytes` or nests deeper than
//     kMaxJsonDepth; both are checked by one linear scan before any value is built;
//   - InvalidArgument for anything that is not JSON, with the byte offset of the problem.
// Thread-safe.
Result<Json> ParseJson(std::string_view text, std::string_view what,
                       size_t max_bytes = kMaxJsonBytes);

// The same, keeping the order of object members as written (Python dicts keep it; chat
// templates print it with tojson and items()).
Result<nlohmann::ordered_json> ParseOrderedJson(std::string_view text, std::string_view what,
                                                size_t max_bytes = kMaxJsonBytes);

// The scalar members named in `keys` of the object `text` starts with, read without building
// the rest: nested values are skipped by bracket counting, so this works on texts ParseJson
// refused (too deep, too big) and on a truncated head of one. For answering a refused
// JSON-RPC message by its "id". Members that are missing, not scalars or not readable are
// absent from the result (an object, possibly empty). Linear in the text; thread-safe.
Json PeekJsonMembers(std::string_view text, std::initializer_list<std::string_view> keys);

// How deep `j` nests (see kMaxJsonDepth), measured without recursion.
int JsonDepth(const Json& j);

// Serialises without throwing: invalid UTF-8 in strings is replaced, never an exception.
// Serialising recurses per level: `j` must come from ParseJson or from NeuroNaut itself (see
// kMaxJsonDepth).
std::string DumpJson(const Json& j, int indent = -1);

// A tool's JSON answer written for a model to read: YAML-like, one `key: value` per line,
// nested values indented, list items as `- `, strings unquoted with their line breaks kept
// (`key: |` then the lines), members in the order the tool wrote them. About half the tokens
// of the JSON and no escapes to decode; small models read it far better. Text that is not a
// JSON object or array comes back unchanged. A list of small flat objects (every member a
// scalar, the whole short and on one line) is written one item per line: `- a: 1, b: x`.
std::string JsonAsReadableText(std::string_view text);

// JSON text with the members named `keys` removed at any depth, member order kept. Text that
// is not JSON, or no keys, comes back unchanged.
std::string JsonWithoutKeys(std::string_view text, const std::vector<std::string>& keys);

// `s` with every invalid UTF-8 sequence (stray or truncated bytes, overlong forms,
// surrogates, code points past U+10FFFF) replaced by U+FFFD, so it can go into JSON; model
// output that ends mid-character or is made of raw byte tokens is the usual source.
std::string ValidUtf8(std::string_view s);

// Typed access. `what` names the object for the error ("tools/call params").
Result<std::string> GetString(const Json& obj, std::string_view key, std::string_view what);
Result<int64_t> GetInt(const Json& obj, std::string_view key, std::string_view what);
Result<bool> GetBool(const Json& obj, std::string_view key, std::string_view what);
std::optional<std::string> GetOptionalString(const Json& obj, std::string_view key);
// The same for numbers: a member that is absent or of another type is nullopt. GetOptionalInt
// takes integers and numbers without a fraction (3.0) within int64_t.
std::optional<int64_t> GetOptionalInt(const Json& obj, std::string_view key);
std::optional<double> GetOptionalNumber(const Json& obj, std::string_view key);

// Optional members that must have their type when given (tool arguments): absent or null is
// nullopt, a value of another type the InvalidArgument GetString gives ("run_python arguments:
// field 'stdin' must be a string, got integer"). A non-object `obj` is an error too.
Result<std::optional<std::string>> GetStringIfPresent(const Json& obj, std::string_view key,
                                                      std::string_view what);
Result<std::optional<double>> GetNumberIfPresent(const Json& obj, std::string_view key,
                                                 std::string_view what);
Result<std::optional<std::vector<std::string>>> GetStringsIfPresent(const Json& obj,
                                                                    std::string_view key,
                                                                    std::string_view what);

// "string", "number", "object", ... for error messages.
std::string_view JsonTypeName(const Json& j);

}  // namespace naut

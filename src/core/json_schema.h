#pragma once
// The one JSON Schema validator, for the subset tool schemas use: type (one or a list),
// properties, required, additionalProperties (bool or schema), enum, const, items,
// minItems/maxItems, minimum/maximum and the exclusive forms, minLength/maxLength (in
// characters), anyOf/oneOf/allOf, and true/false as schemas. Keywords outside the subset are
// ignored, never rejected, so a richer schema still works.
//
// Two readers use it, told apart by JsonSchemaOptions:
//   - an MCP server checking a peer's tools/call arguments (and its own structured results):
//     the first problem refuses the request, worded for a program ("arguments.items[2].name:
//     expected string, got number");
//   - the tool-call parser checking what a model wrote: every problem at once, each a sentence
//     for the model ("argument 'limit' must be at most 100, got 500"), after the unambiguous
//     slips are repaired in place ("5" read as 5 for an integer).
// A value or schema nested deeper than kMaxJsonDepth is a problem, never deeper recursion.
// Pure functions; thread-safe.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut {

struct JsonSchemaOptions {
  // Who reads the problems: a program (an MCP peer) or a model.
  enum class Wording { kPeer, kModel };
  Wording wording = Wording::kPeer;
  // Repair in place what a model got unambiguously wrong, each repair noted in
  // JsonSchemaReport::repairs:
  //   - a number, boolean, object or array written as a string ("5", "true", "{...}");
  //   - a number or boolean where a string is expected, a lone value where an array is;
  //   - an enum value in the wrong case ("Python" for "python");
  //   - 3.0 where an integer is expected, made 3 (not noted);
  //   - null for an optional property that does not allow null (dropped).
  // With repairs, anyOf and oneOf take the first branch the value can be repaired to satisfy
  // (a repaired "3" fits both an integer and a string branch).
  bool repair = false;
  // Every problem (a model corrects them all in one reply) or only the first (a request is
  // refused whole).
  bool all_problems = false;
  // How a repair reads text written where an object or array is expected; ParseJson when
  // empty. The tool-call parser passes its reader of near-JSON (llm/json_repair.h).
  std::function<Result<Json>(std::string_view)> read_json_text;

  // The two readers above.
  static JsonSchemaOptions ForPeer() { return {}; }
  static JsonSchemaOptions ForModel() { return {Wording::kModel, true, true}; }
};

struct JsonSchemaReport {
  std::vector<std::string> problems;  // each names its field by path; empty when valid
  std::vector<std::string> repairs;   // what was repaired, for traces

  bool ok() const { return problems.empty(); }
};

// Checks `value` against `schema`; `root` names the value in the messages ("arguments"). With
// options.repair the value is repaired in place.
JsonSchemaReport CheckJsonSchema(Json& value, const Json& schema, std::string_view root,
                                 const JsonSchemaOptions& options);
// The same without repairs (options.repair is ignored): `value` is not changed.
JsonSchemaReport CheckJsonSchema(const Json& value, const Json& schema, std::string_view root,
                                 const JsonSchemaOptions& options);

// Ok when `value` satisfies `schema`; otherwise InvalidArgument with the first problem, worded
// for a peer ("arguments.path: required field is missing").
Status ValidateJson(const Json& value, const Json& schema, std::string_view root = "arguments");

}  // namespace naut

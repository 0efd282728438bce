#pragma once
// Tool schemas from MCP servers, normalised before they reach a server's grammar converter
// (llama.cpp turns `tools` and `response_format` schemas into a GBNF grammar and rejects the
// whole request when it meets something it cannot convert). One odd tool must never break
// every request, so each schema is reduced to what converters take:
//   - local $ref (#/$defs/..., #/definitions/...) inlined; a recursive $ref cut to {} at its
//     second appearance; a remote $ref replaced by {}
//   - keywords converters do not know (if/then/else, not, patternProperties, $schema, ...)
//     dropped; oneOf becomes anyOf; `nullable: true` becomes a "null" type; allOf of objects merged
//   - `pattern` kept only when anchored (^...$) and free of lookaround and backreferences;
//     `format` kept only for date, time, date-time and uuid; what is dropped moves into the
//     description so the model still reads it
//   - enums longer than `max_enum` dropped (their first values named in the description)
//   - nesting deeper than `max_depth` (never more than kMaxJsonDepth) cut to {}, and so are
//     chains of more than `max_depth` $refs; descriptions capped in length
//   - the root made an object schema, as the tools format requires
// Pure functions; safe from any thread.

#include <string>
#include <vector>

#include "core/json.h"

namespace naut::llm {

struct SanitizeOptions {
  size_t max_enum = 64;
  int max_depth = 12;
  size_t max_description = 1024;
};

struct SanitizedSchema {
  Json schema;
  std::vector<std::string>
      notes;  // "properties.q.pattern: unanchored pattern moved to the description"
};

SanitizedSchema SanitizeToolSchema(const Json& schema, const SanitizeOptions& options = {});

}  // namespace naut::llm

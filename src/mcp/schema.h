#pragma once
// A JSON Schema validator for the subset tool input schemas use: type (one or a list),
// properties, required, enum, const, items, minItems/maxItems, minimum/maximum (and the
// exclusive forms), minLength/maxLength, additionalProperties (bool or schema), anyOf/oneOf.
// Keywords outside the subset are ignored, never rejected, so a richer schema still works.
//
// The error names the field by its path ("arguments.items[2].name: expected a string, got
// number") so a model can correct its call. A value or schema nested deeper than
// kMaxJsonDepth fails validation instead of recursing further. Pure functions; thread-safe.

#include <string>

#include "core/json.h"
#include "core/status.h"

namespace naut::mcp {

// Ok when `value` satisfies `schema`; otherwise InvalidArgument naming the first wrong field.
// `root` names the value in the message ("arguments").
Status ValidateJson(const Json& value, const Json& schema, const std::string& root = "arguments");

}  // namespace naut::mcp

#pragma once
// JSON Schema to GBNF (grammar.h), for constrained JSON output.
//
// Expressed: `type` (one or a list) string / number / integer / boolean / null / object /
// array; `properties` with `required` (properties in the schema's order, optional ones
// skippable); `additionalProperties` (an object with `properties`, even empty ones, is closed:
// a model must not invent arguments, and a closed object is still valid; without
// `properties` it takes any members, of the additionalProperties schema when one is given); `enum`,
// `const`; `items`, `minItems`, `maxItems`, `minLength`, `maxLength` (up to 1000); integer
// `minimum` / `maximum` (exact digit ranges); a number `minimum` of 0 or below (the number is then
// written without a sign); `anyOf` / `oneOf` (as alternatives: oneOf's exclusivity is not
// enforced, so its branches should not overlap); a one-element `allOf`; local `$ref` (#/$defs/...,
// #/definitions/..., recursion allowed); true / false schemas. Annotations (title, description,
// default, examples, ...) are ignored. Whatever else constrains a value (pattern, format,
// multipleOf, exclusive bounds, uniqueItems, patternProperties, not, if/then, prefixItems, number
// maximum, ...) is refused with InvalidArgument naming the keyword and the schema path, never
// silently dropped.
//
// Whitespace between tokens is one space, or one line break and at most 16 blanks of
// indentation (a model that wanders into blanks is not kept there), integer and fraction parts at
// most 16 digits and exponents at most 2, so a model cannot run on forever inside them and every
// number fits a double.
//
// Pure functions and a builder for one thread; the results are GBNF text for Grammar::Parse.

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::engine {

// A grammar for any JSON object (response_format "json_object").
std::string JsonObjectGrammar();

// A grammar for the values `schema` admits.
Result<std::string> JsonSchemaToGrammar(const Json& schema);

// Builds one grammar from several schemas plus rules of the caller's (tool calls: a name and
// arguments per tool). Rule names it makes start with the given prefixes; the shared JSON rules
// are `ws`, `json-value`, `json-object`, `json-string`, ... .
class JsonGrammarBuilder {
 public:
  JsonGrammarBuilder();
  // Adds the rules for `schema` and returns the name of the rule matching it (made from
  // `name`, unique); errors name `name` (when not empty) and the path inside the schema.
  Result<std::string> AddSchema(const Json& schema, const std::string& name);
  // Adds (or replaces) a rule of the caller's.
  void AddRule(const std::string& name, const std::string& body);
  // The body of a rule ("" when there is none).
  std::string Rule(const std::string& name) const;
  // The grammar text: every rule, `root` among them (the caller adds it).
  std::string Text() const;

 private:
  Result<std::string> Visit(const Json& s, const std::string& name, const std::string& path,
                            int depth);
  Result<std::string> VisitTyped(const Json& s, const std::string& type, const std::string& name,
                                 const std::string& path, int depth);
  Result<std::string> ObjectRule(const Json& s, const std::string& name, const std::string& path,
                                 int depth);
  Result<std::string> ArrayRule(const Json& s, const std::string& name, const std::string& path,
                                int depth);
  // "json schema 'NAME' at PATH", how errors begin.
  std::string Where(const std::string& path) const;
  // A rule name made from `base` that no rule has yet, reserved.
  std::string Unique(const std::string& base);
  Result<std::string> Ref(const std::string& ref, const std::string& path, int depth);

  std::map<std::string, std::string> rules_;
  std::vector<std::string> order_;
  const Json* doc_ = nullptr;  // the schema being added, for $ref
  std::string doc_name_;
  std::set<std::string> refs_done_;
};

// The GBNF alternatives for the integers in [lo, hi] (|values| < 10^16), e.g. "[1-9] | "1" [0-2]".
std::string IntegerRangeGrammar(int64_t lo, int64_t hi);

}  // namespace naut::engine

#pragma once
// Lexer and parser of the Jinja engine (part of llm/jinja.h): template text to a Program.
//
// Follows Jinja2 3.1's lexer where whitespace is concerned, since the rendered bytes depend
// on it: line endings are normalised to "\n" and one trailing newline is dropped
// (keep_trailing_newline=False); `{%-`/`-%}` strip all whitespace on that side; with
// trim_blocks the newline right after a block or comment tag is removed; with lstrip_blocks
// the spaces and tabs between the start of a line and a block or comment tag are removed;
// `{%+` and `+%}` turn those two off for one tag.

#include <string_view>

#include "llm/jinja_ast.h"

namespace naut::llm::jinja {

struct ParseOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  // How deeply statements and expressions may nest; deeper templates are refused, so that
  // parsing, rendering and freeing one never exhausts the stack.
  int max_nesting = 128;
};

// Throws TemplateError (kSyntax, or kLimit for nesting) naming the line and column.
Program Parse(std::string_view source, const ParseOptions& options);

}  // namespace naut::llm::jinja

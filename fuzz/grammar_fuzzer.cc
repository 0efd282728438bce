// libFuzzer target for constrained decoding's inputs: GBNF text (Grammar::Parse, with its
// bounds on size, nesting, repetition and left recursion), the text matched against it
// (GrammarMatcher, with its bounds on stack depth and ambiguity), and JSON Schemas turned into
// grammars. The input is a grammar, a NUL byte, then text to match; the same bytes are also
// read as a JSON Schema. Whatever the bytes: an error or a result, never a crash or a hang, and
// a grammar the schema converter writes always parses.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/json_grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string_view grammar_text = all.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? "" : all.substr(nul + 1);
  naut::engine::GrammarLimits limits;
  limits.max_elements = 20000;  // keeps each input quick; the bounds are what is under test
  if (auto g = naut::engine::Grammar::Parse(grammar_text, limits); g.ok()) {
    naut::engine::MatcherLimits ml;
    ml.max_expansion = 5000;
    naut::engine::GrammarMatcher m(*g, ml);
    for (char c : text) {
      (void)m.CanAccept(std::string_view(&c, 1));
      if (!m.Accept(std::string_view(&c, 1))) break;
    }
    (void)m.CanEnd();
  }
  if (auto schema = naut::ParseJson(all, "fuzz schema"); schema.ok()) {
    if (auto gbnf = naut::engine::JsonSchemaToGrammar(*schema); gbnf.ok()) {
      auto g = naut::engine::Grammar::Parse(*gbnf);
      if (!g.ok() && g.error().code() != naut::Code::kResourceExhausted) std::abort();
    }
  }
  return 0;
}

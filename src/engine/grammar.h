#pragma once
// GBNF grammars, as llama.cpp writes them, compiled for constrained decoding.
//
//   root  ::= "{" ws pair ("," ws pair)* "}"      # rules, literals, groups, alternation
//   pair  ::= [a-z_]+ ":" ws ([0-9]{1,3} | "\u00e9" | [^"\\\n])?
//   ws    ::= [ \t\n]*
//
// Supported: rules `name ::= ...` (names of letters, digits, '-' and '_'), literals "..." and
// classes [...] / [^...] with ranges and escapes (\n \r \t \\ \" \[ \] \- \^ \/ \xHH \uHHHH
// \UHHHHHHHH), `.` (any character), groups, `|`, the postfix operators * + ? {m} {m,} {m,n}
// {,n}, and # comments. A rule ends where the next `name ::=` begins (a newline alone does not
// end it, so rules may span lines as in llama.cpp's grammars). `root` is where matching starts.
//
// Compilation works on bytes, not code points: every class becomes the UTF-8 byte sequences
// of its code points (surrogates excluded), so a token that ends inside a character, or a
// character spread over several tokens, is matched like any other bytes, and whatever the
// grammar accepts is valid UTF-8.
//
// Bounds, so that a hostile grammar is refused instead of hanging or exhausting the stack:
// text size, group nesting, repetition counts and the total compiled size are capped
// (GrammarLimits); left recursion (a rule that can reach itself before any byte, including
// through rules that can match nothing, e.g. `(x?)*`) is an error naming the cycle. Errors are
// InvalidArgument (ResourceExhausted for the caps) and name the line and column.
//
// Grammar is immutable after Parse and safe to share between threads; GrammarMatcher
// (grammar_matcher.h) walks it.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace naut::engine {

struct GrammarLimits {
  size_t max_text_bytes = 1 << 20;
  int max_nesting = 64;          // groups inside groups
  int max_repetition = 10000;    // m and n of {m,n}
  size_t max_elements = 400000;  // compiled size (bytes, rule references, ends of alternatives)
};

// A set of byte values.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool Has(uint8_t b) const { return ((bits[b >> 6] >> (b & 63)) & 1) != 0; }
  void Add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void AddRange(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) Add(static_cast<uint8_t>(b));
  }
  friend bool operator==(const ByteSet&, const ByteSet&) = default;
};

class Grammar {
 public:
  // One compiled element. A rule's alternatives are runs of kBytes / kRule elements, each run
  // closed by kEnd.
  enum class Kind : uint8_t { kBytes, kRule, kEnd };
  struct Element {
    Kind kind;
    uint32_t arg;  // kBytes: index into sets(); kRule: rule id
  };

  static Result<Grammar> Parse(std::string_view text, const GrammarLimits& limits = {});

  const std::vector<Element>& elements() const { return elements_; }
  const ByteSet& set(uint32_t i) const { return sets_[i]; }
  // Positions (in elements()) where each alternative of `rule` starts.
  const std::vector<uint32_t>& alternatives(uint32_t rule) const { return alternatives_[rule]; }
  uint32_t root() const { return root_; }
  size_t rule_count() const { return names_.size(); }
  const std::string& rule_name(uint32_t rule) const { return names_[rule]; }

 private:
  friend class GrammarParser;
  std::vector<Element> elements_;
  std::vector<ByteSet> sets_;
  std::vector<std::vector<uint32_t>> alternatives_;
  std::vector<std::string> names_;
  uint32_t root_ = 0;
};

// `text` as a GBNF literal, quotes included ("a\"b" for a"b).
std::string GbnfLiteral(std::string_view text);

}  // namespace naut::engine

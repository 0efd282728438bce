#include "engine/grammar.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

namespace naut::engine {

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// One item of a sequence before compilation: a byte set or a rule reference.
struct Item {
  bool is_rule = false;
  uint32_t id = 0;
};
using Sequence = std::vector<Item>;

struct CodeRange {
  uint32_t lo, hi;
};

int Utf8Length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void EncodeUtf8(uint32_t cp, uint8_t* out) {
  switch (Utf8Length(cp)) {
    case 1:
      out[0] = static_cast<uint8_t>(cp);
      break;
    case 2:
      out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
      out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    case 3:
      out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    default:
      out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
  }
}

// Splits [lo, hi] (one UTF-8 length, no surrogates) into ranges whose UTF-8 forms are a
// product of per-byte ranges, appending each as its byte ranges.
void SplitUtf8(uint32_t lo, uint32_t hi,
               std::vector<std::vector<std::pair<uint8_t, uint8_t>>>* out) {
  const int n = Utf8Length(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        SplitUtf8(lo, lo | m, out);
        SplitUtf8((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        SplitUtf8(lo, (hi & ~m) - 1, out);
        SplitUtf8(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  EncodeUtf8(lo, a);
  EncodeUtf8(hi, b);
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  seq.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) seq.emplace_back(a[i], b[i]);
  out->push_back(std::move(seq));
}

// Sorted, merged, and clipped to valid scalar values.
std::vector<CodeRange> Normalize(std::vector<CodeRange> r, bool negate) {
  std::sort(r.begin(), r.end(), [](const CodeRange& x, const CodeRange& y) { return x.lo < y.lo; });
  std::vector<CodeRange> merged;
  for (const CodeRange& c : r) {
    if (!merged.empty() && c.lo <= merged.back().hi + 1) {
      merged.back().hi = std::max(merged.back().hi, c.hi);
    } else {
      merged.push_back(c);
    }
  }
  if (negate) {
    std::vector<CodeRange> inv;
    uint32_t next = 0;
    for (const CodeRange& c : merged) {
      if (c.lo > next) inv.push_back({next, c.lo - 1});
      next = c.hi + 1;
    }
    if (next <= kMaxCodePoint) inv.push_back({next, kMaxCodePoint});
    merged = std::move(inv);
  }
  // Cut out the surrogates and split at the UTF-8 length boundaries.
  std::vector<CodeRange> out;
  const uint32_t cuts[] = {0x7F, 0x7FF, 0xFFFF};
  for (CodeRange c : merged) {
    std::vector<CodeRange> parts;
    if (c.lo < 0xD800 && c.hi > 0xDFFF) {
      parts = {{c.lo, 0xD7FF}, {0xE000, c.hi}};
    } else if (c.lo >= 0xD800 && c.hi <= 0xDFFF) {
      continue;
    } else if (c.lo >= 0xD800 && c.lo <= 0xDFFF) {
      parts = {{0xE000, c.hi}};
    } else if (c.hi >= 0xD800 && c.hi <= 0xDFFF) {
      parts = {{c.lo, 0xD7FF}};
    } else {
      parts = {c};
    }
    for (CodeRange p : parts) {
      for (uint32_t cut : cuts) {
        if (p.lo <= cut && p.hi > cut) {
          out.push_back({p.lo, cut});
          p.lo = cut + 1;
        }
      }
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace

// Parses GBNF text into sequences of items, then checks and compiles it.
class GrammarParser {
 public:
  GrammarParser(std::string_view text, const GrammarLimits& limits) : src_(text), lim_(limits) {}

  Result<Grammar> Run() {
    if (src_.size() > lim_.max_text_bytes) {
      return ResourceExhausted("grammar: the text has " + std::to_string(src_.size()) +
                               " bytes; at most " + std::to_string(lim_.max_text_bytes) +
                               " are accepted");
    }
    SkipSpace();
    while (pos_ < src_.size()) {
      NAUT_RETURN_IF_ERROR(ParseRule());
      SkipSpace();
    }
    for (const RuleDef& r : rules_) {
      if (!r.defined) return ErrorAt(r.first_use, "undefined rule '" + r.name + "'");
    }
    auto root = by_name_.find("root");
    if (root == by_name_.end()) return InvalidArgument("grammar: no rule named 'root'");
    NAUT_RETURN_IF_ERROR(CheckLeftRecursion());
    return Compile(root->second);
  }

 private:
  struct RuleDef {
    std::string name;
    std::vector<Sequence> alts;
    bool defined = false;
    size_t first_use = 0;  // where it was first referenced or defined
  };

  Status ErrorAt(size_t at, const std::string& what) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return InvalidArgument("grammar: line " + std::to_string(line) + ", column " +
                           std::to_string(col) + ": " + what);
  }

  static bool IsNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  }

  void SkipSpace() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string_view NameAt(size_t at) const {
    size_t end = at;
    while (end < src_.size() && IsNameChar(src_[end])) ++end;
    return src_.substr(at, end - at);
  }

  // Whether a `name ::=` starts at pos_ (pos_ past whitespace).
  bool AtRuleStart() const {
    const std::string_view name = NameAt(pos_);
    if (name.empty()) return false;
    size_t p = pos_ + name.size();
    while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t')) ++p;
    return src_.compare(p, 3, "::=") == 0;
  }

  uint32_t RuleId(std::string_view name, size_t at) {
    auto it = by_name_.find(std::string(name));
    if (it != by_name_.end()) return it->second;
    const auto id = static_cast<uint32_t>(rules_.size());
    rules_.push_back({std::string(name), {}, false, at});
    by_name_.emplace(std::string(name), id);
    return id;
  }

  // A rule made by the parser (a group, a repetition, a class beyond ASCII), named after the
  // rule it appears in.
  uint32_t NewRule(std::vector<Sequence> alts, size_t at) {
    const auto id = static_cast<uint32_t>(rules_.size());
    rules_.push_back({current_ + "-" + std::to_string(id), std::move(alts), true, at});
    return id;
  }

  uint32_t SetId(const ByteSet& s) {
    auto it = set_ids_.find(s.bits);
    if (it != set_ids_.end()) return it->second;
    const auto id = static_cast<uint32_t>(sets_.size());
    sets_.push_back(s);
    set_ids_.emplace(s.bits, id);
    return id;
  }

  Status Count(size_t n, size_t at) {
    size_ += n;
    if (size_ > lim_.max_elements) {
      return ResourceExhausted(ErrorAt(at, "").message() + "the grammar grows past " +
                               std::to_string(lim_.max_elements) +
                               " elements (repetition counts too large?)");
    }
    return Status::Ok();
  }

  Status ParseRule() {
    const size_t at = pos_;
    const std::string_view name = NameAt(pos_);
    if (name.empty()) return ErrorAt(pos_, "expected a rule name");
    pos_ += name.size();
    while (pos_ < src_.size() && (src_[pos_] == ' ' || src_[pos_] == '\t')) ++pos_;
    if (src_.compare(pos_, 3, "::=") != 0) {
      return ErrorAt(pos_, "expected '::=' after rule name '" + std::string(name) + "'");
    }
    pos_ += 3;
    const uint32_t id = RuleId(name, at);
    if (rules_[id].defined) return ErrorAt(at, "rule '" + std::string(name) + "' defined twice");
    rules_[id].defined = true;
    current_ = std::string(name);
    std::vector<Sequence> alts;
    NAUT_RETURN_IF_ERROR(ParseAlternatives(&alts, /*nested=*/false));
    rules_[id].alts = std::move(alts);
    return Status::Ok();
  }

  Status ParseAlternatives(std::vector<Sequence>* alts, bool nested) {
    while (true) {
      Sequence seq;
      NAUT_RETURN_IF_ERROR(ParseSequence(&seq, nested));
      NAUT_RETURN_IF_ERROR(Count(seq.size() + 1, pos_));
      alts->push_back(std::move(seq));
      SkipSpace();
      if (pos_ < src_.size() && src_[pos_] == '|') {
        ++pos_;
        continue;
      }
      return Status::Ok();
    }
  }

  Status ParseSequence(Sequence* seq, bool nested) {
    while (true) {
      SkipSpace();
      if (pos_ >= src_.size()) return Status::Ok();
      const char c = src_[pos_];
      if (c == '|' || c == ')') {
        if (c == ')' && !nested) return ErrorAt(pos_, "unmatched ')'");
        return Status::Ok();
      }
      if (!nested && AtRuleStart()) return Status::Ok();
      const size_t at = pos_;
      Sequence prim;
      NAUT_RETURN_IF_ERROR(ParsePrimary(&prim));
      NAUT_RETURN_IF_ERROR(ParsePostfix(&prim, at));
      seq->insert(seq->end(), prim.begin(), prim.end());
    }
  }

  // One element: literal, class, '.', group or rule reference, as items.
  Status ParsePrimary(Sequence* out) {
    const char c = src_[pos_];
    if (c == '"') return ParseLiteral(out);
    if (c == '[') return ParseClass(out);
    if (c == '.') {
      ++pos_;
      return ClassItems({}, /*negate=*/true, out, pos_ - 1);
    }
    if (c == '(') {
      const size_t at = pos_;
      if (++depth_ > lim_.max_nesting) {
        return ResourceExhausted(
            ErrorAt(at, "groups nest deeper than " + std::to_string(lim_.max_nesting)).message());
      }
      ++pos_;
      std::vector<Sequence> alts;
      NAUT_RETURN_IF_ERROR(ParseAlternatives(&alts, /*nested=*/true));
      if (pos_ >= src_.size() || src_[pos_] != ')') return ErrorAt(at, "'(' is never closed");
      ++pos_;
      --depth_;
      if (alts.size() == 1) {
        *out = std::move(alts[0]);  // a plain group is its sequence
      } else {
        out->push_back({true, NewRule(std::move(alts), at)});
      }
      return Status::Ok();
    }
    if (c == '<') return ErrorAt(pos_, "token references (<...>) are not supported");
    const std::string_view name = NameAt(pos_);
    if (name.empty()) return ErrorAt(pos_, std::string("unexpected character '") + c + "'");
    out->push_back({true, RuleId(name, pos_)});
    pos_ += name.size();
    return Status::Ok();
  }

  Result<int> ParseNumber() {
    const size_t at = pos_;
    int64_t v = 0;
    while (pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '9') {
      v = v * 10 + (src_[pos_++] - '0');
      if (v > lim_.max_repetition) {
        return ResourceExhausted(
            ErrorAt(at, "repetition count above " + std::to_string(lim_.max_repetition)).message());
      }
    }
    if (pos_ == at) return ErrorAt(at, "expected a number");
    return static_cast<int>(v);
  }

  Status ParsePostfix(Sequence* prim, size_t at) {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      int lo = 0, hi = -1;  // hi -1: no maximum
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        ++pos_;
        lo = 1;
      } else if (c == '?') {
        ++pos_;
        hi = 1;
      } else if (c == '{') {
        const size_t brace = pos_++;
        SkipSpace();
        if (pos_ < src_.size() && src_[pos_] != ',') {
          NAUT_ASSIGN_OR_RETURN(lo, ParseNumber());
          hi = lo;
        }
        SkipSpace();
        if (pos_ < src_.size() && src_[pos_] == ',') {
          ++pos_;
          SkipSpace();
          hi = -1;
          if (pos_ < src_.size() && src_[pos_] != '}') {
            NAUT_ASSIGN_OR_RETURN(hi, ParseNumber());
          }
          SkipSpace();
        }
        if (pos_ >= src_.size() || src_[pos_] != '}') return ErrorAt(brace, "'{' is never closed");
        ++pos_;
        if (hi >= 0 && hi < lo) return ErrorAt(brace, "repetition maximum below its minimum");
      } else {
        return Status::Ok();
      }
      if (prim->empty()) return ErrorAt(at, "repetition of an empty expression");
      NAUT_RETURN_IF_ERROR(Repeat(prim, lo, hi, at));
    }
    return Status::Ok();
  }

  // Replaces `prim` by `prim{lo,hi}`, sharing one rule for the repeated part.
  Status Repeat(Sequence* prim, int lo, int hi, size_t at) {
    Item x = prim->size() == 1 ? (*prim)[0] : Item{true, NewRule({*prim}, at)};
    const size_t copies = static_cast<size_t>(lo) + (hi < 0 ? 1 : hi - lo) * 3;
    NAUT_RETURN_IF_ERROR(Count(copies, at));
    Sequence out(static_cast<size_t>(lo), x);
    if (hi < 0) {
      // star ::= x star | (empty)
      const auto star = static_cast<uint32_t>(rules_.size());
      NewRule({{x, {true, star}}, {}}, at);
      out.push_back({true, star});
    } else if (hi > lo) {
      // opt_k ::= x opt_(k-1) | (empty), opt_1 ::= x | (empty)
      uint32_t opt = NewRule({{x}, {}}, at);
      for (int k = 2; k <= hi - lo; ++k) opt = NewRule({{x, {true, opt}}, {}}, at);
      out.push_back({true, opt});
    }
    *prim = std::move(out);
    return Status::Ok();
  }

  // One character of a literal or class, escapes decoded.
  Result<uint32_t> ParseChar() {
    const size_t at = pos_;
    auto c = static_cast<unsigned char>(src_[pos_]);
    if (c == '\\') {
      if (++pos_ >= src_.size()) return ErrorAt(at, "escape at the end of the grammar");
      const char e = src_[pos_++];
      switch (e) {
        case 'n':
          return uint32_t{'\n'};
        case 'r':
          return uint32_t{'\r'};
        case 't':
          return uint32_t{'\t'};
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
          return static_cast<uint32_t>(e);
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t v = 0;
          for (int i = 0; i < digits; ++i) {
            if (pos_ >= src_.size()) return ErrorAt(at, "incomplete \\" + std::string(1, e));
            const char h = src_[pos_++];
            int d = (h >= '0' && h <= '9')   ? h - '0'
                    : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                             : -1;
            if (d < 0) return ErrorAt(pos_ - 1, "expected a hex digit");
            v = v * 16 + static_cast<uint32_t>(d);
          }
          if (v > kMaxCodePoint) return ErrorAt(at, "code point above U+10FFFF");
          return v;
        }
        default:
          return ErrorAt(at, std::string("unknown escape '\\") + e + "'");
      }
    }
    // UTF-8 from the grammar text.
    const int n = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 0;
    if (n == 0 || pos_ + n > src_.size()) return ErrorAt(at, "invalid UTF-8 in the grammar");
    uint32_t v = n == 1 ? c : c & (0x7F >> n);
    for (int i = 1; i < n; ++i) {
      const auto cc = static_cast<unsigned char>(src_[pos_ + i]);
      if ((cc & 0xC0) != 0x80) return ErrorAt(at, "invalid UTF-8 in the grammar");
      v = (v << 6) | (cc & 0x3F);
    }
    pos_ += n;
    return v;
  }

  Status ParseLiteral(Sequence* out) {
    const size_t at = pos_++;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') return ErrorAt(at, "unterminated literal");
      if (src_[pos_] == '"') {
        ++pos_;
        return Count(out->size(), at);
      }
      NAUT_ASSIGN_OR_RETURN(uint32_t cp, ParseChar());
      uint8_t bytes[4];
      EncodeUtf8(cp, bytes);
      for (int i = 0; i < Utf8Length(cp); ++i) {
        ByteSet s;
        s.Add(bytes[i]);
        out->push_back({false, SetId(s)});
      }
    }
  }

  Status ParseClass(Sequence* out) {
    const size_t at = pos_++;
    bool negate = false;
    if (pos_ < src_.size() && src_[pos_] == '^') {
      negate = true;
      ++pos_;
    }
    std::vector<CodeRange> ranges;
    while (true) {
      if (pos_ >= src_.size()) return ErrorAt(at, "unterminated character class");
      if (src_[pos_] == ']') {
        ++pos_;
        break;
      }
      NAUT_ASSIGN_OR_RETURN(uint32_t lo, ParseChar());
      uint32_t hi = lo;
      if (pos_ + 1 < src_.size() && src_[pos_] == '-' && src_[pos_ + 1] != ']') {
        ++pos_;
        NAUT_ASSIGN_OR_RETURN(hi, ParseChar());
        if (hi < lo) return ErrorAt(at, "character range runs backwards");
      }
      ranges.push_back({lo, hi});
    }
    return ClassItems(std::move(ranges), negate, out, at);
  }

  // A class as one byte set when it is ASCII, else a rule of UTF-8 byte sequences.
  Status ClassItems(std::vector<CodeRange> ranges, bool negate, Sequence* out, size_t at) {
    const std::vector<CodeRange> norm = Normalize(std::move(ranges), negate);
    if (norm.empty()) return ErrorAt(at, "the character class matches nothing");
    ByteSet ascii;
    bool has_ascii = false;
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
    for (const CodeRange& r : norm) {
      if (r.hi < 0x80) {
        ascii.AddRange(static_cast<uint8_t>(r.lo), static_cast<uint8_t>(r.hi));
        has_ascii = true;
      } else {
        SplitUtf8(r.lo, r.hi, &seqs);
      }
    }
    if (seqs.empty()) {
      out->push_back({false, SetId(ascii)});
      return Count(1, at);
    }
    std::vector<Sequence> alts;
    if (has_ascii) alts.push_back({{false, SetId(ascii)}});
    size_t n = 0;
    for (const auto& s : seqs) {
      Sequence alt;
      for (auto [lo, hi] : s) {
        ByteSet b;
        b.AddRange(lo, hi);
        alt.push_back({false, SetId(b)});
      }
      n += alt.size() + 1;
      alts.push_back(std::move(alt));
    }
    NAUT_RETURN_IF_ERROR(Count(n + 1, at));
    // Classes recur (every JSON string uses the same one): one rule per distinct class.
    std::string key;
    for (const CodeRange& r : norm) key += std::to_string(r.lo) + "-" + std::to_string(r.hi) + ",";
    auto it = class_rules_.find(key);
    if (it == class_rules_.end())
      it = class_rules_.emplace(key, NewRule(std::move(alts), at)).first;
    out->push_back({true, it->second});
    return Status::Ok();
  }

  // A rule that can reach itself before consuming a byte would make the matcher loop forever.
  Status CheckLeftRecursion() {
    const size_t n = rules_.size();
    std::vector<char> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Sequence& alt : rules_[r].alts) {
          const bool all = std::all_of(alt.begin(), alt.end(), [&](const Item& it) {
            return it.is_rule && nullable[it.id];
          });
          if (all) {
            nullable[r] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    // Edges r -> s: s can come first in r.
    std::vector<std::vector<uint32_t>> first(n);
    for (size_t r = 0; r < n; ++r) {
      for (const Sequence& alt : rules_[r].alts) {
        for (const Item& it : alt) {
          if (!it.is_rule) break;
          first[r].push_back(it.id);
          if (!nullable[it.id]) break;
        }
      }
    }
    // Iterative depth-first search for a cycle.
    std::vector<char> color(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<uint32_t> parent(n, 0);
    for (size_t start = 0; start < n; ++start) {
      if (color[start] != 0) continue;
      std::vector<std::pair<uint32_t, size_t>> stack{{static_cast<uint32_t>(start), 0}};
      color[start] = 1;
      while (!stack.empty()) {
        auto& [r, next] = stack.back();
        if (next == first[r].size()) {
          color[r] = 2;
          stack.pop_back();
          continue;
        }
        const uint32_t s = first[r][next++];
        if (color[s] == 1) {
          std::string cycle = rules_[s].name;
          for (uint32_t x = r; x != s; x = parent[x]) cycle = rules_[x].name + " -> " + cycle;
          cycle = rules_[s].name + " -> " + cycle;
          return ErrorAt(rules_[s].first_use,
                         "left recursion: '" + rules_[s].name +
                             "' can reach itself before matching any character (" + cycle + ")");
        }
        if (color[s] == 0) {
          color[s] = 1;
          parent[s] = r;
          stack.emplace_back(s, 0);
        }
      }
    }
    return Status::Ok();
  }

  Result<Grammar> Compile(uint32_t root) {
    Grammar g;
    g.sets_ = std::move(sets_);
    g.root_ = root;
    g.alternatives_.resize(rules_.size());
    g.names_.reserve(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      g.names_.push_back(rules_[r].name);
      for (const Sequence& alt : rules_[r].alts) {
        g.alternatives_[r].push_back(static_cast<uint32_t>(g.elements_.size()));
        for (const Item& it : alt) {
          g.elements_.push_back({it.is_rule ? Grammar::Kind::kRule : Grammar::Kind::kBytes, it.id});
        }
        g.elements_.push_back({Grammar::Kind::kEnd, 0});
      }
    }
    return g;
  }

  std::string_view src_;
  GrammarLimits lim_;
  size_t pos_ = 0;
  int depth_ = 0;
  size_t size_ = 0;
  std::string current_;
  std::vector<RuleDef> rules_;
  std::unordered_map<std::string, uint32_t> by_name_;
  std::vector<ByteSet> sets_;
  std::map<std::array<uint64_t, 4>, uint32_t> set_ids_;
  std::map<std::string, uint32_t> class_rules_;
};

Result<Grammar> Grammar::Parse(std::string_view text, const GrammarLimits& limits) {
  return GrammarParser(text, limits).Run();
}

std::string GbnfLiteral(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      static const char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace naut::engine

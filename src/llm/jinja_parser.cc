#include "llm/jinja_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace naut::llm::jinja {

namespace {

// ---- Lexer -------------------------------------------------------------------------------

struct Token {
  enum class Type {
    kText,
    kVarBegin,
    kVarEnd,
    kBlockBegin,
    kBlockEnd,
    kName,
    kString,
    kInt,
    kFloat,
    kOp,
    kEof,
  };
  Type type = Type::kEof;
  std::string value;  // text, name, decoded string, operator
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;
};

bool IsWs(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsDigitChar(char c) { return c >= '0' && c <= '9'; }

// Python's str.rstrip(): whitespace, including the non-ASCII kinds.
std::string_view RStrip(std::string_view s) {
  std::u32string cps = DecodeUtf8(s);
  size_t keep = cps.size();
  while (keep > 0 && IsPySpace(cps[keep - 1])) --keep;
  if (keep == cps.size()) return s;
  return s.substr(0, EncodeUtf8(std::u32string_view(cps).substr(0, keep)).size());
}

class Lexer {
 public:
  Lexer(std::string_view source, const ParseOptions& options) : options_(options) {
    // Jinja2: "\r\n" and "\r" become "\n"; one trailing newline is dropped.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Loc LocAt(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    const size_t start = line_starts_[line - 1];
    const size_t end = std::min(offset, src_.size());
    int column = 1;
    for (size_t i = start; i < end; ++i) {
      if ((static_cast<unsigned char>(src_[i]) & 0xc0) != 0x80) ++column;
    }
    return Loc{static_cast<int>(line), column};
  }

  [[noreturn]] void Fail(const std::string& message, size_t offset) const {
    Throw(TemplateError::Kind::kSyntax, message, LocAt(offset));
  }

  std::vector<Token> Run() {
    const size_t n = src_.size();
    while (pos_ < n) {
      const size_t start = FindTagStart(pos_);
      if (start == std::string::npos) {
        Emit(Token::Type::kText, src_.substr(pos_), pos_);
        pos_ = n;
        break;
      }
      const char kind = src_[start + 1];
      size_t after = start + 2;
      char sign = 0;
      if (after < n && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      std::string_view text = std::string_view(src_).substr(pos_, start - pos_);
      size_t raw_body = std::string::npos;
      if (kind == '%') raw_body = MatchRawBegin(after);
      text = StripBefore(text, sign, kind != '{');
      if (!text.empty()) Emit(Token::Type::kText, std::string(text), pos_);
      if (raw_body != std::string::npos) {
        LexRaw(start, raw_body);
      } else if (kind == '#') {
        LexComment(start, after);
      } else {
        LexTag(start, after, kind == '{');
      }
    }
    Emit(Token::Type::kEof, "", n);
    return std::move(tokens_);
  }

 private:
  void Emit(Token::Type type, std::string value, size_t offset) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    t.offset = offset;
    tokens_.push_back(std::move(t));
  }

  size_t FindTagStart(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return std::string::npos;
  }

  // The text before a tag, as Jinja2's OptionalLStrip leaves it.
  std::string_view StripBefore(std::string_view text, char sign, bool block_like) const {
    if (sign == '-') return RStrip(text);
    if (sign != '+' && options_.lstrip_blocks && block_like) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        bool blank = true;
        for (size_t i = l_pos; i < text.size(); ++i) {
          if (text[i] != ' ' && text[i] != '\t') {
            blank = false;
            break;
          }
        }
        if (blank) return text.substr(0, l_pos);
      }
    }
    return text;
  }

  size_t SkipWs(size_t i) const {
    while (i < src_.size() && IsWs(src_[i])) ++i;
    return i;
  }

  bool At(size_t i, std::string_view s) const { return src_.compare(i, s.size(), s) == 0; }

  // `{% raw %}`: the offset just past the opening tag, or npos when this is another tag.
  size_t MatchRawBegin(size_t after) const {
    size_t i = SkipWs(after);
    if (!At(i, "raw")) return std::string::npos;
    i = SkipWs(i + 3);
    if (At(i, "-%}")) return SkipWs(i + 3);
    if (At(i, "%}")) return i + 2;
    return std::string::npos;
  }

  void LexRaw(size_t start, size_t body) {
    line_starting_ = src_[body - 1] == '\n';
    for (size_t i = src_.find("{%", body); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t j = i + 2;
      char sign = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) sign = src_[j++];
      j = SkipWs(j);
      if (!At(j, "endraw")) continue;
      j = SkipWs(j + 6);
      size_t end;
      if (At(j, "+%}")) {
        end = j + 3;
      } else if (At(j, "-%}")) {
        end = SkipWs(j + 3);
      } else if (At(j, "%}")) {
        end = j + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      std::string_view text = StripBefore(std::string_view(src_).substr(body, i - body), sign,
                                          /*block_like=*/true);
      if (!text.empty()) Emit(Token::Type::kText, std::string(text), body);
      pos_ = end;
      line_starting_ = src_[end - 1] == '\n';
      return;
    }
    Fail("missing end of raw directive ({% endraw %})", start);
  }

  void LexComment(size_t start, size_t after) {
    for (size_t p = after; p < src_.size(); ++p) {
      size_t end = std::string::npos;
      if (At(p, "+#}")) {
        end = p + 3;
      } else if (At(p, "-#}")) {
        end = SkipWs(p + 3);
      } else if (At(p, "#}")) {
        end = p + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      }
      if (end != std::string::npos) {
        pos_ = end;
        line_starting_ = src_[end - 1] == '\n';
        return;
      }
    }
    Fail("missing end of comment tag (#})", start);
  }

  // Whether the tag ends at `i` (brackets balanced); moves pos_ past it.
  bool MatchTagEnd(size_t i, bool variable) {
    size_t end = std::string::npos;
    if (variable) {
      if (At(i, "-}}")) {
        end = SkipWs(i + 3);
      } else if (At(i, "}}")) {
        end = i + 2;
      }
    } else {
      if (At(i, "+%}")) {
        end = i + 3;
      } else if (At(i, "-%}")) {
        end = SkipWs(i + 3);
      } else if (At(i, "%}")) {
        end = i + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      }
    }
    if (end == std::string::npos) return false;
    Emit(variable ? Token::Type::kVarEnd : Token::Type::kBlockEnd, "", i);
    pos_ = end;
    line_starting_ = src_[end - 1] == '\n';
    return true;
  }

  void LexTag(size_t start, size_t after, bool variable) {
    Emit(variable ? Token::Type::kVarBegin : Token::Type::kBlockBegin, "", start);
    std::vector<char> balance;
    size_t i = after;
    while (true) {
      if (i >= src_.size()) {
        Fail(variable ? "unexpected end of template: '{{' is never closed with '}}'"
                      : "unexpected end of template: '{%' is never closed with '%}'",
             start);
      }
      if (balance.empty() && MatchTagEnd(i, variable)) return;
      const char c = src_[i];
      if (IsWs(c)) {
        ++i;
        continue;
      }
      if (IsDigitChar(c)) {
        i = LexNumber(i);
        continue;
      }
      if (IsNameStart(c)) {
        size_t j = i;
        while (j < src_.size() && IsNameChar(src_[j])) ++j;
        Emit(Token::Type::kName, src_.substr(i, j - i), i);
        i = j;
        continue;
      }
      if (c == '\'' || c == '"') {
        i = LexString(i);
        continue;
      }
      static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                   "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                   ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};
      const char* op = nullptr;
      for (const char* candidate : kOps) {
        if (At(i, candidate)) {
          op = candidate;
          break;
        }
      }
      if (op == nullptr) Fail(std::string("unexpected character '") + c + "' in a tag", i);
      const std::string o = op;
      if (o == "(" || o == "[" || o == "{") {
        balance.push_back(o == "(" ? ')' : (o == "[" ? ']' : '}'));
      } else if (o == ")" || o == "]" || o == "}") {
        if (balance.empty()) Fail("unexpected '" + o + "'", i);
        if (balance.back() != o[0]) {
          Fail("unexpected '" + o + "', expected '" + std::string(1, balance.back()) + "'", i);
        }
        balance.pop_back();
      }
      Emit(Token::Type::kOp, o, i);
      i += o.size();
    }
  }

  size_t LexNumber(size_t i) {
    const size_t start = i;
    auto digits = [&](size_t j, auto is_digit) {
      // (\d+_)*\d+ style: digits, single underscores between them.
      size_t k = j;
      if (k >= src_.size() || !is_digit(src_[k])) return j;
      while (k < src_.size()) {
        if (is_digit(src_[k]) || (src_[k] == '_' && k + 1 < src_.size() && is_digit(src_[k + 1]))) {
          ++k;
        } else {
          break;
        }
      }
      return k;
    };
    auto dec = [](char ch) { return ch >= '0' && ch <= '9'; };
    auto strip = [](std::string s) {
      s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
      return s;
    };
    // Binary, octal, hexadecimal.
    if (src_[i] == '0' && i + 1 < src_.size() &&
        std::string("bBoOxX").find(src_[i + 1]) != std::string::npos) {
      const char base_char = static_cast<char>(std::tolower(src_[i + 1]));
      const int base = base_char == 'b' ? 2 : (base_char == 'o' ? 8 : 16);
      auto in_base = [base](char ch) {
        if (base == 2) return ch == '0' || ch == '1';
        if (base == 8) return ch >= '0' && ch <= '7';
        return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
      };
      size_t j = i + 2;
      if (j < src_.size() && src_[j] == '_') ++j;
      const size_t end = digits(j, in_base);
      if (end == j) Fail("invalid number literal", start);
      const std::string text = strip(src_.substr(i + 2, end - i - 2));
      int64_t v = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), v, base);
      if (r.ec != std::errc()) Fail("number literal too large", start);
      Token t;
      t.type = Token::Type::kInt;
      t.int_value = v;
      t.offset = start;
      tokens_.push_back(t);
      return end;
    }
    size_t end = digits(i, dec);
    bool is_float = false;
    if (end + 1 < src_.size() && src_[end] == '.' && dec(src_[end + 1]) &&
        !(start > 0 && src_[start - 1] == '.')) {
      end = digits(end + 1, dec);
      is_float = true;
    }
    if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E') &&
        !(start > 0 && src_[start - 1] == '.')) {
      size_t k = end + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      const size_t exp_end = digits(k, dec);
      if (exp_end > k) {
        end = exp_end;
        is_float = true;
      }
    }
    const std::string text = strip(src_.substr(i, end - i));
    Token t;
    t.offset = start;
    if (is_float) {
      t.type = Token::Type::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = Token::Type::kInt;
      auto r = std::from_chars(text.data(), text.data() + text.size(), t.int_value);
      if (r.ec != std::errc()) Fail("integer literal too large", start);
    }
    tokens_.push_back(t);
    return end;
  }

  // A quoted string with Python's escapes (Jinja2 decodes literals with "unicode-escape").
  size_t LexString(size_t i) {
    const char quote = src_[i];
    const size_t start = i;
    std::string out;
    ++i;
    auto hex = [&](size_t at, int count) -> char32_t {
      if (at + count > src_.size()) Fail("truncated escape in a string literal", at);
      char32_t v = 0;
      for (int k = 0; k < count; ++k) {
        const char h = src_[at + k];
        int d;
        if (h >= '0' && h <= '9') {
          d = h - '0';
        } else if (h >= 'a' && h <= 'f') {
          d = h - 'a' + 10;
        } else if (h >= 'A' && h <= 'F') {
          d = h - 'A' + 10;
        } else {
          Fail("invalid escape in a string literal", at);
        }
        v = v * 16 + static_cast<char32_t>(d);
      }
      return v;
    };
    while (true) {
      if (i >= src_.size()) Fail("unterminated string literal", start);
      const char c = src_[i];
      if (c == quote) {
        ++i;
        break;
      }
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) Fail("unterminated string literal", start);
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
          AppendUtf8(out, hex(i, 2));
          i += 2;
          break;
        case 'u':
          AppendUtf8(out, hex(i, 4));
          i += 4;
          break;
        case 'U': {
          const char32_t cp = hex(i, 8);
          if (cp > 0x10ffff) Fail("invalid \\U escape in a string literal", i);
          AppendUtf8(out, cp);
          i += 8;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              v = v * 8 + static_cast<char32_t>(src_[i++] - '0');
            }
            AppendUtf8(out, v);
          } else {
            // Python keeps an unknown escape as written.
            out += '\\';
            out += e;
          }
      }
    }
    Emit(Token::Type::kString, std::move(out), start);
    return i;
  }

  const ParseOptions& options_;
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
};

// ---- Parser ------------------------------------------------------------------------------

class Parser {
 public:
  Parser(const Lexer& lexer, std::vector<Token> tokens, const ParseOptions& options)
      : lexer_(lexer), tokens_(std::move(tokens)), options_(options) {}

  Program Run() {
    Program p;
    p.body = Subparse({}, nullptr);
    return p;
  }

 private:
  using Type = Token::Type;

  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Peek(size_t ahead = 1) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  Loc LocOf(const Token& t) const { return lexer_.LocAt(t.offset); }

  [[noreturn]] void Fail(const std::string& message, const Token& at) const {
    Throw(TemplateError::Kind::kSyntax, message, LocOf(at));
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case Type::kText:
        return "template text";
      case Type::kVarBegin:
        return "'{{'";
      case Type::kVarEnd:
        return "end of print statement '}}'";
      case Type::kBlockBegin:
        return "'{%'";
      case Type::kBlockEnd:
        return "end of statement block '%}'";
      case Type::kName:
        return "'" + t.value + "'";
      case Type::kString:
        return "string";
      case Type::kInt:
      case Type::kFloat:
        return "number";
      case Type::kOp:
        return "'" + t.value + "'";
      case Type::kEof:
        return "end of template";
    }
    return "token";
  }

  bool IsOp(std::string_view op) const { return Cur().type == Type::kOp && Cur().value == op; }
  bool IsName(std::string_view name) const {
    return Cur().type == Type::kName && Cur().value == name;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  const Token& ExpectOp(std::string_view op) {
    if (!IsOp(op)) Fail("expected '" + std::string(op) + "', got " + Describe(Cur()), Cur());
    return Next();
  }
  const Token& ExpectName() {
    if (Cur().type != Type::kName) Fail("expected a name, got " + Describe(Cur()), Cur());
    return Next();
  }
  void ExpectName(std::string_view name) {
    if (!IsName(name)) Fail("expected '" + std::string(name) + "', got " + Describe(Cur()), Cur());
    Next();
  }
  void ExpectBlockEnd() {
    if (Cur().type != Type::kBlockEnd) {
      Fail("expected end of statement block '%}', got " + Describe(Cur()), Cur());
    }
    Next();
  }

  // Nesting guard for recursive descent.
  struct DepthGuard {
    Parser& p;
    DepthGuard(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > p.options_.max_nesting) {
        Throw(
            TemplateError::Kind::kLimit,
            "the template nests deeper than " + std::to_string(p.options_.max_nesting) + " levels",
            p.LocOf(at));
      }
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr Make(Expr::Kind kind, Loc loc) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->loc = loc;
    return e;
  }

  // Sets the node's depth from its children; refuses trees deeper than the limit (long
  // chains like a+b+c+... and x|f|f|f... nest without recursing in the parser).
  ExprPtr Seal(ExprPtr e) {
    int d = 0;
    for (const auto& k : e->kids) {
      if (k) d = std::max(d, k->depth);
    }
    for (const auto& k : e->args.positional) d = std::max(d, k->depth);
    for (const auto& [name, k] : e->args.keywords) d = std::max(d, k->depth);
    if (e->args.star_args) d = std::max(d, e->args.star_args->depth);
    if (e->args.star_kwargs) d = std::max(d, e->args.star_kwargs->depth);
    e->depth = d + 1;
    if (e->depth > options_.max_nesting * 2) {
      Throw(
          TemplateError::Kind::kLimit,
          "an expression nests deeper than " + std::to_string(options_.max_nesting * 2) + " levels",
          e->loc);
    }
    return e;
  }

  // -- statements --

  struct OpenBlock {
    std::string tag;
    Loc loc;
  };

  // Parses until one of `ends` opens a block tag (left as the current token) or the template
  // ends (an error when ends is not empty).
  Body Subparse(const std::vector<std::string_view>& ends, const OpenBlock* open) {
    Body body;
    while (true) {
      const Token& t = Cur();
      switch (t.type) {
        case Type::kEof: {
          if (ends.empty()) return body;
          std::string expected;
          for (size_t i = 0; i < ends.size(); ++i)
            expected += (i ? " or '" : "'") + std::string(ends[i]) + "'";
          Throw(TemplateError::Kind::kSyntax,
                "unexpected end of template: the '" + open->tag + "' at line " +
                    std::to_string(open->loc.line) + " is never closed (expected " + expected + ")",
                LocOf(t));
        }
        case Type::kText: {
          auto s = std::make_unique<Stmt>();
          s->kind = Stmt::Kind::kText;
          s->loc = LocOf(t);
          s->text = t.value;
          body.push_back(std::move(s));
          Next();
          break;
        }
        case Type::kVarBegin: {
          auto s = std::make_unique<Stmt>();
          s->kind = Stmt::Kind::kPrint;
          s->loc = LocOf(t);
          Next();
          s->expr = ParseTuple(true, {}, false);
          if (Cur().type != Type::kVarEnd) {
            Fail("expected end of print statement '}}', got " + Describe(Cur()), Cur());
          }
          Next();
          body.push_back(std::move(s));
          break;
        }
        case Type::kBlockBegin: {
          Next();
          const Token& name = Cur();
          if (name.type != Type::kName)
            Fail("expected a statement name, got " + Describe(name), name);
          if (std::find(ends.begin(), ends.end(), name.value) != ends.end()) return body;
          body.push_back(ParseStatement(ends, open));
          break;
        }
        default:
          Fail("unexpected " + Describe(t), t);
      }
    }
  }

  std::unique_ptr<Stmt> ParseStatement(const std::vector<std::string_view>& ends,
                                       const OpenBlock* open) {
    const Token& t = Cur();
    DepthGuard guard(*this, t);
    const std::string& tag = t.value;
    if (tag == "if") return ParseIf();
    if (tag == "for") return ParseFor();
    if (tag == "set") return ParseSet();
    if (tag == "macro") return ParseMacro();
    if (tag == "call") return ParseCallBlock();
    if (tag == "filter") return ParseFilterBlock();
    if (tag == "with") return ParseWith();
    if (tag == "generation") return ParseGeneration();
    if (tag == "break" || tag == "continue") {
      auto s = std::make_unique<Stmt>();
      s->kind = tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
      s->loc = LocOf(t);
      if (loop_depth_ == 0) Fail("'" + tag + "' outside of a loop", t);
      Next();
      ExpectBlockEnd();
      return s;
    }
    if (tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else") {
      std::string msg = "unexpected '" + tag + "'";
      if (open != nullptr) {
        std::string expected;
        for (size_t i = 0; i < ends.size(); ++i)
          expected += (i ? " or '" : "'") + std::string(ends[i]) + "'";
        msg += ": the innermost open block is the '" + open->tag + "' at line " +
               std::to_string(open->loc.line) + ", which expects " + expected;
      }
      Fail(msg, t);
    }
    if (tag == "include" || tag == "import" || tag == "from" || tag == "extends" ||
        tag == "block") {
      Fail("'" + tag + "' is not supported in chat templates", t);
    }
    Fail("unknown statement '" + tag + "'", t);
  }

  std::unique_ptr<Stmt> ParseIf() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kIf;
    s->loc = LocOf(Cur());
    OpenBlock open{"if", s->loc};
    Next();
    while (true) {
      s->conditions.push_back(ParseTuple(false, {}, false));
      ExpectBlockEnd();
      s->bodies.push_back(Subparse({"elif", "else", "endif"}, &open));
      const std::string tag = Next().value;
      if (tag == "elif") continue;
      if (tag == "else") {
        ExpectBlockEnd();
        s->else_body = Subparse({"endif"}, &open);
        Next();
      }
      ExpectBlockEnd();
      return s;
    }
  }

  std::unique_ptr<Stmt> ParseFor() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kFor;
    s->loc = LocOf(Cur());
    OpenBlock open{"for", s->loc};
    Next();
    s->target = ParseAssignTarget(false, {"in"});
    ExpectName("in");
    s->expr = ParseTuple(false, {"recursive"}, false);
    if (IsName("recursive")) Fail("recursive loops are not supported", Cur());
    if (SkipName("if")) s->filter = ParseExpression(true);
    ExpectBlockEnd();
    ++loop_depth_;
    std::set<std::string> names;
    macro_names_.push_back(&names);
    s->body = Subparse({"endfor", "else"}, &open);
    macro_names_.pop_back();
    s->uses_loop = names.count("loop") > 0;
    --loop_depth_;
    if (Next().value == "else") {
      ExpectBlockEnd();
      s->else_body = Subparse({"endfor"}, &open);
      Next();
    }
    ExpectBlockEnd();
    return s;
  }

  std::unique_ptr<Stmt> ParseSet() {
    auto s = std::make_unique<Stmt>();
    s->loc = LocOf(Cur());
    OpenBlock open{"set", s->loc};
    Next();
    s->target = ParseAssignTarget(true, {});
    if (SkipOp("=")) {
      s->kind = Stmt::Kind::kSet;
      s->expr = ParseTuple(true, {}, false);
      ExpectBlockEnd();
      return s;
    }
    s->kind = Stmt::Kind::kSetBlock;
    while (IsOp("|")) s->filters.push_back(ParseOneFilter(nullptr));
    ExpectBlockEnd();
    s->body = Subparse({"endset"}, &open);
    Next();
    ExpectBlockEnd();
    return s;
  }

  void ParseSignature(std::vector<MacroParam>& params) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (!params.empty()) ExpectOp(",");
      if (IsOp(")")) break;
      MacroParam p;
      p.name = ExpectName().value;
      if (SkipOp("=")) p.default_value = ParseExpression(true);
      params.push_back(std::move(p));
    }
    Next();
  }

  std::unique_ptr<Stmt> ParseMacro() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kMacro;
    s->loc = LocOf(Cur());
    OpenBlock open{"macro", s->loc};
    Next();
    s->name = ExpectName().value;
    ParseSignature(s->params);
    ExpectBlockEnd();
    std::set<std::string> names;
    macro_names_.push_back(&names);
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    s->body = Subparse({"endmacro"}, &open);
    loop_depth_ = saved_loops;
    macro_names_.pop_back();
    s->uses_varargs = names.count("varargs") > 0;
    s->uses_kwargs = names.count("kwargs") > 0;
    s->uses_caller = names.count("caller") > 0;
    Next();
    ExpectBlockEnd();
    return s;
  }

  std::unique_ptr<Stmt> ParseCallBlock() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kCallBlock;
    s->loc = LocOf(Cur());
    OpenBlock open{"call", s->loc};
    Next();
    if (IsOp("(")) ParseSignature(s->params);
    const Token& at = Cur();
    s->expr = ParseExpression(true);
    if (s->expr->kind != Expr::Kind::kCall) Fail("expected a call after 'call'", at);
    ExpectBlockEnd();
    std::set<std::string> names;
    macro_names_.push_back(&names);
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    s->body = Subparse({"endcall"}, &open);
    loop_depth_ = saved_loops;
    macro_names_.pop_back();
    s->uses_varargs = names.count("varargs") > 0;
    s->uses_kwargs = names.count("kwargs") > 0;
    Next();
    ExpectBlockEnd();
    return s;
  }

  std::unique_ptr<Stmt> ParseFilterBlock() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kFilterBlock;
    s->loc = LocOf(Cur());
    OpenBlock open{"filter", s->loc};
    Next();
    s->filters.push_back(ParseOneFilter(nullptr, /*leading_pipe=*/false));
    while (IsOp("|")) s->filters.push_back(ParseOneFilter(nullptr));
    ExpectBlockEnd();
    s->body = Subparse({"endfilter"}, &open);
    Next();
    ExpectBlockEnd();
    return s;
  }

  std::unique_ptr<Stmt> ParseWith() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kWith;
    s->loc = LocOf(Cur());
    OpenBlock open{"with", s->loc};
    Next();
    while (Cur().type != Type::kBlockEnd) {
      if (!s->with_names.empty()) ExpectOp(",");
      s->with_names.push_back(ExpectName().value);
      ExpectOp("=");
      s->with_values.push_back(ParseExpression(true));
    }
    ExpectBlockEnd();
    s->body = Subparse({"endwith"}, &open);
    Next();
    ExpectBlockEnd();
    return s;
  }

  // transformers' AssistantTracker: {% generation %} marks the assistant's part; it renders
  // its body unchanged.
  std::unique_ptr<Stmt> ParseGeneration() {
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kScope;
    s->loc = LocOf(Cur());
    OpenBlock open{"generation", s->loc};
    Next();
    ExpectBlockEnd();
    s->body = Subparse({"endgeneration"}, &open);
    Next();
    ExpectBlockEnd();
    return s;
  }

  Target ParseAssignTarget(bool with_namespace, const std::vector<std::string_view>& extra_ends) {
    Target t;
    if (with_namespace && Cur().type == Type::kName && Peek().type == Type::kOp &&
        Peek().value == ".") {
      t.names.push_back(Next().value);
      Next();
      t.attribute = ExpectName().value;
      return t;
    }
    const bool parens = SkipOp("(");
    while (true) {
      if (Cur().type != Type::kName) Fail("can't assign to " + Describe(Cur()), Cur());
      t.names.push_back(Next().value);
      if (!IsOp(",")) break;
      Next();
      t.unpack = true;
      if (parens ? IsOp(")")
                 : (Cur().type == Type::kBlockEnd || IsOp("=") ||
                    (Cur().type == Type::kName && std::find(extra_ends.begin(), extra_ends.end(),
                                                            Cur().value) != extra_ends.end()))) {
        break;
      }
    }
    if (parens) {
      ExpectOp(")");
      if (t.names.size() > 1) t.unpack = true;
    }
    for (const std::string& n : t.names) {
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" ||
          n == "None") {
        Fail("can't assign to the constant '" + n + "'", Cur());
      }
    }
    return t;
  }

  // -- expressions --

  bool IsTupleEnd(const std::vector<std::string_view>& extra_ends) const {
    const Token& t = Cur();
    if (t.type == Type::kVarEnd || t.type == Type::kBlockEnd ||
        (t.type == Type::kOp && t.value == ")"))
      return true;
    return t.type == Type::kName &&
           std::find(extra_ends.begin(), extra_ends.end(), t.value) != extra_ends.end();
  }

  ExprPtr ParseTuple(bool with_condexpr, const std::vector<std::string_view>& extra_ends,
                     bool explicit_parens) {
    const Loc loc = LocOf(Cur());
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) ExpectOp(",");
      if (IsTupleEnd(extra_ends)) break;
      items.push_back(with_condexpr ? ParseExpression(true) : ParseOr());
      if (IsOp(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) Fail("expected an expression, got " + Describe(Cur()), Cur());
    }
    auto e = Make(Expr::Kind::kTuple, loc);
    e->kids = std::move(items);
    return Seal(std::move(e));
  }

  ExprPtr ParseExpression(bool with_condexpr) {
    if (!with_condexpr) return ParseOr();
    DepthGuard guard(*this, Cur());
    ExprPtr expr = ParseOr();
    while (IsName("if")) {
      const Loc loc = LocOf(Next());
      ExprPtr cond = ParseOr();
      ExprPtr otherwise;
      if (SkipName("else")) otherwise = ParseExpression(true);
      auto e = Make(Expr::Kind::kCondExpr, loc);
      e->kids.push_back(std::move(cond));
      e->kids.push_back(std::move(expr));
      e->kids.push_back(std::move(otherwise));
      expr = Seal(std::move(e));
    }
    return expr;
  }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    while (IsName("or")) {
      const Loc loc = LocOf(Next());
      auto e = Make(Expr::Kind::kOr, loc);
      e->kids.push_back(std::move(left));
      e->kids.push_back(ParseAnd());
      left = Seal(std::move(e));
    }
    return left;
  }

  ExprPtr ParseAnd() {
    ExprPtr left = ParseNot();
    while (IsName("and")) {
      const Loc loc = LocOf(Next());
      auto e = Make(Expr::Kind::kAnd, loc);
      e->kids.push_back(std::move(left));
      e->kids.push_back(ParseNot());
      left = Seal(std::move(e));
    }
    return left;
  }

  ExprPtr ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(*this, Cur());
      const Loc loc = LocOf(Next());
      auto e = Make(Expr::Kind::kNot, loc);
      e->kids.push_back(ParseNot());
      return Seal(std::move(e));
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    const Loc loc = LocOf(Cur());
    ExprPtr first = ParseMath1();
    std::vector<ExprPtr> kids;
    std::vector<std::string> ops;
    while (true) {
      const Token& t = Cur();
      std::string op;
      if (t.type == Type::kOp && (t.value == "==" || t.value == "!=" || t.value == "<" ||
                                  t.value == "<=" || t.value == ">" || t.value == ">=")) {
        op = t.value;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && Peek().type == Type::kName && Peek().value == "in") {
        op = "not in";
        Next();
        Next();
      } else {
        break;
      }
      ops.push_back(op);
      kids.push_back(ParseMath1());
    }
    if (ops.empty()) return first;
    auto e = Make(Expr::Kind::kCompare, loc);
    e->kids.push_back(std::move(first));
    for (auto& k : kids) e->kids.push_back(std::move(k));
    e->ops = std::move(ops);
    return Seal(std::move(e));
  }

  ExprPtr Binary(const std::string& op, Loc loc, ExprPtr left, ExprPtr right) {
    auto e = Make(Expr::Kind::kBinary, loc);
    e->name = op;
    e->kids.push_back(std::move(left));
    e->kids.push_back(std::move(right));
    return Seal(std::move(e));
  }

  ExprPtr ParseMath1() {
    ExprPtr left = ParseConcat();
    while (IsOp("+") || IsOp("-")) {
      const Token& t = Next();
      const std::string op = t.value;
      const Loc loc = LocOf(t);
      left = Binary(op, loc, std::move(left), ParseConcat());
    }
    return left;
  }

  ExprPtr ParseConcat() {
    const Loc loc = LocOf(Cur());
    ExprPtr first = ParseMath2();
    if (!IsOp("~")) return first;
    auto e = Make(Expr::Kind::kConcat, loc);
    e->kids.push_back(std::move(first));
    while (SkipOp("~")) e->kids.push_back(ParseMath2());
    return Seal(std::move(e));
  }

  ExprPtr ParseMath2() {
    ExprPtr left = ParsePow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token& t = Next();
      const std::string op = t.value;
      const Loc loc = LocOf(t);
      left = Binary(op, loc, std::move(left), ParsePow());
    }
    return left;
  }

  ExprPtr ParsePow() {
    ExprPtr left = ParseUnary(true);
    while (IsOp("**")) {
      const Loc loc = LocOf(Next());
      left = Binary("**", loc, std::move(left), ParseUnary(true));
    }
    return left;
  }

  ExprPtr ParseUnary(bool with_filter) {
    DepthGuard guard(*this, Cur());
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      const Token& t = Next();
      auto e = Make(t.value == "-" ? Expr::Kind::kNeg : Expr::Kind::kPos, LocOf(t));
      e->kids.push_back(ParseUnary(false));
      node = Seal(std::move(e));
    } else {
      node = ParsePrimary();
    }
    node = ParsePostfix(std::move(node));
    if (with_filter) node = ParseFilterExpr(std::move(node));
    return node;
  }

  ExprPtr ParsePrimary() {
    const Token& t = Cur();
    const Loc loc = LocOf(t);
    switch (t.type) {
      case Type::kName: {
        Next();
        auto e = Make(Expr::Kind::kConst, loc);
        if (t.value == "true" || t.value == "True") {
          e->constant = Value(true);
        } else if (t.value == "false" || t.value == "False") {
          e->constant = Value(false);
        } else if (t.value == "none" || t.value == "None") {
          e->constant = Value(nullptr);
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.value;
          for (auto* names : macro_names_) names->insert(t.value);
        }
        return Seal(std::move(e));
      }
      case Type::kString: {
        std::string s;
        while (Cur().type == Type::kString) s += Next().value;
        auto e = Make(Expr::Kind::kConst, loc);
        e->constant = Value(std::move(s));
        return Seal(std::move(e));
      }
      case Type::kInt: {
        Next();
        auto e = Make(Expr::Kind::kConst, loc);
        e->constant = Value(t.int_value);
        return Seal(std::move(e));
      }
      case Type::kFloat: {
        Next();
        auto e = Make(Expr::Kind::kConst, loc);
        e->constant = Value(t.float_value);
        return Seal(std::move(e));
      }
      case Type::kOp:
        if (t.value == "(") {
          Next();
          ExprPtr e = ParseTuple(true, {}, true);
          ExpectOp(")");
          return e;
        }
        if (t.value == "[") {
          Next();
          auto e = Make(Expr::Kind::kList, loc);
          while (!IsOp("]")) {
            if (!e->kids.empty()) ExpectOp(",");
            if (IsOp("]")) break;
            e->kids.push_back(ParseExpression(true));
          }
          Next();
          return Seal(std::move(e));
        }
        if (t.value == "{") {
          Next();
          auto e = Make(Expr::Kind::kDict, loc);
          while (!IsOp("}")) {
            if (!e->kids.empty()) ExpectOp(",");
            if (IsOp("}")) break;
            e->kids.push_back(ParseExpression(true));
            ExpectOp(":");
            e->kids.push_back(ParseExpression(true));
          }
          Next();
          return Seal(std::move(e));
        }
        break;
      default:
        break;
    }
    Fail("unexpected " + Describe(t), t);
  }

  ExprPtr ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".")) {
        const Loc loc = LocOf(Next());
        const Token& attr = Cur();
        if (attr.type == Type::kName) {
          Next();
          auto e = Make(Expr::Kind::kGetAttr, loc);
          e->name = attr.value;
          e->kids.push_back(std::move(node));
          node = Seal(std::move(e));
        } else if (attr.type == Type::kInt) {
          Next();
          auto e = Make(Expr::Kind::kGetItem, loc);
          auto index = Make(Expr::Kind::kConst, LocOf(attr));
          index->constant = Value(attr.int_value);
          e->kids.push_back(std::move(node));
          e->kids.push_back(Seal(std::move(index)));
          node = Seal(std::move(e));
        } else {
          Fail("expected a name or number after '.', got " + Describe(attr), attr);
        }
      } else if (IsOp("[")) {
        node = ParseSubscript(std::move(node));
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseSubscript(ExprPtr node) {
    const Loc loc = LocOf(Next());  // '['
    ExprPtr start, stop, step;
    bool slice = false;
    if (!IsOp(":")) start = ParseExpression(true);
    if (SkipOp(":")) {
      slice = true;
      if (!IsOp("]") && !IsOp(":")) stop = ParseExpression(true);
      if (SkipOp(":")) {
        if (!IsOp("]")) step = ParseExpression(true);
      }
    }
    if (IsOp(",")) Fail("subscripts with several parts are not supported", Cur());
    ExpectOp("]");
    if (!slice) {
      auto e = Make(Expr::Kind::kGetItem, loc);
      e->kids.push_back(std::move(node));
      e->kids.push_back(std::move(start));
      return Seal(std::move(e));
    }
    auto e = Make(Expr::Kind::kSlice, loc);
    e->kids.push_back(std::move(node));
    e->kids.push_back(std::move(start));
    e->kids.push_back(std::move(stop));
    e->kids.push_back(std::move(step));
    return Seal(std::move(e));
  }

  void ParseCallArgs(ArgsNode& args) {
    ExpectOp("(");
    bool first = true;
    while (!IsOp(")")) {
      if (!first) {
        ExpectOp(",");
        if (IsOp(")")) break;
      }
      first = false;
      if (SkipOp("**")) {
        args.star_kwargs = ParseExpression(true);
      } else if (SkipOp("*")) {
        args.star_args = ParseExpression(true);
      } else if (Cur().type == Type::kName && Peek().type == Type::kOp && Peek().value == "=") {
        std::string key = Next().value;
        Next();
        args.keywords.emplace_back(std::move(key), ParseExpression(true));
      } else {
        if (!args.keywords.empty()) {
          Fail("a positional argument follows a keyword argument", Cur());
        }
        args.positional.push_back(ParseExpression(true));
      }
    }
    Next();
  }

  ExprPtr ParseCall(ExprPtr node) {
    auto e = Make(Expr::Kind::kCall, node->loc);
    e->kids.push_back(std::move(node));
    ParseCallArgs(e->args);
    return Seal(std::move(e));
  }

  // `| name(args)` (the pipe skipped when leading_pipe); `node` null inside filter and set
  // blocks, where the body is the input.
  ExprPtr ParseOneFilter(ExprPtr node, bool leading_pipe = true) {
    if (leading_pipe) ExpectOp("|");
    const Token& name_token = Cur();
    const Loc loc = LocOf(name_token);
    std::string name = ExpectName().value;
    while (IsOp(".")) {
      Next();
      name += "." + ExpectName().value;
    }
    auto e = Make(Expr::Kind::kFilter, loc);
    e->name = std::move(name);
    if (node) e->kids.push_back(std::move(node));
    if (IsOp("(")) ParseCallArgs(e->args);
    return Seal(std::move(e));
  }

  ExprPtr ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        node = ParseOneFilter(std::move(node));
      } else if (IsName("is")) {
        node = ParseTest(std::move(node));
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseTest(ExprPtr node) {
    const Loc loc = LocOf(Next());  // 'is'
    bool negated = SkipName("not");
    std::string name = ExpectName().value;
    while (IsOp(".")) {
      Next();
      name += "." + ExpectName().value;
    }
    auto e = Make(Expr::Kind::kTest, loc);
    e->name = std::move(name);
    e->negated = negated;
    e->kids.push_back(std::move(node));
    const Token& t = Cur();
    if (IsOp("(")) {
      ParseCallArgs(e->args);
    } else if ((t.type == Type::kName || t.type == Type::kString || t.type == Type::kInt ||
                t.type == Type::kFloat || IsOp("[") || IsOp("{")) &&
               !(IsName("else") || IsName("or") || IsName("and"))) {
      if (IsName("is")) Fail("tests cannot be chained with 'is'", t);
      e->args.positional.push_back(ParsePostfix(ParsePrimary()));
    }
    return Seal(std::move(e));
  }

  const Lexer& lexer_;
  std::vector<Token> tokens_;
  const ParseOptions& options_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  // Names read inside the macro and loop bodies being parsed (innermost last).
  std::vector<std::set<std::string>*> macro_names_;
};

}  // namespace

Program Parse(std::string_view source, const ParseOptions& options) {
  Lexer lexer(source, options);
  std::vector<Token> tokens = lexer.Run();
  Parser parser(lexer, std::move(tokens), options);
  return parser.Run();
}

}  // namespace naut::llm::jinja

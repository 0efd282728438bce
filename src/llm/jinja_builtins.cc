#include "llm/jinja_builtins.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <unordered_map>

namespace naut::llm::jinja {

namespace {

// ---- argument binding --------------------------------------------------------------------

// Binds a call's arguments to named parameters the way Python does (positional first, then
// keywords), naming `what` in errors.
class Params {
 public:
  Params(const CallArgs& args, std::string what, std::initializer_list<std::string_view> names,
         size_t required = 0)
      : what_(std::move(what)), names_(names), slots_(names.size(), nullptr) {
    if (args.positional.size() > names_.size()) {
      RuntimeError(what_ + " takes at most " + std::to_string(names_.size()) + " argument(s) (" +
                   std::to_string(args.positional.size()) + " given)");
    }
    for (size_t i = 0; i < args.positional.size(); ++i) slots_[i] = &args.positional[i];
    for (const auto& [key, value] : args.keywords) {
      auto it = std::find(names_.begin(), names_.end(), key);
      if (it == names_.end())
        RuntimeError(what_ + " got an unexpected keyword argument '" + key + "'");
      const size_t i = static_cast<size_t>(it - names_.begin());
      if (slots_[i] != nullptr)
        RuntimeError(what_ + " got multiple values for argument '" + key + "'");
      slots_[i] = &value;
    }
    for (size_t i = 0; i < required; ++i) {
      if (slots_[i] == nullptr) {
        RuntimeError(what_ + " missing required argument '" + std::string(names_[i]) + "'");
      }
    }
  }

  bool Has(size_t i) const { return slots_[i] != nullptr; }
  const Value& Get(size_t i) const { return *slots_[i]; }
  Value Or(size_t i, const Value& fallback) const { return Has(i) ? *slots_[i] : fallback; }
  bool Bool(size_t i, bool fallback) const { return Has(i) ? Truthy(*slots_[i]) : fallback; }
  int64_t Int(size_t i, int64_t fallback) const {
    if (!Has(i) || slots_[i]->is_none()) return fallback;
    const Value& v = *slots_[i];
    if (!v.is_int() && !v.is_bool()) {
      RuntimeError(what_ + ": argument '" + std::string(names_[i]) + "' must be an integer, not " +
                   TypeName(v));
    }
    return v.ToInt();
  }
  std::optional<std::string> String(size_t i) const {
    if (!Has(i) || slots_[i]->is_none()) return std::nullopt;
    return Str(*slots_[i]);
  }

 private:
  std::string what_;
  std::vector<std::string_view> names_;
  std::vector<const Value*> slots_;
};

// ---- string helpers ----------------------------------------------------------------------

std::u32string Cps(std::string_view s) { return DecodeUtf8(s); }

std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  const std::u32string cps = Cps(s);
  std::u32string set;
  if (chars) set = Cps(*chars);
  auto strip_it = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : IsPySpace(c);
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_it(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(cps[e - 1])) --e;
  }
  return EncodeUtf8(std::u32string_view(cps).substr(b, e - b));
}

std::string Upper(std::string_view s) {
  std::u32string cps = Cps(s);
  for (char32_t& c : cps) c = ToUpper(c);
  return EncodeUtf8(cps);
}

std::string Lower(std::string_view s) {
  std::u32string cps = Cps(s);
  for (char32_t& c : cps) c = ToLower(c);
  return EncodeUtf8(cps);
}

bool IsCased(char32_t c) { return ToUpper(c) != c || ToLower(c) != c; }

// Python's str.title(): a letter after a non-letter is upper-cased, others lower-cased.
std::string PyTitle(std::string_view s) {
  std::u32string cps = Cps(s);
  bool prev_cased = false;
  for (char32_t& c : cps) {
    const bool cased = IsCased(c);
    if (cased) c = prev_cased ? ToLower(c) : ToUpper(c);
    prev_cased = cased;
  }
  return EncodeUtf8(cps);
}

std::string PyCapitalize(std::string_view s) {
  std::u32string cps = Cps(s);
  for (size_t i = 0; i < cps.size(); ++i) cps[i] = i == 0 ? ToUpper(cps[i]) : ToLower(cps[i]);
  return EncodeUtf8(cps);
}

// Jinja2's title filter: words start after whitespace, '-', '(', '{', '[' or '<'.
std::string JinjaTitle(std::string_view s) {
  std::u32string cps = Cps(s);
  bool word_start = true;
  for (char32_t& c : cps) {
    const bool sep = IsPySpace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      word_start = true;
      continue;
    }
    c = word_start ? ToUpper(c) : ToLower(c);
    word_start = false;
  }
  return EncodeUtf8(cps);
}

std::string Replace(Runtime& rt, const std::string& s, const std::string& old,
                    const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    const std::u32string cps = Cps(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (i < cps.size()) AppendUtf8(out, cps[i]);
      rt.CheckSize(out.size());
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(old, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += repl;
    rt.CheckSize(out.size());
    pos = hit + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  rt.CheckSize(out.size());
  AddWork(out.size() / 256 + static_cast<uint64_t>(done));
  return out;
}

std::vector<Value> SplitWhitespace(std::string_view s, int64_t maxsplit, bool from_right) {
  const std::u32string cps = Cps(s);
  std::vector<Value> parts;
  if (!from_right) {
    size_t i = 0;
    const size_t n = cps.size();
    while (true) {
      while (i < n && IsPySpace(cps[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        parts.emplace_back(EncodeUtf8(std::u32string_view(cps).substr(i)));
        break;
      }
      size_t j = i;
      while (j < n && !IsPySpace(cps[j])) ++j;
      parts.emplace_back(EncodeUtf8(std::u32string_view(cps).substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  size_t e = cps.size();
  while (true) {
    while (e > 0 && IsPySpace(cps[e - 1])) --e;
    if (e == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
      parts.emplace_back(EncodeUtf8(std::u32string_view(cps).substr(0, e)));
      break;
    }
    size_t b = e;
    while (b > 0 && !IsPySpace(cps[b - 1])) --b;
    parts.emplace_back(EncodeUtf8(std::u32string_view(cps).substr(b, e - b)));
    e = b;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<Value> SplitSep(const std::string& s, const std::string& sep, int64_t maxsplit,
                            bool from_right) {
  if (sep.empty()) RuntimeError("empty separator");
  std::vector<Value> parts;
  if (!from_right) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      const size_t hit = s.find(sep, pos);
      if (hit == std::string::npos) break;
      parts.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep.size();
    }
    parts.emplace_back(s.substr(pos));
    return parts;
  }
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    if (end < sep.size()) break;
    const size_t hit = s.rfind(sep, end - sep.size());
    if (hit == std::string::npos) break;
    parts.emplace_back(s.substr(hit + sep.size(), end - hit - sep.size()));
    end = hit;
  }
  parts.emplace_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

bool IsLineBreak(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

std::vector<std::string> SplitLines(std::string_view s, bool keepends) {
  const std::u32string cps = Cps(s);
  std::vector<std::string> lines;
  size_t i = 0, start = 0;
  while (i < cps.size()) {
    if (IsLineBreak(cps[i])) {
      size_t eol = i + 1;
      if (cps[i] == '\r' && eol < cps.size() && cps[eol] == '\n') ++eol;
      lines.push_back(
          EncodeUtf8(std::u32string_view(cps).substr(start, (keepends ? eol : i) - start)));
      start = i = eol;
    } else {
      ++i;
    }
  }
  if (start < cps.size()) lines.push_back(EncodeUtf8(std::u32string_view(cps).substr(start)));
  return lines;
}

std::string Pad(const std::string& s, int64_t width, char32_t fill, char align) {
  const int64_t len = static_cast<int64_t>(Utf8Length(s));
  if (width <= len) return s;
  const int64_t marg = width - len;
  int64_t left = 0;
  if (align == '>') {
    left = marg;
  } else if (align == '^') {
    left = marg / 2 + (marg & width & 1);
  }
  std::string f;
  AppendUtf8(f, fill);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += f;
  out += s;
  for (int64_t i = 0; i < marg - left; ++i) out += f;
  return out;
}

// ---- number parsing (Python's int() and float() of a string) ----------------------------

std::optional<int64_t> ParsePyInt(std::string_view text, int base) {
  std::string s = Strip(text, std::nullopt, true, true);
  bool neg = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (i + 1 < s.size() && s[i] == '0') {
      const char p = static_cast<char>(std::tolower(s[i + 1]));
      const int prefixed = p == 'x' ? 16 : (p == 'o' ? 8 : (p == 'b' ? 2 : 0));
      if (prefixed != 0 && (base == 0 || base == prefixed)) {
        base = prefixed;
        i += 2;
        if (i < s.size() && s[i] == '_') ++i;
      }
    }
    if (base == 0) base = 10;
  }
  std::string digits;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] == '_' && k > i && k + 1 < s.size() && s[k - 1] != '_') continue;
    digits += s[k];
  }
  if (digits.empty()) return std::nullopt;
  int64_t v = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return neg ? -v : v;
}

std::optional<double> ParsePyFloat(std::string_view text) {
  std::string s = Strip(text, std::nullopt, true, true);
  std::string lower = Lower(s);
  std::string body = lower;
  double sign = 1;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    sign = body[0] == '-' ? -1 : 1;
    body.erase(0, 1);
  }
  if (body == "inf" || body == "infinity") return sign * std::numeric_limits<double>::infinity();
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();
  std::string cleaned;
  for (char k : s) {
    if (k == '_') continue;
    cleaned += k;
  }
  if (cleaned.empty()) return std::nullopt;
  double v = 0;
  auto r = std::from_chars(cleaned.data(), cleaned.data() + cleaned.size(), v);
  if (r.ec != std::errc() || r.ptr != cleaned.data() + cleaned.size()) {
    // from_chars refuses a leading '+'.
    if (cleaned[0] == '+') {
      r = std::from_chars(cleaned.data() + 1, cleaned.data() + cleaned.size(), v);
      if (r.ec == std::errc() && r.ptr == cleaned.data() + cleaned.size()) return v;
    }
    return std::nullopt;
  }
  return v;
}

// ---- formatting --------------------------------------------------------------------------

std::string FormatFixed(double d, int precision, char type) {
  char fmt[16];
  std::snprintf(fmt, sizeof fmt, "%%.%d%c", precision, type);
  const int n = std::snprintf(nullptr, 0, fmt, d);
  std::string out(static_cast<size_t>(std::max(n, 0)) + 1, '\0');
  std::snprintf(out.data(), out.size(), fmt, d);
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

std::string IntToBase(int64_t v, int base, bool upper) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string out;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  while (u > 0) {
    out += digits[u % static_cast<uint64_t>(base)];
    u /= static_cast<uint64_t>(base);
  }
  if (neg) out += '-';
  std::reverse(out.begin(), out.end());
  return out;
}

std::string GroupThousands(const std::string& digits, char sep) {
  size_t start = !digits.empty() && digits[0] == '-' ? 1 : 0;
  size_t end = digits.find('.');
  if (end == std::string::npos) end = digits.size();
  std::string head = digits.substr(start, end - start);
  std::string grouped;
  for (size_t i = 0; i < head.size(); ++i) {
    if (i > 0 && (head.size() - i) % 3 == 0) grouped += sep;
    grouped += head[i];
  }
  return digits.substr(0, start) + grouped + digits.substr(end);
}

// A parsed format spec: [[fill]align][sign][#][0][width][grouping][.precision][type].
struct FormatSpecParts {
  char32_t fill = ' ';
  char align = 0, sign = '-';
  bool alt = false;
  int64_t width = -1, precision = -1;
  char grouping = 0, type = 0;
};

FormatSpecParts ParseFormatSpec(std::string_view spec) {
  FormatSpecParts f;
  bool zero = false;
  const std::u32string cps = Cps(spec);
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    f.fill = cps[0];
    f.align = static_cast<char>(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    f.align = static_cast<char>(cps[0]);
    i = 1;
  }
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' '))
    f.sign = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == '#') {
    f.alt = true;
    ++i;
  }
  if (i < cps.size() && cps[i] == '0') {
    zero = true;
    ++i;
  }
  while (i < cps.size() && IsDigit(cps[i])) {
    f.width = std::max<int64_t>(f.width, 0) * 10 + (cps[i++] - '0');
    if (f.width > 100000) RuntimeError("format width too big");
  }
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) f.grouping = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    f.precision = 0;
    while (i < cps.size() && IsDigit(cps[i])) {
      f.precision = f.precision * 10 + (cps[i++] - '0');
      if (f.precision > 1000) RuntimeError("format precision too big");
    }
  }
  if (i < cps.size()) f.type = static_cast<char>(cps[i++]);
  if (i < cps.size()) RuntimeError("Invalid format specifier '" + std::string(spec) + "'");
  if (zero && f.align == 0) {
    f.fill = '0';
    f.align = '=';
  }
  return f;
}

[[noreturn]] void UnknownFormatCode(char type, const Value& v) {
  RuntimeError("Unknown format code '" + std::string(1, type) + "' for object of type '" +
               TypeName(v) + "'");
}

// The digits of a number as `f` asks for them, without the sign; `negative` says whether one is
// due.
std::string FormatNumberBody(const Value& v, const FormatSpecParts& f, bool& negative) {
  const char type = f.type;
  std::string body;
  if ((type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b' ||
       type == 'n' || type == 'c') &&
      !v.is_float()) {
    int64_t n = v.ToInt();
    negative = n < 0;
    if (type == 'c') {
      AppendUtf8(body, static_cast<char32_t>(n));
    } else {
      const int base = type == 'x' || type == 'X' ? 16 : (type == 'o' ? 8 : (type == 'b' ? 2 : 10));
      body = IntToBase(n, base, type == 'X');
      if (negative) body.erase(0, 1);
      if (f.grouping) body = GroupThousands(body, f.grouping);
      if (f.alt && base != 10)
        body = (base == 16 ? (type == 'X' ? "0X" : "0x") : (base == 8 ? "0o" : "0b")) + body;
    }
    return body;
  }
  double d = v.ToDouble();
  negative = std::signbit(d) && !std::isnan(d);
  d = std::fabs(d);
  if (type == 0 && f.precision < 0) {
    body = FloatRepr(d);
  } else {
    const int p = static_cast<int>(f.precision < 0 ? 6 : f.precision);
    switch (type) {
      case 'e':
      case 'E':
      case 'f':
      case 'F':
        body = FormatFixed(d, p, type);
        break;
      case '%':
        body = FormatFixed(d * 100, p, 'f') + "%";
        break;
      case 'g':
      case 'G':
      case 0:
        body = FormatFixed(d, p == 0 ? 1 : p, type == 'G' ? 'G' : 'g');
        break;
      default:
        UnknownFormatCode(type, v);
    }
  }
  if (f.grouping) body = GroupThousands(body, f.grouping);
  return body;
}

// Python's format(value, spec) for the mini-language str.format uses.
std::string FormatSpec(const Value& v, std::string_view spec) {
  FormatSpecParts f = ParseFormatSpec(spec);
  const bool numeric = v.is_number() && !(f.type == 's');
  if (!numeric) {
    if (f.type != 0 && f.type != 's') UnknownFormatCode(f.type, v);
    std::string body = Str(v);
    if (f.precision >= 0) {
      const std::u32string b = Cps(body);
      if (static_cast<int64_t>(b.size()) > f.precision) {
        body = EncodeUtf8(std::u32string_view(b).substr(0, static_cast<size_t>(f.precision)));
      }
    }
    if (f.align == 0) f.align = '<';
    return Pad(body, f.width, f.fill, f.align == '=' ? '<' : f.align);
  }
  bool negative = false;
  const std::string body = FormatNumberBody(v, f, negative);
  std::string sign_text;
  if (negative) {
    sign_text = "-";
  } else if (f.sign == '+') {
    sign_text = "+";
  } else if (f.sign == ' ') {
    sign_text = " ";
  }
  if (f.align == 0) f.align = '>';
  if (f.align == '=') {
    const int64_t len = static_cast<int64_t>(Utf8Length(sign_text) + Utf8Length(body));
    std::string fill;
    AppendUtf8(fill, f.fill);
    std::string padding;
    for (int64_t k = len; k < f.width; ++k) padding += fill;
    return sign_text + padding + body;
  }
  return Pad(sign_text + body, f.width, f.fill, f.align);
}

// Python's str.format(*args, **kwargs).
std::string StrFormat(Runtime& rt, const std::string& format, const CallArgs& args) {
  std::string out;
  const std::string& f = format;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size();) {
    const char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      RuntimeError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    const size_t close = f.find('}', i + 1);
    if (close == std::string::npos) RuntimeError("expected '}' before end of string");
    std::string field = f.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string spec;
    char conversion = 0;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) RuntimeError("expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    // The argument name, then .attribute and [index] parts.
    size_t name_end = field.find_first_of(".[");
    std::string name = field.substr(0, name_end);
    Value value;
    if (name.empty()) {
      if (auto_index >= args.positional.size()) {
        RuntimeError("Replacement index " + std::to_string(auto_index) +
                     " out of range for positional args tuple");
      }
      value = args.positional[auto_index++];
    } else if (std::all_of(name.begin(), name.end(),
                           [](char ch) { return ch >= '0' && ch <= '9'; })) {
      const size_t idx = static_cast<size_t>(std::stoul(name));
      if (idx >= args.positional.size()) {
        RuntimeError("Replacement index " + name + " out of range for positional args tuple");
      }
      value = args.positional[idx];
    } else {
      auto it = std::find_if(args.keywords.begin(), args.keywords.end(),
                             [&](const auto& k) { return k.first == name; });
      if (it == args.keywords.end()) RuntimeError("KeyError: '" + name + "'");
      value = it->second;
    }
    while (name_end != std::string::npos && name_end < field.size()) {
      if (field[name_end] == '.') {
        const size_t next = field.find_first_of(".[", name_end + 1);
        value = rt.GetAttr(value, field.substr(name_end + 1, next - name_end - 1));
        name_end = next;
      } else {
        const size_t rb = field.find(']', name_end);
        if (rb == std::string::npos) RuntimeError("Missing ']' in format string");
        const std::string key = field.substr(name_end + 1, rb - name_end - 1);
        const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
          return ch >= '0' && ch <= '9';
        });
        value =
            rt.GetItem(value, numeric ? Value(static_cast<int64_t>(std::stoll(key))) : Value(key));
        name_end = rb + 1;
      }
    }
    if (conversion == 'r') {
      value = Value(Repr(value));
    } else if (conversion == 's') {
      value = Value(Str(value));
    } else if (conversion != 0) {
      RuntimeError("Unknown conversion specifier " + std::string(1, conversion));
    }
    if (value.is_undefined()) RuntimeError(value.undefined_hint());
    out += FormatSpec(value, spec);
    rt.CheckSize(out.size());
  }
  AddWork(out.size() / 256);
  return out;
}

// ---- iteration, attributes, sorting -------------------------------------------------------

// Jinja2's attribute getters: "a.b.0" walks items and attributes.
Value GetPath(Runtime& rt, const Value& item, const std::string& path) {
  Value v = item;
  size_t pos = 0;
  while (true) {
    const size_t dot = path.find('.', pos);
    const std::string part =
        path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    v = rt.GetItem(v, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (dot == std::string::npos) return v;
    pos = dot + 1;
  }
}

Value CaseKey(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(Lower(v.as_string()));
  return v;
}

// A stable merge sort with bounds that hold whatever the comparison does (std::sort may read
// out of range when a comparison is inconsistent).
template <typename Less>
void StableSort(std::vector<size_t>& idx, Less less) {
  std::vector<size_t> buf(idx.size());
  for (size_t width = 1; width < idx.size(); width *= 2) {
    for (size_t lo = 0; lo < idx.size(); lo += 2 * width) {
      const size_t mid = std::min(lo + width, idx.size());
      const size_t hi = std::min(lo + 2 * width, idx.size());
      size_t a = lo, b = mid, o = lo;
      while (a < mid && b < hi) buf[o++] = less(idx[b], idx[a]) ? idx[b++] : idx[a++];
      while (a < mid) buf[o++] = idx[a++];
      while (b < hi) buf[o++] = idx[b++];
    }
    idx.swap(buf);
  }
}

std::vector<Value> SortedBy(std::vector<Value> items, const std::vector<Value>& keys,
                            bool reverse) {
  std::vector<size_t> idx(items.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  StableSort(idx, [&](size_t x, size_t y) {
    return reverse ? Compare(keys[y], keys[x]) < 0 : Compare(keys[x], keys[y]) < 0;
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : idx) out.push_back(std::move(items[i]));
  return out;
}

std::vector<std::string> SplitAttributes(const std::string& attribute) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    const size_t comma = attribute.find(',', pos);
    parts.push_back(Strip(attribute.substr(pos, comma - pos), std::nullopt, true, true));
    if (comma == std::string::npos) return parts;
    pos = comma + 1;
  }
}

Value SortKey(Runtime& rt, const Value& item, const std::optional<std::string>& attribute,
              bool case_sensitive) {
  if (!attribute) return CaseKey(item, case_sensitive);
  const auto parts = SplitAttributes(*attribute);
  if (parts.size() == 1) return CaseKey(GetPath(rt, item, parts[0]), case_sensitive);
  std::vector<Value> key;
  key.reserve(parts.size());
  for (const auto& p : parts) key.push_back(CaseKey(GetPath(rt, item, p), case_sensitive));
  return Value::List(std::move(key));
}

// ---- filters -----------------------------------------------------------------------------

using Filter = Value (*)(Runtime&, const Value&, CallArgs&);

Value FAbs(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'abs'", {});
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    const int64_t i = v.ToInt();
    if (i == std::numeric_limits<int64_t>::min()) RuntimeError("integer overflow");
    return Value(i < 0 ? -i : i);
  }
  RuntimeError("bad operand type for abs(): '" + TypeName(v) + "'");
}

Value FAttr(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'attr'", {"name"}, 1);
  return rt.GetAttr(v, Str(p.Get(0)));
}

Value FBatch(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'batch'", {"linecount", "fill_with"}, 1);
  const int64_t n = p.Int(0, 1);
  if (n <= 0) RuntimeError("filter 'batch': linecount must be positive");
  std::vector<Value> out, cur;
  for (Value& item : Iterate(v)) {
    cur.push_back(std::move(item));
    if (static_cast<int64_t>(cur.size()) == n) {
      out.push_back(Value::List(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (p.Has(1) && !p.Get(1).is_none()) {
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(p.Get(1));
    }
    out.push_back(Value::List(std::move(cur)));
  }
  return Value::Generator(std::move(out));
}

Value FCapitalize(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'capitalize'", {});
  return Value(PyCapitalize(Str(v)));
}

Value FCenter(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'center'", {"width"});
  const int64_t width = p.Int(0, 80);
  rt.CheckSize(static_cast<size_t>(std::max<int64_t>(width, 0)) * 4);
  return Value(Pad(Str(v), width, ' ', '^'));
}

Value FDefault(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'default'", {"default_value", "boolean"});
  const bool boolean = p.Bool(1, false);
  if (v.is_undefined() || (boolean && !Truthy(v))) return p.Or(0, Value(""));
  return v;
}

Value FDictsort(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'dictsort'", {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) RuntimeError("filter 'dictsort': expected a mapping, got " + TypeName(v));
  const bool case_sensitive = p.Bool(0, false);
  const std::string by = p.String(1).value_or("key");
  if (by != "key" && by != "value")
    RuntimeError("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> items, keys;
  for (const auto& [k, val] : v.dict().entries()) {
    items.push_back(Value::Tuple({k, val}));
    keys.push_back(CaseKey(by == "key" ? k : val, case_sensitive));
  }
  return Value::List(SortedBy(std::move(items), keys, p.Bool(2, false)));
}

Value FEscape(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'escape'", {});
  if (v.is_markup()) return v;
  return Value::Markup(HtmlEscape(Str(v)));
}

Value FForceEscape(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'forceescape'", {});
  return Value::Markup(HtmlEscape(Str(v)));
}

Value FFirst(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'first'", {});
  if (v.is_list()) {
    if (v.items().empty()) return Value::Undefined("No first item, sequence was empty.");
    return v.items().front();
  }
  std::vector<Value> items = Iterate(v);
  if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
  return items.front();
}

Value FFloat(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'float'", {"default"});
  if (v.is_undefined()) RuntimeError(v.undefined_hint());  // float(Undefined) raises
  if (v.is_number()) return Value(v.ToDouble());
  if (v.is_string()) {
    if (auto d = ParsePyFloat(v.as_string())) return Value(*d);
  }
  return p.Or(0, Value(0.0));
}

Value FFormat(Runtime& rt, const Value& v, CallArgs& a) {
  if (!a.positional.empty() && !a.keywords.empty()) {
    RuntimeError("can't handle positional and keyword arguments at the same time");
  }
  if (!a.keywords.empty()) {
    DictData d;
    for (const auto& [k, val] : a.keywords) d.Set(Value(k), val);
    return Value(PercentFormat(rt, Str(v), Value::Dict(std::move(d))));
  }
  return Value(PercentFormat(rt, Str(v), Value::Tuple(a.positional)));
}

Value FIndent(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'indent'", {"width", "first", "blank"});
  // Jinja2 appends "\n" to the value: only strings take it.
  if (!v.is_string()) {
    RuntimeError("unsupported operand type(s) for +=: '" + TypeName(v) + "' and 'str'");
  }
  std::string indention;
  if (p.Has(0) && p.Get(0).is_string()) {
    indention = p.Get(0).as_string();
  } else {
    const int64_t width = p.Int(0, 4);
    if (width > 10000) RuntimeError("filter 'indent': width too big");
    indention = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
  }
  const bool first = p.Bool(1, false), blank = p.Bool(2, false);
  const std::string s = Str(v) + "\n";
  std::vector<std::string> lines = SplitLines(s, false);
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += "\n" + indention;
      out += lines[i];
      rt.CheckSize(out.size());
    }
  } else {
    if (!lines.empty()) out = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      out += "\n";
      if (!lines[i].empty()) out += indention;
      out += lines[i];
      rt.CheckSize(out.size());
    }
  }
  if (first) out = indention + out;
  return Value(std::move(out));
}

Value FInt(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'int'", {"default", "base"});
  if (v.is_undefined()) RuntimeError(v.undefined_hint());  // int(Undefined) raises
  const int64_t base = p.Int(1, 10);
  if (v.is_int() || v.is_bool()) return Value(v.ToInt());
  if (v.is_float()) {
    const double d = v.as_float();
    if (std::isfinite(d) && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
    return p.Or(0, Value(0));
  }
  if (v.is_string()) {
    if (base == 0 || (base >= 2 && base <= 36)) {
      if (auto i = ParsePyInt(v.as_string(), static_cast<int>(base))) return Value(*i);
    }
    if (auto d = ParsePyFloat(v.as_string())) {
      if (std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value(static_cast<int64_t>(*d));
    }
  }
  return p.Or(0, Value(0));
}

Value FItems(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'items'", {});
  if (v.is_undefined()) return Value::Generator({});
  if (!v.is_dict()) RuntimeError("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict().entries()) out.push_back(Value::Tuple({k, val}));
  return Value::Generator(std::move(out));
}

Value FJoin(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'join'", {"d", "attribute"});
  const std::string sep = p.Has(0) ? Str(p.Get(0)) : "";
  const auto attribute = p.String(1);
  std::string out;
  bool first = true;
  for (const Value& item : Iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += Str(attribute ? GetPath(rt, item, *attribute) : item);
    rt.CheckSize(out.size());
  }
  AddWork(out.size() / 256);
  return Value(std::move(out));
}

Value FLast(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'last'", {});
  if (v.is_list()) {
    if (v.items().empty()) return Value::Undefined("No last item, sequence was empty.");
    return v.items().back();
  }
  std::vector<Value> items = Iterate(v);
  if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
  return items.back();
}

Value FLength(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'length'", {});
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return Value(0);
    case Value::Kind::kString:
      return Value(static_cast<int64_t>(Utf8Length(v.as_string())));
    case Value::Kind::kList:
      if (v.is_generator()) break;
      return Value(static_cast<int64_t>(v.items().size()));
    case Value::Kind::kDict:
      return Value(static_cast<int64_t>(v.dict().size()));
    default:
      break;
  }
  RuntimeError("object of type '" + TypeName(v) + "' has no len()");
}

Value FList(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'list'", {});
  return Value::List(Iterate(v));
}

Value FLower(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'lower'", {});
  return v.is_markup() ? Value::Markup(Lower(Str(v))) : Value(Lower(Str(v)));
}

Value FUpper(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'upper'", {});
  return v.is_markup() ? Value::Markup(Upper(Str(v))) : Value(Upper(Str(v)));
}

Value MinMax(Runtime& rt, const Value& v, CallArgs& a, bool want_max) {
  Params p(a, want_max ? "filter 'max'" : "filter 'min'", {"case_sensitive", "attribute"});
  const bool case_sensitive = p.Bool(0, false);
  const auto attribute = p.String(1);
  std::vector<Value> items = Iterate(v);
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = SortKey(rt, items[0], attribute, case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = SortKey(rt, items[i], attribute, case_sensitive);
    const int c = Compare(key, best_key);
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

Value FMax(Runtime& rt, const Value& v, CallArgs& a) { return MinMax(rt, v, a, true); }
Value FMin(Runtime& rt, const Value& v, CallArgs& a) { return MinMax(rt, v, a, false); }

Value FMap(Runtime& rt, const Value& v, CallArgs& a) {
  if (!Truthy(v)) return Value::Generator({});  // Jinja2: `if value:` before anything else
  std::vector<Value> items = Iterate(v);
  std::vector<Value> out;
  if (a.positional.empty()) {
    const Value* attribute = nullptr;
    const Value* fallback = nullptr;
    for (const auto& [k, val] : a.keywords) {
      if (k == "attribute") {
        attribute = &val;
      } else if (k == "default") {
        fallback = &val;
      } else {
        RuntimeError("filter 'map' got an unexpected keyword argument '" + k + "'");
      }
    }
    if (attribute == nullptr) RuntimeError("filter 'map' needs a filter name or attribute=");
    const std::string path = Str(*attribute);
    for (const Value& item : items) {
      Value got = GetPath(rt, item, path);
      if (got.is_undefined() && fallback != nullptr) got = *fallback;
      out.push_back(std::move(got));
    }
    return Value::Generator(std::move(out));
  }
  const std::string name = Str(a.positional[0]);
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keywords = a.keywords;
  for (const Value& item : items) {
    CallArgs copy = rest;
    out.push_back(ApplyFilter(rt, name, item, copy));
  }
  return Value::Generator(std::move(out));
}

Value Select(Runtime& rt, const Value& v, CallArgs& a, bool by_attribute, bool keep_when) {
  if (!Truthy(v)) return Value::Generator({});  // Jinja2: `if value:` before anything else
  const char* what =
      by_attribute ? (keep_when ? "selectattr" : "rejectattr") : (keep_when ? "select" : "reject");
  size_t next = 0;
  std::optional<std::string> attribute;
  if (by_attribute) {
    if (a.positional.empty()) RuntimeError(std::string("filter '") + what + "' needs an attribute");
    attribute = Str(a.positional[next++]);
  }
  std::optional<std::string> test;
  if (next < a.positional.size()) test = Str(a.positional[next++]);
  CallArgs test_args;
  test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(next),
                              a.positional.end());
  test_args.keywords = a.keywords;
  std::vector<Value> out;
  for (Value& item : Iterate(v)) {
    const Value probe = attribute ? GetPath(rt, item, *attribute) : item;
    bool pass;
    if (test) {
      CallArgs copy = test_args;
      pass = ApplyTest(rt, *test, probe, copy);
    } else {
      pass = Truthy(probe);
    }
    if (pass == keep_when) out.push_back(std::move(item));
  }
  return Value::Generator(std::move(out));
}

Value FSelect(Runtime& rt, const Value& v, CallArgs& a) { return Select(rt, v, a, false, true); }
Value FReject(Runtime& rt, const Value& v, CallArgs& a) { return Select(rt, v, a, false, false); }
Value FSelectAttr(Runtime& rt, const Value& v, CallArgs& a) { return Select(rt, v, a, true, true); }
Value FRejectAttr(Runtime& rt, const Value& v, CallArgs& a) {
  return Select(rt, v, a, true, false);
}

Value FPprint(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'pprint'", {});
  return Value(Repr(v));
}

Value FReplace(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'replace'", {"old", "new", "count"}, 2);
  return Value(Replace(rt, Str(v), Str(p.Get(0)), Str(p.Get(1)), p.Int(2, -1)));
}

Value FReverse(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'reverse'", {});
  if (v.is_string()) {
    std::u32string cps = Cps(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value(EncodeUtf8(cps));
  }
  std::vector<Value> items = Iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::Generator(std::move(items));
}

Value FRound(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'round'", {"precision", "method"});
  const int64_t precision = p.Int(0, 0);
  const std::string method = p.String(1).value_or("common");
  if (method != "common" && method != "ceil" && method != "floor") {
    RuntimeError("method must be 'common', 'ceil' or 'floor'");
  }
  if (!v.is_number()) RuntimeError("type " + TypeName(v) + " doesn't define __round__ method");
  if (method == "common" && !v.is_float()) {
    // Python's round() of an int is an int (rounded half to even at negative precision).
    int64_t i = v.ToInt();
    if (precision >= 0) return Value(i);
    if (precision < -18) return Value(int64_t{0});
    int64_t unit = 1;
    for (int64_t k = 0; k < -precision; ++k) unit *= 10;
    int64_t q = i / unit, rem = i % unit;
    if (rem < 0) {
      rem += unit;
      --q;
    }
    if (rem * 2 > unit || (rem * 2 == unit && q % 2 != 0)) ++q;
    return Value(q * unit);
  }
  const double d = v.ToDouble();
  const double scale = std::pow(10.0, static_cast<double>(precision));
  double r;
  if (method == "ceil") {
    r = std::ceil(d * scale) / scale;
  } else if (method == "floor") {
    r = std::floor(d * scale) / scale;
  } else {
    r = std::nearbyint(d * scale) / scale;
  }
  return Value(r);
}

Value FSafe(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'safe'", {});
  return v.is_markup() ? v : Value::Markup(Str(v));
}

Value FSort(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'sort'", {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = Iterate(v);
  std::vector<Value> keys;
  keys.reserve(items.size());
  const bool case_sensitive = p.Bool(1, false);
  const auto attribute = p.String(2);
  for (const Value& item : items) keys.push_back(SortKey(rt, item, attribute, case_sensitive));
  return Value::List(SortedBy(std::move(items), keys, p.Bool(0, false)));
}

Value FString(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'string'", {});
  return v.is_string() ? v : Value(Str(v));
}

Value FStriptags(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'striptags'", {});
  const std::string s = Str(v);
  std::string text;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 4, "<!--") == 0) {
      const size_t end = s.find("-->", i + 4);
      if (end == std::string::npos) break;
      i = end + 3;
    } else if (s[i] == '<') {
      const size_t end = s.find('>', i + 1);
      if (end == std::string::npos) {
        text += s.substr(i);
        break;
      }
      i = end + 1;
    } else {
      text += s[i++];
    }
  }
  std::string out;
  for (const Value& w : SplitWhitespace(text, -1, false)) {
    if (!out.empty()) out += ' ';
    out += w.as_string();
  }
  return Value(std::move(out));
}

Value FSum(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'sum'", {"attribute", "start"});
  const auto attribute = p.String(0);
  Value total = p.Or(1, Value(0));
  for (const Value& item : Iterate(v)) {
    const Value x = attribute ? GetPath(rt, item, *attribute) : item;
    if (total.is_number() && x.is_number()) {
      if (total.is_float() || x.is_float()) {
        total = Value(total.ToDouble() + x.ToDouble());
      } else {
        int64_t r;
        if (__builtin_add_overflow(total.ToInt(), x.ToInt(), &r)) RuntimeError("integer overflow");
        total = Value(r);
      }
    } else if (total.is_list() && x.is_list()) {
      std::vector<Value> items = total.items();
      items.insert(items.end(), x.items().begin(), x.items().end());
      total = Value::List(std::move(items));
    } else {
      RuntimeError("unsupported operand type(s) for +: '" + TypeName(total) + "' and '" +
                   TypeName(x) + "'");
    }
  }
  return total;
}

Value FTitle(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'title'", {});
  return Value(JinjaTitle(Str(v)));
}

Value FToJson(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'tojson'", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle style;
  style.ensure_ascii = p.Bool(0, false);
  if (p.Has(1) && !p.Get(1).is_none()) {
    const Value& indent = p.Get(1);
    if (indent.is_string()) {
      style.indent = indent.as_string();
    } else if (indent.is_int() || indent.is_bool()) {
      const int64_t n = indent.ToInt();
      if (n > 1000) RuntimeError("filter 'tojson': indent too big");
      style.indent = std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' ');
    } else {
      RuntimeError("filter 'tojson': indent must be an integer or a string");
    }
  }
  if (p.Has(2) && !p.Get(2).is_none()) {
    const Value& sep = p.Get(2);
    if (!sep.is_list() || sep.items().size() != 2 || !sep.items()[0].is_string() ||
        !sep.items()[1].is_string()) {
      RuntimeError("filter 'tojson': separators must be a pair of strings");
    }
    style.separators = std::make_pair(sep.items()[0].as_string(), sep.items()[1].as_string());
  }
  style.sort_keys = p.Bool(3, false);
  std::string out = ToJson(v, style);
  rt.CheckSize(out.size());
  return Value(std::move(out));
}

Value FTrim(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'trim'", {"chars"});
  std::string out = Strip(Str(v), p.String(0), true, true);
  return v.is_markup() ? Value::Markup(std::move(out)) : Value(std::move(out));
}

Value FTruncate(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'truncate'", {"length", "killwords", "end", "leeway"});
  const int64_t length = p.Int(0, 255);
  const bool killwords = p.Bool(1, false);
  const std::string end = p.String(2).value_or("...");
  const int64_t leeway = p.Int(3, 5);
  if (v.is_undefined()) return v;  // len() of an undefined value is 0
  if (!v.is_string()) {
    // Jinja2 measures the value as it is; a short list or dict comes back unchanged.
    const bool sized = (v.is_list() && !v.is_generator()) || v.is_dict();
    const int64_t len = !sized        ? -1
                        : v.is_dict() ? static_cast<int64_t>(v.dict().size())
                                      : static_cast<int64_t>(v.items().size());
    if (len < 0) RuntimeError("object of type '" + TypeName(v) + "' has no len()");
    if (len <= length + leeway) return v;
    RuntimeError("filter 'truncate' needs a string, not " + TypeName(v));
  }
  const std::u32string s = Cps(Str(v));
  const int64_t end_len = static_cast<int64_t>(Utf8Length(end));
  if (length < end_len) RuntimeError("expected length >= " + std::to_string(end_len));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return Value(EncodeUtf8(s));
  std::u32string head = s.substr(0, static_cast<size_t>(length - end_len));
  if (!killwords) {
    const size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head.resize(space);
  }
  return Value(EncodeUtf8(head) + end);
}

Value FUnique(Runtime& rt, const Value& v, CallArgs& a) {
  Params p(a, "filter 'unique'", {"case_sensitive", "attribute"});
  const bool case_sensitive = p.Bool(0, false);
  const auto attribute = p.String(1);
  DictData seen;
  std::vector<Value> out;
  for (Value& item : Iterate(v)) {
    const Value key = SortKey(rt, item, attribute, case_sensitive);
    if (seen.Find(key) != nullptr) continue;
    seen.Set(key, Value(nullptr));
    out.push_back(std::move(item));
  }
  return Value::Generator(std::move(out));
}

Value FWordcount(Runtime&, const Value& v, CallArgs& a) {
  Params p(a, "filter 'wordcount'", {});
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : Cps(Str(v))) {
    const bool w = IsAlpha(c) || IsDigit(c) || c == '_';
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value(words);
}

const std::unordered_map<std::string_view, Filter>& Filters() {
  static const std::unordered_map<std::string_view, Filter> filters = {
      {"abs", FAbs},
      {"attr", FAttr},
      {"batch", FBatch},
      {"capitalize", FCapitalize},
      {"center", FCenter},
      {"count", FLength},
      {"d", FDefault},
      {"default", FDefault},
      {"dictsort", FDictsort},
      {"e", FEscape},
      {"escape", FEscape},
      {"first", FFirst},
      {"float", FFloat},
      {"forceescape", FForceEscape},
      {"format", FFormat},
      {"indent", FIndent},
      {"int", FInt},
      {"items", FItems},
      {"join", FJoin},
      {"last", FLast},
      {"length", FLength},
      {"list", FList},
      {"lower", FLower},
      {"map", FMap},
      {"max", FMax},
      {"min", FMin},
      {"pprint", FPprint},
      {"reject", FReject},
      {"rejectattr", FRejectAttr},
      {"replace", FReplace},
      {"reverse", FReverse},
      {"round", FRound},
      {"safe", FSafe},
      {"select", FSelect},
      {"selectattr", FSelectAttr},
      {"sort", FSort},
      {"string", FString},
      {"striptags", FStriptags},
      {"sum", FSum},
      {"title", FTitle},
      {"tojson", FToJson},
      {"trim", FTrim},
      {"truncate", FTruncate},
      {"unique", FUnique},
      {"upper", FUpper},
      {"wordcount", FWordcount},
  };
  return filters;
}

// ---- tests -------------------------------------------------------------------------------

using Test = bool (*)(Runtime&, const Value&, CallArgs&);

const Value& OneArg(CallArgs& a, const char* name) {
  if (a.positional.size() + a.keywords.size() != 1) {
    RuntimeError(std::string("test '") + name + "' takes exactly one argument");
  }
  return a.positional.empty() ? a.keywords[0].second : a.positional[0];
}

void NoArgs(CallArgs& a, const char* name) {
  if (!a.positional.empty() || !a.keywords.empty()) {
    RuntimeError(std::string("test '") + name + "' takes no arguments");
  }
}

#define NAUT_JINJA_TEST0(fn, name, expr)           \
  bool fn(Runtime&, const Value& v, CallArgs& a) { \
    NoArgs(a, name);                               \
    (void)v;                                       \
    return expr;                                   \
  }

NAUT_JINJA_TEST0(TDefined, "defined", !v.is_undefined())
NAUT_JINJA_TEST0(TUndefined, "undefined", v.is_undefined())
NAUT_JINJA_TEST0(TNone, "none", v.is_none())
NAUT_JINJA_TEST0(TBoolean, "boolean", v.is_bool())
NAUT_JINJA_TEST0(TFalse, "false", v.is_bool() && !v.as_bool())
NAUT_JINJA_TEST0(TTrue, "true", v.is_bool() && v.as_bool())
NAUT_JINJA_TEST0(TInteger, "integer", v.is_int())
NAUT_JINJA_TEST0(TFloat, "float", v.is_float())
NAUT_JINJA_TEST0(TNumber, "number", v.is_number())
NAUT_JINJA_TEST0(TString, "string", v.is_string())
NAUT_JINJA_TEST0(TMapping, "mapping", v.is_dict())
NAUT_JINJA_TEST0(TIterable, "iterable",
                 v.is_undefined() || v.is_string() || v.is_list() || v.is_dict())
NAUT_JINJA_TEST0(TSequence, "sequence",
                 v.is_undefined() || v.is_string() || (v.is_list() && !v.is_generator()) ||
                     v.is_dict())
NAUT_JINJA_TEST0(TCallable, "callable", v.is_function())
NAUT_JINJA_TEST0(TEscaped, "escaped", false)
NAUT_JINJA_TEST0(TLower, "lower",
                 v.is_string() && Lower(v.as_string()) == v.as_string() &&
                     Upper(v.as_string()) != v.as_string())
NAUT_JINJA_TEST0(TUpper, "upper",
                 v.is_string() && Upper(v.as_string()) == v.as_string() &&
                     Lower(v.as_string()) != v.as_string())

#undef NAUT_JINJA_TEST0

bool TOdd(Runtime&, const Value& v, CallArgs& a) {
  NoArgs(a, "odd");
  if (!v.is_int() && !v.is_bool()) RuntimeError("test 'odd' needs an integer, not " + TypeName(v));
  return v.ToInt() % 2 != 0;
}

bool TEven(Runtime&, const Value& v, CallArgs& a) {
  NoArgs(a, "even");
  if (!v.is_int() && !v.is_bool()) RuntimeError("test 'even' needs an integer, not " + TypeName(v));
  return v.ToInt() % 2 == 0;
}

bool TDivisibleBy(Runtime&, const Value& v, CallArgs& a) {
  const Value& n = OneArg(a, "divisibleby");
  if (!v.is_number() || !n.is_number()) RuntimeError("test 'divisibleby' needs numbers");
  if (n.ToDouble() == 0) RuntimeError("integer division or modulo by zero");
  if (v.is_float() || n.is_float()) return std::fmod(v.ToDouble(), n.ToDouble()) == 0;
  return v.ToInt() % n.ToInt() == 0;
}

bool TEq(Runtime&, const Value& v, CallArgs& a) { return Equal(v, OneArg(a, "eq")); }
bool TNe(Runtime&, const Value& v, CallArgs& a) { return !Equal(v, OneArg(a, "ne")); }
bool TLt(Runtime&, const Value& v, CallArgs& a) { return Compare(v, OneArg(a, "lt"), "<") < 0; }
bool TLe(Runtime&, const Value& v, CallArgs& a) { return Compare(v, OneArg(a, "le"), "<=") <= 0; }
bool TGt(Runtime&, const Value& v, CallArgs& a) { return Compare(v, OneArg(a, "gt"), ">") > 0; }
bool TGe(Runtime&, const Value& v, CallArgs& a) { return Compare(v, OneArg(a, "ge"), ">=") >= 0; }

bool TSameAs(Runtime&, const Value& v, CallArgs& a) {
  const Value& other = OneArg(a, "sameas");
  if (v.kind() != other.kind()) return false;
  if (v.identity() != nullptr) return v.identity() == other.identity();
  // None, True and False are singletons; Python's small ints and interned strings are too
  // often to tell, so scalars compare by value.
  return Equal(v, other);
}

bool TIn(Runtime&, const Value& v, CallArgs& a) {
  const Value& seq = OneArg(a, "in");
  if (seq.is_string())
    return v.is_string() && seq.as_string().find(v.as_string()) != std::string::npos;
  if (seq.is_dict()) return seq.dict().Find(v) != nullptr;
  for (const Value& item : Iterate(seq)) {
    if (Equal(item, v)) return true;
  }
  return false;
}

bool TFilter(Runtime&, const Value& v, CallArgs& a) {
  NoArgs(a, "filter");
  return v.is_string() && HasFilter(v.as_string());
}

bool TTest(Runtime&, const Value& v, CallArgs& a) {
  NoArgs(a, "test");
  return v.is_string() && HasTest(v.as_string());
}

const std::unordered_map<std::string_view, Test>& Tests() {
  static const std::unordered_map<std::string_view, Test> tests = {
      {"boolean", TBoolean},
      {"callable", TCallable},
      {"defined", TDefined},
      {"divisibleby", TDivisibleBy},
      {"eq", TEq},
      {"equalto", TEq},
      {"==", TEq},
      {"escaped", TEscaped},
      {"even", TEven},
      {"false", TFalse},
      {"filter", TFilter},
      {"float", TFloat},
      {"ge", TGe},
      {">=", TGe},
      {"gt", TGt},
      {"greaterthan", TGt},
      {">", TGt},
      {"in", TIn},
      {"integer", TInteger},
      {"iterable", TIterable},
      {"le", TLe},
      {"<=", TLe},
      {"lower", TLower},
      {"lt", TLt},
      {"lessthan", TLt},
      {"<", TLt},
      {"mapping", TMapping},
      {"ne", TNe},
      {"!=", TNe},
      {"none", TNone},
      {"number", TNumber},
      {"odd", TOdd},
      {"sameas", TSameAs},
      {"sequence", TSequence},
      {"string", TString},
      {"test", TTest},
      {"true", TTrue},
      {"undefined", TUndefined},
      {"upper", TUpper},
  };
  return tests;
}

// ---- methods -----------------------------------------------------------------------------

// The str methods, one function each, found by name in StrMethods(). `name` is the name called
// (several methods share a function) and `what` is "str.<name>()" for argument errors.
using StrFn = Value (*)(Runtime&, const std::string& s, const std::string& name,
                        const std::string& what, CallArgs&);

// Python's start/end arguments of find() and friends, clamped to [0, n].
std::pair<int64_t, int64_t> ClampRange(int64_t start, int64_t end, int64_t n) {
  if (start < 0) start = std::max<int64_t>(0, start + n);
  if (end < 0) end = std::max<int64_t>(0, end + n);
  return {start, std::min(end, n)};
}

Value SAffix(const std::string& s, const std::string& name, const std::string& what, CallArgs& a,
             bool prefix) {
  Params p(a, what, {"prefix", "start", "end"}, 1);
  std::u32string cps = Cps(s);
  int64_t n = static_cast<int64_t>(cps.size());
  const int64_t start_arg = p.Int(1, 0), end_arg = p.Int(2, n);
  const std::pair<int64_t, int64_t> range = ClampRange(start_arg, end_arg, n);
  const int64_t start = range.first, end = range.second;
  if (start > n) return Value(false);
  const std::string hay = start <= end
                              ? EncodeUtf8(std::u32string_view(cps).substr(
                                    static_cast<size_t>(start), static_cast<size_t>(end - start)))
                              : std::string();
  auto match = [&](const Value& cand) {
    if (!cand.is_string()) {
      RuntimeError(name + " first arg must be str or a tuple of str, not " + TypeName(cand));
    }
    const std::string& c = cand.as_string();
    if (start > end) return false;
    if (c.size() > hay.size()) return false;
    return prefix ? hay.compare(0, c.size(), c) == 0
                  : hay.compare(hay.size() - c.size(), c.size(), c) == 0;
  };
  const Value& arg = p.Get(0);
  if (arg.is_list()) {
    for (const Value& c : arg.items()) {
      if (match(c)) return Value(true);
    }
    return Value(false);
  }
  return Value(match(arg));
}

Value SStartsWith(Runtime&, const std::string& s, const std::string& name, const std::string& what,
                  CallArgs& a) {
  return SAffix(s, name, what, a, true);
}

Value SEndsWith(Runtime&, const std::string& s, const std::string& name, const std::string& what,
                CallArgs& a) {
  return SAffix(s, name, what, a, false);
}

Value SSplit(Runtime&, const std::string& s, const std::string& name, const std::string& what,
             CallArgs& a) {
  Params p(a, what, {"sep", "maxsplit"});
  const int64_t maxsplit = p.Int(1, -1);
  const bool right = name == "rsplit";
  if (!p.Has(0) || p.Get(0).is_none()) return Value::List(SplitWhitespace(s, maxsplit, right));
  return Value::List(SplitSep(s, Str(p.Get(0)), maxsplit, right));
}

Value SSplitLines(Runtime&, const std::string& s, const std::string&, const std::string& what,
                  CallArgs& a) {
  Params p(a, what, {"keepends"});
  std::vector<Value> out;
  for (auto& line : SplitLines(s, p.Bool(0, false))) out.emplace_back(std::move(line));
  return Value::List(std::move(out));
}

Value SStrip(Runtime&, const std::string& s, const std::string& name, const std::string& what,
             CallArgs& a) {
  Params p(a, what, {"chars"});
  return Value(Strip(s, p.String(0), name != "rstrip", name != "lstrip"));
}

Value SReplace(Runtime& rt, const std::string& s, const std::string&, const std::string& what,
               CallArgs& a) {
  Params p(a, what, {"old", "new", "count"}, 2);
  if (!p.Get(0).is_string() || !p.Get(1).is_string()) {
    RuntimeError("replace() arguments must be str");
  }
  return Value(Replace(rt, s, p.Get(0).as_string(), p.Get(1).as_string(), p.Int(2, -1)));
}

Value SCase(Runtime&, const std::string& s, const std::string& name, const std::string& what,
            CallArgs& a) {
  Params p(a, what, {});
  if (name == "upper") return Value(Upper(s));
  if (name == "lower" || name == "casefold") return Value(Lower(s));
  if (name == "title") return Value(PyTitle(s));
  if (name == "capitalize") return Value(PyCapitalize(s));
  std::u32string cps = Cps(s);  // swapcase
  for (char32_t& c : cps) c = ToUpper(c) != c ? ToUpper(c) : ToLower(c);
  return Value(EncodeUtf8(cps));
}

// find, rfind, index, rindex and count: they share Python's slice arguments.
Value SFind(Runtime&, const std::string& s, const std::string& name, const std::string& what,
            CallArgs& a) {
  Params p(a, what, {"sub", "start", "end"}, 1);
  const std::string sub = Str(p.Get(0));
  const std::u32string cps = Cps(s);
  const int64_t n = static_cast<int64_t>(cps.size());
  const int64_t start_arg = p.Int(1, 0), end_arg = p.Int(2, n);
  const auto [start, end] = ClampRange(start_arg, end_arg, n);
  const std::u32string needle = Cps(sub);
  if (name == "count") {
    if (start > end) return Value(0);
    if (needle.empty()) return Value(end - start + 1);
    int64_t count = 0;
    for (size_t i = static_cast<size_t>(start); i + needle.size() <= static_cast<size_t>(end);) {
      if (cps.compare(i, needle.size(), needle) == 0) {
        ++count;
        i += needle.size();
      } else {
        ++i;
      }
    }
    return Value(count);
  }
  int64_t found = -1;
  if (start <= end && static_cast<int64_t>(needle.size()) <= end - start) {
    const std::u32string_view window = std::u32string_view(cps).substr(
        static_cast<size_t>(start), static_cast<size_t>(end - start));
    const size_t hit = name[0] == 'r' ? window.rfind(needle) : window.find(needle);
    if (hit != std::u32string_view::npos) found = start + static_cast<int64_t>(hit);
  }
  if (found < 0 && (name == "index" || name == "rindex")) RuntimeError("substring not found");
  return Value(found);
}

Value SJoin(Runtime& rt, const std::string& s, const std::string&, const std::string& what,
            CallArgs& a) {
  Params p(a, what, {"iterable"}, 1);
  std::string out;
  bool first = true;
  for (const Value& item : Iterate(p.Get(0))) {
    if (!item.is_string()) {
      RuntimeError("sequence item: expected str instance, " + TypeName(item) + " found");
    }
    if (!first) out += s;
    first = false;
    out += item.as_string();
    rt.CheckSize(out.size());
  }
  return Value(std::move(out));
}

Value SFormat(Runtime& rt, const std::string& s, const std::string&, const std::string&,
              CallArgs& a) {
  return Value(StrFormat(rt, s, a));
}

// The is...() predicates: false for an empty string, as in Python.
Value SIs(Runtime&, const std::string& s, const std::string& name, const std::string& what,
          CallArgs& a) {
  Params p(a, what, {});
  const std::u32string cps = Cps(s);
  if (cps.empty()) return Value(false);
  if (name == "islower" || name == "isupper") {
    bool cased = false;
    for (char32_t c : cps) {
      if (!IsCased(c)) continue;
      cased = true;
      if (name == "islower" ? ToLower(c) != c : ToUpper(c) != c) return Value(false);
    }
    return Value(cased);
  }
  if (name == "istitle")
    return Value(PyTitle(s) == s && std::any_of(cps.begin(), cps.end(), IsCased));
  for (char32_t c : cps) {
    bool ok;
    if (name == "isspace") {
      ok = IsPySpace(c);
    } else if (name == "isalpha") {
      ok = IsAlpha(c);
    } else if (name == "isalnum") {
      ok = IsAlpha(c) || IsDigit(c);
    } else {
      ok = IsDigit(c);
    }
    if (!ok) return Value(false);
  }
  return Value(true);
}

Value SZfill(Runtime& rt, const std::string& s, const std::string&, const std::string& what,
             CallArgs& a) {
  Params p(a, what, {"width"}, 1);
  const int64_t width = p.Int(0, 0);
  rt.CheckSize(static_cast<size_t>(std::max<int64_t>(width, 0)));
  const int64_t len = static_cast<int64_t>(Utf8Length(s));
  if (width <= len) return Value(s);
  const size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  return Value(s.substr(0, sign) + std::string(static_cast<size_t>(width - len), '0') +
               s.substr(sign));
}

Value SJustify(Runtime& rt, const std::string& s, const std::string& name, const std::string& what,
               CallArgs& a) {
  Params p(a, what, {"width", "fillchar"}, 1);
  const int64_t width = p.Int(0, 0);
  rt.CheckSize(static_cast<size_t>(std::max<int64_t>(width, 0)) * 4);
  char32_t fill = ' ';
  if (p.Has(1)) {
    const std::u32string f = Cps(Str(p.Get(1)));
    if (f.size() != 1) RuntimeError("The fill character must be exactly one character long");
    fill = f[0];
  }
  return Value(Pad(s, width, fill, name == "ljust" ? '<' : (name == "rjust" ? '>' : '^')));
}

Value SPartition(Runtime&, const std::string& s, const std::string& name, const std::string& what,
                 CallArgs& a) {
  Params p(a, what, {"sep"}, 1);
  const std::string sep = Str(p.Get(0));
  if (sep.empty()) RuntimeError("empty separator");
  const size_t hit = name == "partition" ? s.find(sep) : s.rfind(sep);
  if (hit == std::string::npos) {
    return name == "partition" ? Value::Tuple({Value(s), Value(""), Value("")})
                               : Value::Tuple({Value(""), Value(""), Value(s)});
  }
  return Value::Tuple({Value(s.substr(0, hit)), Value(sep), Value(s.substr(hit + sep.size()))});
}

Value SRemoveAffix(Runtime&, const std::string& s, const std::string& name, const std::string& what,
                   CallArgs& a) {
  Params p(a, what, {"affix"}, 1);
  const std::string x = Str(p.Get(0));
  if (name == "removeprefix") {
    return Value(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
  }
  if (s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
    return Value(s.substr(0, s.size() - x.size()));
  }
  return Value(s);
}

Value SEncode(Runtime&, const std::string&, const std::string&, const std::string&, CallArgs&) {
  RuntimeError("str.encode() is not available in templates");
}

const std::unordered_map<std::string_view, StrFn>& StrMethods() {
  static const std::unordered_map<std::string_view, StrFn> methods = {
      {"startswith", SStartsWith},
      {"endswith", SEndsWith},
      {"split", SSplit},
      {"rsplit", SSplit},
      {"splitlines", SSplitLines},
      {"strip", SStrip},
      {"lstrip", SStrip},
      {"rstrip", SStrip},
      {"replace", SReplace},
      {"upper", SCase},
      {"lower", SCase},
      {"title", SCase},
      {"capitalize", SCase},
      {"swapcase", SCase},
      {"casefold", SCase},
      {"find", SFind},
      {"rfind", SFind},
      {"index", SFind},
      {"rindex", SFind},
      {"count", SFind},
      {"join", SJoin},
      {"format", SFormat},
      {"isdigit", SIs},
      {"isnumeric", SIs},
      {"isdecimal", SIs},
      {"isalpha", SIs},
      {"isalnum", SIs},
      {"isspace", SIs},
      {"islower", SIs},
      {"isupper", SIs},
      {"istitle", SIs},
      {"zfill", SZfill},
      {"ljust", SJustify},
      {"rjust", SJustify},
      {"center", SJustify},
      {"partition", SPartition},
      {"rpartition", SPartition},
      {"removeprefix", SRemoveAffix},
      {"removesuffix", SRemoveAffix},
      {"encode", SEncode},
  };
  return methods;
}

Value StrMethod(Runtime& rt, const std::string& s, const std::string& name, CallArgs& a) {
  AddWork(1 + s.size() / 256);
  auto it = StrMethods().find(name);
  if (it == StrMethods().end()) RuntimeError("'str' object has no attribute '" + name + "'");
  return it->second(rt, s, name, "str." + name + "()", a);
}

Value DictMethod(Runtime&, const Value& d, const std::string& name, CallArgs& a) {
  const std::string what = "dict." + name + "()";
  if (name == "get") {
    Params p(a, what, {"key", "default"}, 1);
    const Value* v = d.dict().Find(p.Get(0));
    return v != nullptr ? *v : p.Or(1, Value(nullptr));
  }
  Params p(a, what, {});
  std::vector<Value> out;
  if (name == "items") {
    for (const auto& [k, v] : d.dict().entries()) out.push_back(Value::Tuple({k, v}));
  } else if (name == "keys") {
    for (const auto& [k, v] : d.dict().entries()) out.push_back(k);
  } else if (name == "values") {
    for (const auto& [k, v] : d.dict().entries()) out.push_back(v);
  } else if (name == "copy") {
    return d;
  } else {
    RuntimeError("'dict' object has no attribute '" + name + "'");
  }
  return Value::List(std::move(out));
}

Value ListMethod(Runtime&, const Value& l, const std::string& name, CallArgs& a) {
  const std::string what = TypeName(l) + "." + name + "()";
  if (name == "index" || name == "count") {
    Params p(a, what, {"value"}, 1);
    int64_t count = 0;
    const auto& items = l.items();
    for (size_t i = 0; i < items.size(); ++i) {
      if (!Equal(items[i], p.Get(0))) continue;
      if (name == "index") return Value(static_cast<int64_t>(i));
      ++count;
    }
    if (name == "index") RuntimeError(Repr(p.Get(0)) + " is not in list");
    return Value(count);
  }
  if (name == "copy") {
    Params p(a, what, {});
    return Value::List(l.items());
  }
  RuntimeError("'" + TypeName(l) + "' object has no attribute '" + name + "'");
}

bool IsStrMethod(const std::string& name) { return StrMethods().count(name) > 0; }

// Methods ImmutableSandboxedEnvironment refuses: they would change a list or dict.
bool IsMutatingMethod(const Value& obj, const std::string& name) {
  static const std::vector<std::string_view> list_names = {"append", "clear",  "extend",  "insert",
                                                           "pop",    "remove", "reverse", "sort"};
  static const std::vector<std::string_view> dict_names = {"clear", "pop", "popitem", "setdefault",
                                                           "update"};
  const auto& names = obj.is_dict() ? dict_names : list_names;
  return std::find(names.begin(), names.end(), name) != names.end();
}

// ---- globals -----------------------------------------------------------------------------

Value GRange(Runtime&, CallArgs& a) {
  if (!a.keywords.empty()) RuntimeError("range() takes no keyword arguments");
  if (a.positional.empty() || a.positional.size() > 3) {
    RuntimeError("range expected 1 to 3 arguments, got " + std::to_string(a.positional.size()));
  }
  for (const Value& v : a.positional) {
    if (!v.is_int() && !v.is_bool()) {
      RuntimeError("'" + TypeName(v) + "' object cannot be interpreted as an integer");
    }
  }
  int64_t start = 0, stop, step = 1;
  if (a.positional.size() == 1) {
    stop = a.positional[0].ToInt();
  } else {
    start = a.positional[0].ToInt();
    stop = a.positional[1].ToInt();
    if (a.positional.size() == 3) step = a.positional[2].ToInt();
  }
  if (step == 0) RuntimeError("range() arg 3 must not be zero");
  constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox MAX_RANGE
  const long double span =
      step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  const long double count =
      span <= 0 ? 0 : std::ceil(span / std::fabs(static_cast<long double>(step)));
  if (count > kMaxRange) {
    Throw(TemplateError::Kind::kLimit,
          "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.emplace_back(start + i * step);
  return Value::List(std::move(out));
}

Value GNamespace(Runtime& rt, CallArgs& a) {
  Value ns = Value::Namespace();
  rt.Track(ns);
  if (a.positional.size() > 1) RuntimeError("namespace() takes at most one positional argument");
  if (!a.positional.empty()) {
    const Value& init = a.positional[0];
    if (init.is_dict()) {
      for (const auto& [k, v] : init.dict().entries()) ns.ns().Set(Str(k), v);
    } else {
      for (const Value& pair : Iterate(init)) {
        const auto& kv = pair.items();
        if (!pair.is_list() || kv.size() != 2) {
          RuntimeError("namespace() needs a mapping or a sequence of pairs");
        }
        ns.ns().Set(Str(kv[0]), kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.keywords) ns.ns().Set(k, v);
  return ns;
}

Value GDict(Runtime&, CallArgs& a) {
  DictData d;
  if (a.positional.size() > 1) RuntimeError("dict expected at most 1 argument");
  if (!a.positional.empty()) {
    const Value& init = a.positional[0];
    if (init.is_dict()) {
      d = init.dict();
    } else {
      for (const Value& pair : Iterate(init)) {
        if (!pair.is_list() || pair.items().size() != 2) {
          RuntimeError("dictionary update sequence element has the wrong length");
        }
        d.Set(pair.items()[0], pair.items()[1]);
      }
    }
  }
  for (const auto& [k, v] : a.keywords) d.Set(Value(k), v);
  return Value::Dict(std::move(d));
}

Value GRaiseException(Runtime&, CallArgs& a) {
  std::string message = a.positional.empty() ? "" : Str(a.positional[0]);
  Throw(TemplateError::Kind::kRaised, std::move(message));
}

Value GStrftimeNow(Runtime& rt, CallArgs& a) {
  Params p(a, "strftime_now()", {"format"}, 1);
  const std::string fmt = Str(p.Get(0));
  if (fmt.empty()) return Value("");
  rt.CheckSize(fmt.size() * 64);
  const std::tm tm = rt.Now();
  std::string buf(fmt.size() * 64 + 64, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return Value(std::move(buf));
}

Value GJoiner(Runtime&, CallArgs& a) {
  Params p(a, "joiner()", {"sep"});
  const std::string sep = p.Has(0) ? Str(p.Get(0)) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::Function("joiner", [sep, used](Runtime&, CallArgs&) {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

}  // namespace

bool HasFilter(std::string_view name) { return Filters().count(name) > 0; }
bool HasTest(std::string_view name) { return Tests().count(name) > 0; }

Value ApplyFilter(Runtime& rt, std::string_view name, const Value& input, CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) RuntimeError("no filter named '" + std::string(name) + "'");
  return it->second(rt, input, args);
}

bool ApplyTest(Runtime& rt, std::string_view name, const Value& value, CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) RuntimeError("no test named '" + std::string(name) + "'");
  return it->second(rt, value, args);
}

std::optional<Value> FindMethod(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    if (!IsStrMethod(name)) return std::nullopt;
    return Value::Function("str." + name, [obj, name](Runtime& rt, CallArgs& a) {
      return StrMethod(rt, obj.as_string(), name, a);
    });
  }
  if (obj.is_dict() || obj.is_list()) {
    if (IsMutatingMethod(obj, name)) {
      const std::string type = TypeName(obj);
      return Value::Function(type + "." + name, [type, name](Runtime&, CallArgs&) -> Value {
        RuntimeError("access to attribute '" + name + "' of '" + type + "' object is unsafe.");
      });
    }
    if (obj.is_dict()) {
      if (name != "get" && name != "items" && name != "keys" && name != "values" && name != "copy")
        return std::nullopt;
      return Value::Function("dict." + name, [obj, name](Runtime& rt, CallArgs& a) {
        return DictMethod(rt, obj, name, a);
      });
    }
    if (name != "index" && name != "count" && name != "copy") return std::nullopt;
    return Value::Function(TypeName(obj) + "." + name, [obj, name](Runtime& rt, CallArgs& a) {
      return ListMethod(rt, obj, name, a);
    });
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, Value>> Globals() {
  return {
      {"range", Value::Function("range", GRange)},
      {"namespace", Value::Function("namespace", GNamespace)},
      {"dict", Value::Function("dict", GDict)},
      {"joiner", Value::Function("joiner", GJoiner)},
      {"raise_exception", Value::Function("raise_exception", GRaiseException)},
      {"strftime_now", Value::Function("strftime_now", GStrftimeNow)},
  };
}

std::vector<Value> Iterate(const Value& v) {
  AddWork(v.is_list() ? v.items().size() : (v.is_dict() ? v.dict().size() : 0));
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
      return v.items();
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().size());
      for (const auto& [k, val] : v.dict().entries()) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.as_string();
      if (IsAscii(s)) {
        for (char c : s) chars.emplace_back(std::string(1, c));
      } else {
        for (char32_t c : DecodeUtf8(s)) {
          std::string one;
          AppendUtf8(one, c);
          chars.emplace_back(std::move(one));
        }
      }
      if (chars.size() > kMaxListItems) {
        Throw(TemplateError::Kind::kLimit, "a string too long to iterate over");
      }
      return chars;
    }
    default:
      RuntimeError("'" + TypeName(v) + "' object is not iterable");
  }
}

Value Slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if ((!obj.is_list() || obj.is_generator()) && !obj.is_string()) return Value();
  auto index = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) {
      RuntimeError("slice indices must be integers or None or have an __index__ method");
    }
    return v.ToInt();
  };
  const std::optional<int64_t> start_i = index(start_v), stop_i = index(stop_v),
                               step_i = index(step_v);
  const int64_t step = step_i.value_or(1);
  if (step == 0) RuntimeError("slice step cannot be zero");
  std::u32string cps;
  const bool is_string = obj.is_string();
  if (is_string) cps = DecodeUtf8(obj.as_string());
  const int64_t n =
      is_string ? static_cast<int64_t>(cps.size()) : static_cast<int64_t>(obj.items().size());
  auto adjust = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t i = *v;
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t start = adjust(start_i, step < 0 ? n - 1 : 0);
  const int64_t stop = adjust(stop_i, step < 0 ? -1 : n);
  std::vector<int64_t> picks;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) picks.push_back(i);
  } else {
    for (int64_t i = start; i > stop; i += step) picks.push_back(i);
  }
  if (is_string) {
    std::u32string out;
    for (int64_t i : picks) out += cps[static_cast<size_t>(i)];
    return Value(EncodeUtf8(out));
  }
  std::vector<Value> out;
  out.reserve(picks.size());
  for (int64_t i : picks) out.push_back(obj.items()[static_cast<size_t>(i)]);
  return obj.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

namespace {

// The arguments of `format % args`: a tuple's items are taken in order, a dict is looked up by
// the `%(key)` names.
struct PercentArgs {
  std::vector<Value> positional;
  const Value* mapping = nullptr;
  size_t next = 0;

  const Value& Next() {
    if (next >= positional.size()) RuntimeError("not enough arguments for format string");
    return positional[next++];
  }
};

// One `%...` conversion: flags, width, precision, type and the value it converts.
struct PercentConversion {
  std::string flags;
  int64_t width = -1, precision = -1;
  char type = 0;
  Value value;

  bool Has(char flag) const { return flags.find(flag) != std::string::npos; }
};

// Reads the conversion after a '%' at f[i] (not '%%') and leaves i after its type character.
PercentConversion ParsePercentConversion(const std::string& f, size_t& i, PercentArgs& args) {
  PercentConversion c;
  if (f[i] == '(') {
    const size_t close = f.find(')', i);
    if (close == std::string::npos) RuntimeError("incomplete format key");
    if (args.mapping == nullptr) RuntimeError("format requires a mapping");
    const Value* v = args.mapping->dict().Find(std::string_view(f).substr(i + 1, close - i - 1));
    if (v == nullptr) RuntimeError("KeyError: '" + f.substr(i + 1, close - i - 1) + "'");
    c.value = *v;
    i = close + 1;
  }
  while (i < f.size() && std::string("-+ #0").find(f[i]) != std::string::npos) c.flags += f[i++];
  auto number = [&](int64_t& target) {
    if (i < f.size() && f[i] == '*') {
      target = args.Next().ToInt();
      ++i;
      return;
    }
    while (i < f.size() && f[i] >= '0' && f[i] <= '9') {
      target = std::max<int64_t>(target, 0) * 10 + (f[i++] - '0');
      if (target > 100000) RuntimeError("format width too big");
    }
  };
  number(c.width);
  if (i < f.size() && f[i] == '.') {
    ++i;
    c.precision = 0;
    number(c.precision);
  }
  if (i >= f.size()) RuntimeError("incomplete format");
  c.type = f[i++];
  if (args.mapping == nullptr || c.value.is_undefined()) {
    if (args.mapping != nullptr) RuntimeError("format requires a mapping");
    c.value = args.Next();
  }
  return c;
}

// The text of one conversion, padded to its width.
std::string FormatPercentConversion(const PercentConversion& c) {
  const Value& value = c.value;
  const char type = c.type;
  std::string body;
  bool numeric = false, negative = false;
  switch (type) {
    case 's':
    case 'r':
    case 'a':
      body = type == 's' ? Str(value) : Repr(value);
      if (c.precision >= 0) {
        const std::u32string b = Cps(body);
        if (static_cast<int64_t>(b.size()) > c.precision) {
          body = EncodeUtf8(std::u32string_view(b).substr(0, static_cast<size_t>(c.precision)));
        }
      }
      break;
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      if (!value.is_number()) {
        RuntimeError("%" + std::string(1, type) + " format: a real number is required, not " +
                     TypeName(value));
      }
      numeric = true;
      const int64_t n = value.is_float() ? static_cast<int64_t>(value.as_float()) : value.ToInt();
      negative = n < 0;
      const int base = type == 'x' || type == 'X' ? 16 : (type == 'o' ? 8 : 10);
      body = IntToBase(n, base, type == 'X');
      if (negative) body.erase(0, 1);
      if (c.precision >= 0 && static_cast<int64_t>(body.size()) < c.precision) {
        body = std::string(static_cast<size_t>(c.precision) - body.size(), '0') + body;
      }
      if (c.Has('#') && base != 10) {
        body = (base == 16 ? (type == 'X' ? "0X" : "0x") : "0o") + body;
      }
      break;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (!value.is_number()) {
        RuntimeError("must be real number, not " + TypeName(value));
      }
      numeric = true;
      const double d = value.ToDouble();
      negative = std::signbit(d) && !std::isnan(d);
      body = FormatFixed(std::fabs(d), static_cast<int>(c.precision < 0 ? 6 : c.precision), type);
      break;
    }
    case 'c':
      if (value.is_int()) {
        AppendUtf8(body, static_cast<char32_t>(value.as_int()));
      } else {
        body = Str(value);
      }
      break;
    default:
      RuntimeError("unsupported format character '" + std::string(1, type) + "'");
  }
  std::string sign;
  if (numeric) {
    if (negative) {
      sign = "-";
    } else if (c.Has('+')) {
      sign = "+";
    } else if (c.Has(' ')) {
      sign = " ";
    }
  }
  const int64_t len = static_cast<int64_t>(Utf8Length(sign) + Utf8Length(body));
  if (c.width <= len) return sign + body;
  const size_t pad = static_cast<size_t>(c.width - len);
  if (c.Has('-')) return sign + body + std::string(pad, ' ');
  if (numeric && c.Has('0')) return sign + std::string(pad, '0') + body;
  return std::string(pad, ' ') + sign + body;
}

}  // namespace

std::string PercentFormat(Runtime& rt, const std::string& f, const Value& args) {
  PercentArgs percent_args;
  // Python takes any subscriptable non-tuple (a dict, but also a list) as a possible mapping and
  // then does not complain about arguments left over.
  const bool mapping_like =
      args.is_dict() || args.is_undefined() || (args.is_list() && !args.is_tuple());
  if (args.is_tuple()) {
    percent_args.positional = args.items();
  } else if (args.is_dict()) {
    percent_args.mapping = &args;
  } else {
    percent_args.positional.push_back(args);
  }
  std::string out;
  for (size_t i = 0; i < f.size();) {
    if (f[i] != '%') {
      out += f[i++];
      continue;
    }
    ++i;
    if (i >= f.size()) RuntimeError("incomplete format");
    if (f[i] == '%') {
      out += '%';
      ++i;
      continue;
    }
    out += FormatPercentConversion(ParsePercentConversion(f, i, percent_args));
    rt.CheckSize(out.size());
  }
  if (!mapping_like && percent_args.next < percent_args.positional.size()) {
    RuntimeError("not all arguments converted during string formatting");
  }
  AddWork(out.size() / 256);
  return out;
}

}  // namespace naut::llm::jinja

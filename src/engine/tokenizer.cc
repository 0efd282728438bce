#include "engine/tokenizer.h"

#include <re2/re2.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>
#include <queue>

namespace naut::engine {

namespace {

size_t Utf8Len(uint8_t c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;  // stray continuation byte: one symbol per byte
}

// Decodes the code point at `p` (assumes valid UTF-8; invalid bytes decode as themselves).
uint32_t DecodeAt(std::string_view s, size_t i, size_t* len) {
  uint8_t c = static_cast<uint8_t>(s[i]);
  size_t n = std::min(Utf8Len(c), s.size() - i);
  *len = n;
  if (n == 1) return c;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  return cp;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// SentencePiece writes spaces as U+2581 ("▁").
std::string EscapeSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ' ')
      out += "\xE2\x96\x81";
    else
      out += c;
  }
  return out;
}

bool IsUnicodeSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// GPT-2's byte <-> printable code point table.
struct ByteMap {
  uint32_t byte_to_cp[256];
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteMap() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      byte_to_cp[b] = printable ? b : 256 + n++;
      cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteMap& Bytes() {
  static const ByteMap m;
  return m;
}

// \s of the original (Oniguruma/HF) patterns means Unicode White_Space; RE2's \s is ASCII only.
constexpr const char* kWs =
    "\\t\\n\\x0B\\f\\r "
    "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Rewrites a pre-tokenizer pattern for RE2: \s and \S become explicit Unicode classes, and the
// trailing `\s+(?!\S)` (with or without a following `|\s+`) becomes a capture group that
// Split() shortens by one character when a non-space follows, which is what the lookahead does.
std::string ToRe2(std::string p) {
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = p.find(from, pos)) != std::string::npos; pos += to.size())
      p.replace(pos, from.size(), to);
  };
  const std::string ws = kWs;
  replace_all("\\s+(?!\\S)|\\s+", "@TAIL@");
  replace_all("\\s+(?!\\S)", "@TAIL@");
  // \s inside a class: [^\s...] -> [^<ws>...]
  replace_all("[^\\s", "[^" + ws);
  replace_all("\\s", "[" + ws + "]");
  replace_all("@TAIL@", "([" + ws + "]+)");
  return p;
}

// The split patterns of a pre-tokenizer (llama.cpp's names for `tokenizer.ggml.pre`), in the
// original Oniguruma syntax that ToRe2 rewrites; nullopt for a name not supported.
struct PreTokenizerSplit {
  std::vector<std::string> exprs;
  bool ignore_merges = false;  // a word that is one token is taken whole, before any merge
};

std::optional<PreTokenizerSplit> PreTokenizerPatterns(const std::string& p) {
  static const std::string kGpt2 =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
  static const std::string kLlama3 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
      "\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  static const std::string kQwen2 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
      "\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  PreTokenizerSplit split;
  if (p == "llama3" || p == "llama-v3" || p == "llama-bpe" || p == "falcon3" || p == "falcon-h1" ||
      p == "pixtral" || p == "midm-2.0" || p == "lfm2" || p == "jina-v5-nano") {
    split.exprs = {kLlama3};
    split.ignore_merges = true;
  } else if (p == "dbrx" || p == "smaug-bpe" || p == "chatglm-bpe" || p == "glm4") {
    split.exprs = {kLlama3};
  } else if (p == "qwen2" || p == "deepseek-r1-qwen" || p == "kormo" || p == "f2llmv2" ||
             p == "stablelm2" || p == "hunyuan" || p == "grok-2" || p == "megrez" ||
             p == "solar-open") {
    split.exprs = {kQwen2};
  } else if (p == "qwen35") {
    // qwen2's split with combining marks (\p{M}) kept inside words.
    split.exprs = {
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}"
        "\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  } else if (p == "tekken") {
    split.exprs = {
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
        "+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{"
        "M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    split.ignore_merges = true;
  } else if (p == "deepseek-llm") {
    split.exprs = {
        "[\r\n]",
        "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{"
        "1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}-\\x{377}\\x{37B}-\\x{37D}\\x{"
        "37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
        "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{"
        "13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{"
        "1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{"
        "1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{"
        "1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{"
        "1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{"
        "2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
        "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
        "\\x{214E}\\x{2183}-\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
        "\\x{2CF2}-\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-"
        "\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
        "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{"
        "104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{"
        "1E900}-\\x{1E943}]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+"};
  } else if (p == "deepseek-v3" || p == "hunyuan-dense") {
    split.exprs = {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
                   "[!\"#$%&'()*+,\\-./"
                   ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
                   "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
  } else if (p == "deepseek-coder") {
    split.exprs = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
  } else if (p == "falcon") {
    split.exprs = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  } else if (p == "starcoder" || p == "refact" || p == "command-r" || p == "smollm" ||
             p == "codeshell" || p == "exaone" || p == "minerva-7b") {
    split.exprs = {"\\p{N}", kGpt2};
  } else if (p == "gpt-2" || p == "phi-2" || p == "jina-es" || p == "jina-de" || p == "gigachat" ||
             p == "mpt" || p == "olmo" || p == "jais" || p == "trillion" || p == "roberta-bpe" ||
             p == "jina-v1-en" || p == "jina-v2-es" || p == "jina-v2-de" || p == "jina-v2-code" ||
             p == "a.x-4.0" || p == "mellum" || p == "modern-bert" || p == "exaone4" ||
             p == "granite-docling") {
    split.exprs = {kGpt2};
  } else if (p == "gemma4") {
    // No word split: only newline runs are cut off, since no merge crosses a newline.
    split.exprs = {"[^\\n]+|[\\n]+"};
  } else if (p == "default") {
    split.exprs = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  } else {
    return std::nullopt;
  }
  return split;
}

}  // namespace

struct Tokenizer::Regex {
  std::unique_ptr<re2::RE2> re;
  bool has_tail = false;
};

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(const GgufFile& file) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  Status s = t->Init(file);
  if (!s.ok()) return s.WithContext(file.name());
  return t;
}

Status Tokenizer::Init(const GgufFile& f) {
  NAUT_RETURN_IF_ERROR(InitVocabulary(f));
  NAUT_RETURN_IF_ERROR(InitSpecialTokens(f));
  if (kind_ == Kind::kBpe) return InitPreTokenizer();
  return Status::Ok();
}

Status Tokenizer::InitVocabulary(const GgufFile& f) {
  NAUT_ASSIGN_OR_RETURN(std::string model, f.GetString("tokenizer.ggml.model"));
  if (model == "llama") {
    kind_ = Kind::kSpm;
  } else if (model == "gpt2") {
    kind_ = Kind::kBpe;
  } else if (model == "gemma4") {
    kind_ = Kind::kBpe;
    bpe_raw_ = true;
  } else if (model == "bert") {
    kind_ = Kind::kWpm;
  } else {
    return Unimplemented("tokenizer: vocabulary type '" + model +
                         "' is not supported (only 'llama', 'gpt2', 'gemma4' and 'bert')");
  }
  const GgufValue* toks = f.Find("tokenizer.ggml.tokens");
  if (!toks || toks->type != GgufValueType::kArray || toks->array_type != GgufValueType::kString ||
      toks->strs.empty()) {
    return DataLoss("tokenizer: tokenizer.ggml.tokens is missing or not a string array");
  }
  tokens_ = toks->strs;
  const size_t n = tokens_.size();
  scores_.assign(n, 0.0f);
  types_.assign(n, TokenType::kNormal);
  if (const GgufValue* sc = f.Find("tokenizer.ggml.scores")) {
    if (sc->floats.size() != n)
      return DataLoss("tokenizer: scores has " + std::to_string(sc->array_size()) +
                      " entries for " + std::to_string(n) + " tokens");
    for (size_t i = 0; i < n; ++i) scores_[i] = static_cast<float>(sc->floats[i]);
  }
  if (const GgufValue* ty = f.Find("tokenizer.ggml.token_type")) {
    if (ty->ints.size() != n)
      return DataLoss("tokenizer: token_type has " + std::to_string(ty->array_size()) +
                      " entries for " + std::to_string(n) + " tokens");
    for (size_t i = 0; i < n; ++i) types_[i] = static_cast<TokenType>(ty->ints[i]);
  }
  token_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    token_to_id_.emplace(tokens_[i], static_cast<TokenId>(i));
    max_token_len_ = std::max(max_token_len_, tokens_[i].size());
  }
  if (kind_ == Kind::kBpe) {
    const GgufValue* mg = f.Find("tokenizer.ggml.merges");
    if (!mg || mg->array_type != GgufValueType::kString)
      return DataLoss("tokenizer: BPE vocabulary without tokenizer.ggml.merges");
    merge_rank_.reserve(mg->strs.size());
    for (size_t i = 0; i < mg->strs.size(); ++i)
      merge_rank_.emplace(mg->strs[i], static_cast<int32_t>(i));
  }
  return Status::Ok();
}

Status Tokenizer::InitSpecialTokens(const GgufFile& f) {
  const size_t n = tokens_.size();
  auto id_or = [&](const char* key, TokenId fallback) -> TokenId {
    int64_t v = f.GetIntOr(key, fallback);
    return (v >= 0 && v < static_cast<int64_t>(n)) ? static_cast<TokenId>(v) : -1;
  };
  bos_ = id_or("tokenizer.ggml.bos_token_id", kind_ == Kind::kSpm ? 1 : -1);
  eos_ = id_or("tokenizer.ggml.eos_token_id", kind_ == Kind::kSpm ? 2 : -1);
  unk_ = id_or("tokenizer.ggml.unknown_token_id", kind_ == Kind::kSpm ? 0 : -1);
  if (kind_ == Kind::kWpm && unk_ < 0) unk_ = Find("[UNK]");
  if (kind_ == Kind::kWpm && unk_ < 0) {
    return DataLoss(
        "tokenizer: WordPiece vocabulary without tokenizer.ggml.unknown_token_id or an [UNK] "
        "token");
  }
  if (kind_ == Kind::kWpm) {
    // BERT frames its input as [CLS] text [SEP]; the converter stores those as cls/separator.
    if (bos_ < 0) bos_ = id_or("tokenizer.ggml.cls_token_id", -1);
    if (eos_ < 0) eos_ = id_or("tokenizer.ggml.seperator_token_id", -1);
  }
  // gemma4 files may say add_bos false, but the model needs its BOS (as llama.cpp overrides).
  add_bos_ =
      (bpe_raw_ || f.GetBoolOr("tokenizer.ggml.add_bos_token", kind_ != Kind::kBpe)) && bos_ >= 0;
  add_eos_ = f.GetBoolOr("tokenizer.ggml.add_eos_token", kind_ == Kind::kWpm) && eos_ >= 0;
  add_space_prefix_ = f.GetBoolOr("tokenizer.ggml.add_space_prefix", kind_ == Kind::kSpm);
  pre_ = bpe_raw_ ? "gemma4" : f.GetStringOr("tokenizer.ggml.pre", "default");

  if (eos_ >= 0) eog_.push_back(eos_);
  TokenId eot = id_or("tokenizer.ggml.eot_token_id", -1);
  if (eot >= 0) eog_.push_back(eot);
  for (const char* s : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                        "<|eom_id|>", "</s>"}) {
    TokenId id = Find(s);
    if (id >= 0 && (types_[id] == TokenType::kControl || types_[id] == TokenType::kUserDefined))
      eog_.push_back(id);
  }
  for (size_t i = 0; i < n; ++i) {
    if (types_[i] == TokenType::kControl || types_[i] == TokenType::kUserDefined ||
        types_[i] == TokenType::kUnknown) {
      if (!tokens_[i].empty()) special_.push_back(static_cast<TokenId>(i));
    }
  }
  std::stable_sort(special_.begin(), special_.end(),
                   [&](TokenId a, TokenId b) { return tokens_[a].size() > tokens_[b].size(); });
  return Status::Ok();
}

Status Tokenizer::InitPreTokenizer() {
  std::optional<PreTokenizerSplit> split = PreTokenizerPatterns(pre_);
  if (!split) return Unimplemented("tokenizer: pre-tokenizer '" + pre_ + "' is not supported");
  if (split->ignore_merges) ignore_merges_ = true;
  for (const auto& e : split->exprs) {
    auto r = std::make_unique<Regex>();
    std::string pat = ToRe2(e);
    r->has_tail = pat.find("([" + std::string(kWs) + "]+)") != std::string::npos;
    RE2::Options opt;
    opt.set_encoding(RE2::Options::EncodingUTF8);
    opt.set_log_errors(false);
    r->re = std::make_unique<re2::RE2>(pat, opt);
    if (!r->re->ok())
      return Internal("tokenizer: pre-tokenizer regex for '" + pre_ +
                      "' rejected by RE2: " + r->re->error());
    regexes_.push_back(std::move(r));
  }
  return Status::Ok();
}

TokenId Tokenizer::Find(std::string_view text) const {
  auto it = token_to_id_.find(std::string(text));
  return it == token_to_id_.end() ? -1 : it->second;
}

bool Tokenizer::IsEog(TokenId id) const {
  return std::find(eog_.begin(), eog_.end(), id) != eog_.end();
}

TokenId Tokenizer::ByteToken(uint8_t byte) const {
  if (kind_ == Kind::kSpm || bpe_raw_) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "<0x%02X>", byte);
    TokenId id = Find(buf);
    if (id >= 0) return id;
    id = Find(std::string(1, static_cast<char>(byte)));
    return id >= 0 ? id : unk_;
  }
  std::string s;
  AppendUtf8(s, Bytes().byte_to_cp[byte]);
  return Find(s);
}

std::vector<std::string> Tokenizer::PreTokenize(const std::string& text) const {
  std::vector<std::string> frags = {text};
  for (const auto& rx : regexes_) {
    std::vector<std::string> next;
    const int ngroups = rx->re->NumberOfCapturingGroups();
    std::vector<re2::StringPiece> groups(static_cast<size_t>(ngroups) + 1);
    for (const std::string& f : frags) {
      re2::StringPiece input(f);
      size_t pos = 0;
      while (pos < f.size()) {
        if (!rx->re->Match(input, pos, f.size(), RE2::UNANCHORED, groups.data(), ngroups + 1))
          break;
        size_t ms = static_cast<size_t>(groups[0].data() - f.data());
        size_t me = ms + groups[0].size();
        if (me == ms) {  // empty match: step one character
          size_t l;
          DecodeAt(f, ms, &l);
          if (ms > pos) next.push_back(f.substr(pos, ms - pos));
          next.push_back(f.substr(ms, l));
          pos = ms + l;
          continue;
        }
        if (rx->has_tail && groups[ngroups].data() != nullptr && me < f.size()) {
          size_t l;
          if (!IsUnicodeSpace(DecodeAt(f, me, &l))) {
            // \s+(?!\S): give back the last space so it can prefix the next word.
            size_t last = me - 1;
            while (last > ms && (static_cast<uint8_t>(f[last]) & 0xC0) == 0x80) --last;
            if (last > ms) me = last;
          }
        }
        if (ms > pos) next.push_back(f.substr(pos, ms - pos));
        next.push_back(f.substr(ms, me - ms));
        pos = me;
      }
      if (pos < f.size()) next.push_back(f.substr(pos));
    }
    frags = std::move(next);
  }
  return frags;
}

namespace {

struct Symbol {
  int prev, next;
  size_t start, n;
};

struct SpmBigram {
  int left, right;
  float score;
  size_t size;
  bool operator<(const SpmBigram& o) const {
    return score < o.score || (score == o.score && left > o.left);
  }
};

struct BpeBigram {
  int left, right;
  int rank;
  std::string text;
  bool operator<(const BpeBigram& o) const {
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

std::vector<Symbol> SplitChars(const std::string& s) {
  std::vector<Symbol> syms;
  size_t off = 0;
  int index = 0;
  while (off < s.size()) {
    size_t n = std::min(Utf8Len(static_cast<uint8_t>(s[off])), s.size() - off);
    syms.push_back({index - 1, off + n == s.size() ? -1 : index + 1, off, n});
    off += n;
    ++index;
  }
  return syms;
}

}  // namespace

void Tokenizer::TokenizeSpm(const std::string& text, std::vector<TokenId>& out) const {
  std::vector<Symbol> syms = SplitChars(text);
  std::priority_queue<SpmBigram> queue;
  std::unordered_map<std::string, std::pair<int, int>> rev_merge;
  auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    std::string s = text.substr(syms[l].start, syms[l].n + syms[r].n);
    TokenId id = Find(s);
    if (id < 0) return;
    queue.push({l, r, scores_[id], s.size()});
    rev_merge[s] = {l, r};
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    SpmBigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  std::function<void(const Symbol&)> resegment = [&](const Symbol& s) {
    std::string piece = text.substr(s.start, s.n);
    TokenId id = Find(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge.find(piece);
    if (it == rev_merge.end()) {
      for (char c : piece) out.push_back(ByteToken(static_cast<uint8_t>(c)));
      return;
    }
    resegment(syms[it->second.first]);
    resegment(syms[it->second.second]);
  };
  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) resegment(syms[i]);
}

namespace {

// The text in NFD as UTF-16, with each ill-formed UTF-8 sequence replaced by U+FFFD. Empty
// when ICU has no NFD data, which a working ICU always has.
std::vector<UChar> NfdUtf16(std::string_view text) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* nfd = unorm2_getNFDInstance(&err);
  if (U_FAILURE(err)) return {};
  std::vector<UChar> src;
  src.reserve(text.size());
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t len = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(bytes, i, len, c);
    if (c < 0) c = 0xFFFD;
    UChar units[2];
    int32_t n = 0;
    U16_APPEND_UNSAFE(units, n, c);  // U8_NEXT yields only valid scalar values
    src.insert(src.end(), units, units + n);
  }
  // NFD rarely more than doubles a text; when it does, ICU reports the size it needs and the
  // one retry fits.
  std::vector<UChar> out(src.size() * 2 + 16);
  for (int attempt = 0; attempt < 2; ++attempt) {
    err = U_ZERO_ERROR;
    const int32_t n = unorm2_normalize(nfd, src.data(), static_cast<int32_t>(src.size()),
                                       out.data(), static_cast<int32_t>(out.size()), &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.resize(static_cast<size_t>(n));
      continue;
    }
    if (U_FAILURE(err)) return {};
    out.resize(static_cast<size_t>(n));
    return out;
  }
  return {};
}

}  // namespace

std::vector<std::string> WordPiecePreprocess(std::string_view text) {
  std::vector<std::string> words;
  // BERT's BasicTokenizer strips accents by decomposing the whole text (NFD) and dropping the
  // nonspacing marks (Mn), whether a mark came from a precomposed letter ("é") or was typed
  // on its own ("e" + U+0301). Spacing marks (Mc, such as Devanagari's vowel signs) stay: BERT's
  // vocabularies have tokens for them, and none for Mn marks. Hugging Face wrote the reference
  // ids this way; llama.cpp keeps every mark and so gives [UNK] for such words.
  const std::vector<UChar> nfd = NfdUtf16(text);
  // The CJK ideograph ranges of BERT's _is_chinese_char.
  auto is_cjk = [](UChar32 c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  };
  std::string word;
  auto finish = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  const int32_t len = static_cast<int32_t>(nfd.size());
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U16_NEXT(nfd, i, len, c);
    if (u_isUWhiteSpace(c)) {
      finish();
      continue;
    }
    const uint32_t gc = U_GET_GC_MASK(c);
    if ((gc & U_GC_MN_MASK) != 0) continue;
    // llama.cpp's "control" flag: Cc, Cf, Co, Cs (unassigned code points are kept).
    constexpr uint32_t kControl = U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK;
    if (c == 0 || c == 0xFFFD || (gc & kControl) != 0) continue;
    const UChar32 lower = u_tolower(c);
    if ((gc & U_GC_P_MASK) != 0 || (c < 0x7F && (gc & U_GC_S_MASK) != 0) || is_cjk(c)) {
      finish();
      AppendUtf8(word, static_cast<uint32_t>(lower));
      finish();
    } else {
      AppendUtf8(word, static_cast<uint32_t>(lower));
    }
  }
  finish();
  return words;
}

void Tokenizer::TokenizeWpm(const std::string& text, std::vector<TokenId>& out) const {
  for (const std::string& w : WordPiecePreprocess(text)) {
    // The GGUF converter wrote word-initial tokens with a leading U+2581 and continuation
    // tokens without BERT's "##", so a greedy longest match over "\u2581word" is WordPiece.
    const std::string word = "\xE2\x96\x81" + w;
    const size_t first = out.size();
    bool ok = true;
    for (size_t i = 0; i < word.size();) {
      size_t j = std::min(word.size(), i + max_token_len_);
      for (; j > i; --j) {
        TokenId id = Find(std::string_view(word).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          break;
        }
      }
      if (j == i) {
        ok = false;
        break;
      }
      i = j;
    }
    if (!ok) {
      // One unmatched position makes the whole word unknown, as in BERT.
      out.resize(first);
      out.push_back(unk_);
    }
  }
}

void Tokenizer::TokenizeBpe(const std::string& text, std::vector<TokenId>& out) const {
  const ByteMap& bm = Bytes();
  for (const std::string& raw : PreTokenize(text)) {
    std::string word;
    if (bpe_raw_) {
      word = raw;
    } else {
      for (char c : raw) AppendUtf8(word, bm.byte_to_cp[static_cast<uint8_t>(c)]);
    }
    if (ignore_merges_ || (bpe_raw_ && word.find_first_not_of('\n') == std::string::npos)) {
      TokenId id = Find(word);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    std::vector<Symbol> syms = SplitChars(word);
    std::priority_queue<BpeBigram> queue;
    auto try_add = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      std::string key =
          word.substr(syms[l].start, syms[l].n) + " " + word.substr(syms[r].start, syms[r].n);
      auto it = merge_rank_.find(key);
      if (it == merge_rank_.end()) return;
      queue.push({l, r, it->second, word.substr(syms[l].start, syms[l].n + syms[r].n)});
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      BpeBigram b = queue.top();
      queue.pop();
      Symbol& l = syms[b.left];
      Symbol& r = syms[b.right];
      if (l.n == 0 || r.n == 0) continue;
      if (l.start + l.n != r.start || word.compare(l.start, l.n + r.n, b.text) != 0) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (const Symbol& s : syms) {
      if (s.n == 0) continue;
      std::string piece = word.substr(s.start, s.n);
      TokenId id = Find(piece);
      if (id >= 0) {
        out.push_back(id);
      } else {
        for (char c : piece) {
          TokenId b = bpe_raw_ ? ByteToken(static_cast<uint8_t>(c)) : Find(std::string(1, c));
          if (b >= 0) out.push_back(b);
        }
      }
    }
  }
}

std::vector<TokenId> Tokenizer::Tokenize(std::string_view text, bool add_special,
                                         bool parse_special) const {
  std::vector<TokenId> out;
  if (add_special && add_bos_) out.push_back(bos_);
  // Split the text on special tokens (longest first), leaving raw-text fragments between them.
  struct Frag {
    TokenId token;  // -1 for raw text
    std::string text;
  };
  std::vector<Frag> frags;
  if (!text.empty()) frags.push_back({-1, std::string(text)});
  for (TokenId sp : special_) {
    if (types_[sp] != TokenType::kUserDefined && !parse_special) continue;
    const std::string& st = tokens_[sp];
    std::vector<Frag> next;
    for (auto& f : frags) {
      if (f.token >= 0) {
        next.push_back(std::move(f));
        continue;
      }
      size_t pos = 0;
      while (true) {
        size_t hit = f.text.find(st, pos);
        if (hit == std::string::npos) break;
        if (hit > pos) next.push_back({-1, f.text.substr(pos, hit - pos)});
        next.push_back({sp, ""});
        pos = hit + st.size();
      }
      if (pos < f.text.size()) next.push_back({-1, f.text.substr(pos)});
    }
    frags = std::move(next);
  }
  bool prev_special = true;
  for (const auto& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    if (kind_ == Kind::kSpm) {
      TokenizeSpm(EscapeSpaces((add_space_prefix_ && prev_special) ? " " + f.text : f.text), out);
    } else if (kind_ == Kind::kWpm) {
      TokenizeWpm(f.text, out);
    } else if (bpe_raw_) {
      TokenizeBpe(EscapeSpaces(f.text), out);
    } else {
      TokenizeBpe(f.text, out);
    }
    prev_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

std::string Tokenizer::Piece(TokenId id, bool special) const {
  if (id < 0 || id >= n_tokens()) return "";
  const std::string& t = tokens_[id];
  switch (types_[id]) {
    case TokenType::kControl:
      return special ? t : "";
    case TokenType::kUnknown:
      return kind_ == Kind::kSpm ? "\xE2\x96\x85" : t;
    case TokenType::kUserDefined:
      return t;
    case TokenType::kByte:
      if ((kind_ == Kind::kSpm || bpe_raw_) && t.size() == 6 && t.rfind("<0x", 0) == 0 &&
          t[5] == '>') {
        auto hex = [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c))
                     ? (std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                                                                    : (c | 0x20) - 'a' + 10)
                     : -1;
        };
        int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
      }
      [[fallthrough]];
    default:
      break;
  }
  std::string out;
  if (kind_ == Kind::kSpm || kind_ == Kind::kWpm || bpe_raw_) {
    for (size_t i = 0; i < t.size(); ++i) {
      if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        i += 2;
      } else {
        out += t[i];
      }
    }
    return out;
  }
  const ByteMap& bm = Bytes();
  for (size_t i = 0; i < t.size();) {
    size_t l;
    uint32_t cp = DecodeAt(t, i, &l);
    auto it = bm.cp_to_byte.find(cp);
    if (it != bm.cp_to_byte.end())
      out += static_cast<char>(it->second);
    else
      out.append(t, i, l);
    i += l;
  }
  return out;
}

std::string Tokenizer::Detokenize(const std::vector<TokenId>& ids, bool special) const {
  std::string out;
  size_t start = 0;
  if (!special && !ids.empty() && ids[0] == bos_ && add_bos_) start = 1;
  for (size_t i = start; i < ids.size(); ++i) {
    std::string p = Piece(ids[i], special);
    // SPM added a space before the text; the first piece gives it back.
    // WordPiece words start with U+2581 too; the first one has no space before it.
    if (i == start && ((kind_ == Kind::kSpm && add_space_prefix_) || kind_ == Kind::kWpm) &&
        !p.empty() && p[0] == ' ')
      p.erase(0, 1);
    out += p;
  }
  return out;
}

}  // namespace naut::engine

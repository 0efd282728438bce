#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/gguf.h"
#include "engine/gguf_writer.h"

namespace naut::engine {
namespace {

const std::string kDir = NAUT_SOURCE_DIR "/../shared/conformance/tokenizer/";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Splits the .inp file on "\n__ggml_vocab_test__\n", which follows every case; a non-empty
// tail after the last separator is one more case.
std::vector<std::string> Cases(const std::string& inp) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) {
      if (pos < inp.size()) out.push_back(inp.substr(pos));  // a last case without separator
      break;
    }
    out.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  return out;
}

std::vector<std::vector<TokenId>> Expected(const std::string& out) {
  std::vector<std::vector<TokenId>> res;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<TokenId> ids;
    TokenId id;
    while (ls >> id) ids.push_back(id);
    res.push_back(ids);
  }
  return res;
}

std::string Show(const std::vector<TokenId>& v) {
  std::string s;
  for (TokenId t : v) s += " " + std::to_string(t);
  return s;
}

// Every vocabulary in the shared folder that has its .inp/.out pair is tested, so a vocabulary
// added there is covered without a code change; NAUT_VOCAB_DIR names one more folder of the same
// layout (llama.cpp's models/, for instance).
std::vector<std::string> VocabStems() {
  std::vector<std::string> dirs = {kDir};
  if (const char* extra = std::getenv("NAUT_VOCAB_DIR"); extra != nullptr && *extra != '\0')
    dirs.push_back(std::string(extra) + "/");
  std::vector<std::string> stems;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("ggml-vocab-", 0) != 0 || e.path().extension() != ".gguf") continue;
      const std::string stem = e.path().string();
      const bool seen = std::any_of(stems.begin(), stems.end(), [&](const std::string& s) {
        return std::filesystem::path(s).filename() == e.path().filename();
      });
      if (!seen && std::filesystem::exists(stem + ".inp") && std::filesystem::exists(stem + ".out"))
        stems.push_back(stem);
    }
  }
  std::sort(stems.begin(), stems.end());
  if (stems.empty()) stems.push_back("");  // one case that reports the data as absent
  return stems;
}

std::string VocabName(const std::string& stem) {
  std::string n = std::filesystem::path(stem).stem().string();
  if (n.rfind("ggml-vocab-", 0) == 0) n = n.substr(11);
  return n;
}

class VocabTest : public testing::TestWithParam<std::string> {};

TEST_P(VocabTest, MatchesLlamaCppOnEveryCase) {
  const std::string& stem = GetParam();
  if (stem.empty()) GTEST_SKIP() << "conformance data absent: no ggml-vocab-*.gguf in " << kDir;
  const std::string name = VocabName(stem);
  auto f = GgufFile::Open(stem);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  auto tok = Tokenizer::Create(**f);
  ASSERT_TRUE(tok.ok()) << tok.error().ToString();
  auto cases = Cases(Slurp(stem + ".inp"));
  auto expected = Expected(Slurp(stem + ".out"));
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_GT(cases.size(), 0u);
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto got = (*tok)->Tokenize(cases[i], /*add_special=*/false, /*parse_special=*/false);
    if (got != expected[i]) {
      ++failures;
      ADD_FAILURE() << name << " case " << i << " '" << cases[i] << "'\n  got:     " << Show(got)
                    << "\n  expected:" << Show(expected[i]);
    } else if ((*tok)->kind() != Tokenizer::Kind::kWpm) {
      // Round trip: detokenizing gives the text back (SPM drops the added leading space).
      // WordPiece lowercases and drops whitespace, so it cannot round-trip.
      std::string back = (*tok)->Detokenize(got);
      EXPECT_EQ(back, cases[i]) << name << " case " << i;
    }
  }
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Conformance, VocabTest, testing::ValuesIn(VocabStems()),
                         [](const auto& info) {
                           std::string n = info.param.empty() ? "absent" : VocabName(info.param);
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

using Words = std::vector<std::string>;

TokenId IdOf(const Tokenizer& tok, const std::string& text) {
  for (TokenId id = 0; id < tok.n_tokens(); ++id) {
    if (tok.token_text(id) == text) return id;
  }
  return -1;
}

TEST(WordPiecePreprocess, PrecomposedLettersLoseTheirAccents) {
  // As the reference ids of case 'Äpfel' / 'Cửa Việt': "Ä" -> "A" + U+0308 -> "a".
  EXPECT_EQ(WordPiecePreprocess("\xC3\x84pfel"), (Words{"apfel"}));
  EXPECT_EQ(WordPiecePreprocess("C\xE1\xBB\xAD"
                                "a Vi\xE1\xBB\x87t"),
            (Words{"cua", "viet"}));
  // Cyrillic is lowercased per code point; "й" decomposes to "и" + breve, so it becomes "и".
  EXPECT_EQ(WordPiecePreprocess("\xD0\x9D\xD0\xB5\xD0\xB9"), (Words{"\xD0\xBD\xD0\xB5\xD0\xB8"}));
}

TEST(WordPiecePreprocess, CombiningMarksTypedInTheInputAreStrippedToo) {
  // "e" + U+0301 is the same word as the precomposed "é", as in BERT.
  EXPECT_EQ(WordPiecePreprocess("Caf"
                                "e\xCC\x81"),
            (Words{"cafe"}));
  EXPECT_EQ(WordPiecePreprocess("Caf\xC3\xA9"), (Words{"cafe"}));
  // Several marks on one letter, and a mark after a precomposed one, all go.
  EXPECT_EQ(WordPiecePreprocess("e\xCC\x81\xCC\x81x \xC3\xB1\xCC\xA3"), (Words{"ex", "n"}));
  // A mark at the start of the text is no word at all.
  EXPECT_TRUE(WordPiecePreprocess("\xCC\x81").empty());
}

TEST(WordPiecePreprocess, IndicNonspacingMarksGoSpacingMarksStay) {
  // "हिन्दी": the virama U+094D is Mn and is dropped; the vowel signs U+093F and U+0940 are
  // Mc and stay (BERT strips only Mn, and the vocabulary has tokens for the Mc signs).
  EXPECT_EQ(WordPiecePreprocess(
                "\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80"),
            (Words{"\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8\xE0\xA4\xA6\xE0\xA5\x80"}));
  // "क़" precomposed (U+0958) and as "क" + nukta (U+093C, Mn) are both "क".
  EXPECT_EQ(WordPiecePreprocess("\xE0\xA5\x98"), (Words{"\xE0\xA4\x95"}));
  EXPECT_EQ(WordPiecePreprocess("\xE0\xA4\x95\xE0\xA4\xBC"), (Words{"\xE0\xA4\x95"}));
}

TEST(WordPiecePreprocess, WholeDecompositionIsKeptNotOnlyItsFirstCodePoint) {
  // A Hangul syllable decomposes into letters (Lo), not marks: "가" is "ᄀ" + "ᅡ".
  EXPECT_EQ(WordPiecePreprocess("\xEA\xB0\x80"), (Words{"\xE1\x84\x80\xE1\x85\xA1"}));
}

TEST(WordPiecePreprocess, SplitsCjkIdeographsPunctuationAndAsciiSymbols) {
  EXPECT_EQ(WordPiecePreprocess("\xE6\x88\x91\xE6\x83\xB3"
                                "apple"),
            (Words{"\xE6\x88\x91", "\xE6\x83\xB3", "apple"}));
  EXPECT_EQ(WordPiecePreprocess("Hello, y'all!"), (Words{"hello", ",", "y", "'", "all", "!"}));
  EXPECT_EQ(WordPiecePreprocess("a+b=c$"), (Words{"a", "+", "b", "=", "c", "$"}));
  // A non-ASCII symbol (U+2705, So) is not split off; a non-ASCII punctuation mark (U+3002, Po) is.
  EXPECT_EQ(WordPiecePreprocess("x\xE2\x9C\x85y"), (Words{"x\xE2\x9C\x85y"}));
  EXPECT_EQ(WordPiecePreprocess("x\xE3\x80\x82y"), (Words{"x", "\xE3\x80\x82", "y"}));
  // Hiragana are not in BERT's CJK ranges: they stay one word.
  EXPECT_EQ(WordPiecePreprocess("\xE3\x81\x82\xE3\x81\x84"), (Words{"\xE3\x81\x82\xE3\x81\x84"}));
}

TEST(WordPiecePreprocess, DropsControlCharactersAndSplitsOnWhitespace) {
  // U+0007 (Cc), U+200D (Cf), NUL and U+FFFD vanish without splitting the word.
  EXPECT_EQ(WordPiecePreprocess(std::string("ab\x07"
                                            "c\xE2\x80\x8D"
                                            "d\0e\xEF\xBF\xBD"
                                            "f",
                                            15)),
            (Words{"abcdef"}));
  // Tab, newline, no-break space and ideographic space end words; runs of them give no empty word.
  EXPECT_EQ(WordPiecePreprocess(" \tone\n\ntwo\xC2\xA0three\xE3\x80\x80 "),
            (Words{"one", "two", "three"}));
  EXPECT_TRUE(WordPiecePreprocess(" \t\n ").empty());
  EXPECT_TRUE(WordPiecePreprocess("").empty());
  // Invalid UTF-8 is dropped like U+FFFD.
  EXPECT_EQ(WordPiecePreprocess("a\xFF"
                                "b"),
            (Words{"ab"}));
}

TEST(WordPieceTokenizer, UnmatchedWordBecomesUnknownAndPiecesDetokenize) {
  const std::string path = kDir + "ggml-vocab-bert-bge.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "conformance data absent: " << path;
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  auto tok = Tokenizer::Create(**f);
  ASSERT_TRUE(tok.ok()) << tok.error().ToString();
  ASSERT_EQ((*tok)->kind(), Tokenizer::Kind::kWpm);
  const TokenId unk = IdOf(**tok, "[UNK]");
  ASSERT_GE(unk, 0);
  // "hello" is a word-initial token; "🚀" has no token at all, so "x🚀" is one [UNK] even
  // though "▁x" alone would match.
  auto ids = (*tok)->Tokenize("Hello x\xF0\x9F\x9A\x80 world", /*add_special=*/false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], IdOf(**tok, "\xE2\x96\x81hello"));
  EXPECT_EQ(ids[1], unk);
  EXPECT_EQ(ids[2], IdOf(**tok, "\xE2\x96\x81world"));
  // [UNK] is a control token in this file: it detokenizes to nothing unless `special`.
  EXPECT_EQ((*tok)->Detokenize(ids), "hello world");
  // With special tokens the text is framed as [CLS] ... [SEP], as BERT expects.
  auto framed = (*tok)->Tokenize("Hello world", /*add_special=*/true);
  EXPECT_EQ(framed,
            (std::vector<TokenId>{IdOf(**tok, "[CLS]"), ids[0], ids[2], IdOf(**tok, "[SEP]")}));
  EXPECT_EQ((*tok)->Detokenize(framed), "hello world");
  // Continuation pieces join their word without a space.
  auto disc = (*tok)->Tokenize(" discards", false);
  ASSERT_GT(disc.size(), 1u);
  EXPECT_EQ((*tok)->Detokenize(disc), "discards");
}

// The ids are those of Hugging Face's BertWordPieceTokenizer (lowercase, accents stripped) over
// the same vocabulary.
TEST(WordPieceTokenizer, MarkedWordsMatchBertInsteadOfBecomingUnknown) {
  const std::string path = kDir + "ggml-vocab-bert-bge.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "conformance data absent: " << path;
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  auto tok = Tokenizer::Create(**f);
  ASSERT_TRUE(tok.ok()) << tok.error().ToString();
  auto ids = [&](const std::string& text) { return (*tok)->Tokenize(text, false); };
  const std::vector<TokenId> cafe = {7668};
  EXPECT_EQ(ids("Caf\xC3\xA9"), cafe);
  EXPECT_EQ(ids("Caf"
                "e\xCC\x81"),
            cafe);
  // "Na" + U+0308 "ive re" + U+0301 "sume" + U+0301.
  EXPECT_EQ(ids("Na\xCC\x88ive re\xCC\x81sume\xCC\x81"), (std::vector<TokenId>{15743, 13746}));
  // "हिन्दी" is "ह" "##ि" "##न" "##द" "##ी": the virama goes, the vowel signs are tokens.
  EXPECT_EQ(ids("\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80"),
            (std::vector<TokenId>{1339, 29877, 29863, 29861, 29878}));
  // "가나" is "ᄀ" "##ᅡ" "##ᄂ" "##ᅡ".
  EXPECT_EQ(ids("\xEA\xB0\x80\xEB\x82\x98"), (std::vector<TokenId>{1455, 30006, 29992, 30006}));
}

// A tiny WordPiece vocabulary written in memory: independent of the shared conformance data.
Result<std::unique_ptr<Tokenizer>> TinyWordPiece(bool with_unk) {
  GgufWriter w;
  w.AddString("tokenizer.ggml.model", "bert");
  std::vector<std::string> toks = {"[PAD]",
                                   "[UNK]",
                                   "[CLS]",
                                   "[SEP]",
                                   "\xE2\x96\x81un",
                                   "\xE2\x96\x81unh",
                                   "aff",
                                   "able",
                                   "\xE2\x96\x81"
                                   "a",
                                   "\xE2\x96\x81,",
                                   "hx"};
  w.AddStringArray("tokenizer.ggml.tokens", toks);
  w.AddI32Array("tokenizer.ggml.token_type", {3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  if (with_unk) w.AddU32("tokenizer.ggml.unknown_token_id", 1);
  w.AddU32("tokenizer.ggml.cls_token_id", 2);
  w.AddU32("tokenizer.ggml.seperator_token_id", 3);
  std::string bytes = w.ToBytes();
  auto f = GgufFile::Parse(bytes);
  if (!f.ok()) return f.error();
  return Tokenizer::Create(**f);
}

TEST(WordPieceTokenizer, GreedyLongestMatchAndWholeWordUnknown) {
  auto tok = TinyWordPiece(/*with_unk=*/true);
  ASSERT_TRUE(tok.ok()) << tok.error().ToString();
  // "unaffable": longest first gives "▁un" (not "▁unh", which does not fit), "aff", "able".
  EXPECT_EQ((*tok)->Tokenize("Unaffable, a", false), (std::vector<TokenId>{4, 6, 7, 9, 8}));
  // "unhx": "▁unh" matches, then nothing matches "x" -> the whole word is [UNK] and the
  // "▁unh" already found is discarded; there is no backtracking to "▁un" + "hx".
  EXPECT_EQ((*tok)->Tokenize("unhx", false), (std::vector<TokenId>{1}));
  EXPECT_EQ((*tok)->Tokenize("a unhx a", true), (std::vector<TokenId>{2, 8, 1, 8, 3}));
  EXPECT_TRUE((*tok)->Tokenize(" \t\n", false).empty());
  EXPECT_EQ((*tok)->Detokenize((*tok)->Tokenize("unaffable , a", true)), "unaffable , a");
}

TEST(WordPieceTokenizer, VocabularyWithoutUnknownTokenIsRefusedUnlessItHasUnkText) {
  // "[UNK]" is in the token list, so the id is found from its text.
  auto found = TinyWordPiece(/*with_unk=*/false);
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ((*found)->Tokenize("zzz", false), (std::vector<TokenId>{1}));
  GgufWriter w;
  w.AddString("tokenizer.ggml.model", "bert");
  w.AddStringArray("tokenizer.ggml.tokens", {"\xE2\x96\x81"
                                             "a"});
  std::string bytes = w.ToBytes();
  auto f = GgufFile::Parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  auto tok = Tokenizer::Create(**f);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.error().code(), Code::kDataLoss);
  EXPECT_NE(tok.error().message().find("unknown_token_id"), std::string::npos)
      << tok.error().ToString();
}

}  // namespace
}  // namespace naut::engine

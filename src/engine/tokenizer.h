#pragma once
// Tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata: SentencePiece-style
// (`llama`), byte-level BPE (`gpt2`) and WordPiece (`bert`) vocabularies with the pre-tokenizer
// named by `tokenizer.ggml.pre`, special and control tokens, BOS/EOS, byte fallback, and
// detokenization that round-trips. Behaviour follows llama.cpp's tokenizer so that ids match
// the models' reference outputs.
//
// A Tokenizer is immutable after Create and safe to use from many threads at once.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/gguf.h"

namespace re2 {
class RE2;
}

namespace naut::engine {

using TokenId = int32_t;

enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
 public:
  enum class Kind { kSpm, kBpe, kWpm };
  ~Tokenizer();

  static Result<std::unique_ptr<Tokenizer>> Create(const GgufFile& file);

  // `add_special`: prepend BOS / append EOS as the vocabulary asks. `parse_special`: text
  // such as "<|im_end|>" becomes the control token; otherwise it is tokenized as plain text
  // (user-defined tokens are always recognised, as in llama.cpp).
  std::vector<TokenId> Tokenize(std::string_view text, bool add_special,
                                bool parse_special = false) const;

  // The bytes of one token (control tokens give "" unless `special`).
  std::string Piece(TokenId id, bool special = false) const;
  // Concatenated pieces; drops the SPM leading space the tokenizer added.
  std::string Detokenize(const std::vector<TokenId>& ids, bool special = false) const;

  Kind kind() const { return kind_; }
  const std::string& pre() const { return pre_; }
  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token_text(TokenId id) const { return tokens_[id]; }
  TokenType token_type(TokenId id) const { return types_[id]; }
  TokenId bos() const { return bos_; }
  TokenId eos() const { return eos_; }
  bool add_bos() const { return add_bos_; }
  // End-of-generation tokens: EOS, EOT and the usual end-of-turn markers of chat models.
  bool IsEog(TokenId id) const;

 private:
  Tokenizer() = default;
  Status Init(const GgufFile& file);
  // Init's steps: the vocabulary (kind, tokens, scores, types, merges); the special ids, the
  // add_* flags and the end-of-generation tokens; the BPE pre-tokenizer's regexes.
  Status InitVocabulary(const GgufFile& file);
  Status InitSpecialTokens(const GgufFile& file);
  Status InitPreTokenizer();
  void TokenizeSpm(const std::string& text, std::vector<TokenId>& out) const;
  void TokenizeBpe(const std::string& text, std::vector<TokenId>& out) const;
  void TokenizeWpm(const std::string& text, std::vector<TokenId>& out) const;
  std::vector<std::string> PreTokenize(const std::string& text) const;
  TokenId Find(std::string_view text) const;
  TokenId ByteToken(uint8_t byte) const;

  Kind kind_ = Kind::kSpm;
  std::string pre_;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, TokenId> token_to_id_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> rank
  std::vector<TokenId> special_;  // tokens matched in raw text, longest first
  std::vector<TokenId> eog_;
  TokenId bos_ = -1, eos_ = -1, unk_ = -1;
  size_t max_token_len_ = 0;  // bytes of the longest token text (WordPiece match window)
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = true, ignore_merges_ = false;
  // SentencePiece-style BPE (gemma4): spaces are written as U+2581, merges work on raw UTF-8
  // instead of GPT-2's byte alphabet, and unknown bytes fall back to <0xXX> tokens.
  bool bpe_raw_ = false;
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

// BERT's basic pre-tokenization for uncased WordPiece vocabularies (Hugging Face's BertNormalizer):
// the text is decomposed (NFD) and its nonspacing marks (Mn) dropped, so "é" and "e" + U+0301
// both become "e" while spacing marks (Mc, e.g. Devanagari U+093F) stay; whitespace ends a
// word, NUL / U+FFFD / control characters (Cc, Cf, Co, Cs) are dropped,
// every code point is lowercased, and punctuation, ASCII symbols and CJK ideographs become
// words of their own. Returns the words as UTF-8, none empty; ill-formed UTF-8 is dropped.
std::vector<std::string> WordPiecePreprocess(std::string_view text);

}  // namespace naut::engine

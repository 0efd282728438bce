#pragma once
// Matching a Grammar (grammar.h) byte by byte, and the set of vocabulary tokens that can
// extend what has been matched so far.
//
// GrammarMatcher is a pushdown recognizer: its state is the set of parse stacks still alive
// (each a list of grammar positions, the next expected byte set on top). States are interned
// and their byte transitions cached, so matching text the grammar has seen in the same state
// before (the inside of a JSON string, a run of digits) is one table lookup a byte, and a state
// met again (the same place in the grammar) reuses its token mask. Bounds: stacks deeper than
// MatcherLimits::max_stack_depth are dropped (their bytes are refused), and a state with more
// than max_stacks live parses, or a byte whose expansion takes more than max_expansion steps,
// puts the matcher in error (error() says why): an ambiguous grammar is stopped, never left to
// grow. The interned states are forgotten and rebuilt when there are more than max_states.
//
// TokenVocabulary holds every token's bytes in a trie, so a mask walks shared prefixes once and
// skips every token under a refused byte. Control tokens are never grammar text, except the ones
// named as `special_text` (e.g. Mistral's "[TOOL_CALLS]"), whose text is matched; end-of-
// generation tokens are allowed exactly when the grammar can end.
//
// Thread-safety: TokenVocabulary is immutable after Build and may be shared; a GrammarMatcher
// belongs to one generation on one thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/grammar.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

namespace naut::engine {

struct MatcherLimits {
  size_t max_stack_depth = 512;
  size_t max_stacks = 1024;
  size_t max_expansion = 100000;
  size_t max_states = 8192;
  size_t cached_masks = 64;
};

class TokenVocabulary {
 public:
  static std::unique_ptr<TokenVocabulary> Build(const Tokenizer& tok,
                                                const std::vector<std::string>& special_text = {});

  int32_t n_tokens() const { return n_tokens_; }
  // The bytes a token writes under a grammar; false for control tokens that are not text.
  bool IsText(TokenId id) const { return is_text_[static_cast<size_t>(id)] != 0; }
  std::string_view Bytes(TokenId id) const {
    return {blob_.data() + offsets_[static_cast<size_t>(id)],
            offsets_[static_cast<size_t>(id) + 1] - offsets_[static_cast<size_t>(id)]};
  }
  bool IsEog(TokenId id) const { return is_eog_[static_cast<size_t>(id)] != 0; }
  const std::vector<TokenId>& eog_tokens() const { return eog_; }

  struct Node {
    uint32_t first_child = 0, n_children = 0;  // into children()
    uint32_t first_token = 0, n_tokens = 0;    // tokens ending here, into node_tokens()
  };
  struct Edge {
    uint8_t byte;
    uint32_t node;
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Edge>& children() const { return edges_; }
  const std::vector<TokenId>& node_tokens() const { return node_tokens_; }

 private:
  int32_t n_tokens_ = 0;
  std::string blob_;
  std::vector<size_t> offsets_;
  std::vector<uint8_t> is_text_, is_eog_;
  std::vector<TokenId> eog_;
  std::vector<Node> nodes_;  // [0] is the root
  std::vector<Edge> edges_;
  std::vector<TokenId> node_tokens_;
};

class GrammarMatcher {
 public:
  using StateId = int32_t;
  static constexpr StateId kDead = -1;

  // `grammar` must outlive the matcher.
  explicit GrammarMatcher(const Grammar& grammar, const MatcherLimits& limits = {});

  // Consumes `bytes` when the grammar allows all of them (true); otherwise nothing changes.
  bool Accept(std::string_view bytes);
  // The text so far is a complete match of `root`.
  bool CanEnd() const { return state_ >= 0 && states_[state_].can_end; }
  // Nothing but the end can follow.
  bool MustEnd() const { return state_ >= 0 && states_[state_].n_stacks == 1 && CanEnd(); }
  // Ok, or why the grammar was stopped (too ambiguous, too deep a parse).
  const Status& error() const { return error_; }
  void Reset();

  // Whether `bytes` could be accepted now; changes nothing.
  bool CanAccept(std::string_view bytes);
  // Whether token `id` may come next (end-of-generation tokens when the grammar can end).
  bool Allows(const TokenVocabulary& vocab, TokenId id);
  // Every token that may come next. The reference stays valid until the next call on this
  // matcher.
  const TokenMask& AllowedTokens(const TokenVocabulary& vocab);

  size_t state_count() const { return states_.size(); }

 private:
  struct State {
    std::vector<uint32_t> stacks;  // each stack: its length, then its positions (top last)
    size_t n_stacks = 0;
    bool can_end = false;
    std::unique_ptr<StateId[]> next;  // 256 transitions, -2 unknown; null until first used
    int mask_slot = -1;               // into masks_
  };

  StateId Next(StateId s, uint8_t byte);
  StateId Intern(std::vector<std::vector<uint32_t>>& stacks);
  // Expands `stack` until every top is a byte set (or the stack is empty: the end), adding
  // the results to `out`.
  bool Expand(std::vector<uint32_t> stack, std::vector<std::vector<uint32_t>>* out);
  void Fail(Status st);
  void Compact();

  const Grammar& g_;
  MatcherLimits lim_;
  std::vector<State> states_;
  std::unordered_map<std::string, StateId> index_;
  StateId state_ = kDead;
  Status error_;
  std::vector<TokenMask> masks_;
  std::vector<StateId> mask_owner_;
  size_t next_mask_ = 0;
  size_t steps_ = 0;  // expansion steps of the byte being matched
};

// A grammar applied to one generation: the sampler's TokenFilter, told every token chosen.
// With `triggers` it is lazy (llama.cpp's lazy grammars): the text is free until one of the
// trigger strings appears in it, and from the trigger's first byte on the text must match the
// grammar, which therefore starts with the triggers. While free, a token that would complete a
// trigger is allowed only when what it writes from the trigger on is a start the grammar
// accepts, so a trigger never leaves the text unmatchable. End-of-generation tokens are allowed
// while free and, once active, only where the grammar can end. One generation, one thread.
class GrammarConstraint : public TokenFilter {
 public:
  // `grammar` and `vocab` must outlive the constraint.
  GrammarConstraint(const Grammar& grammar, const TokenVocabulary& vocab,
                    std::vector<std::string> triggers = {}, const MatcherLimits& limits = {});

  bool Allows(TokenId id) override;
  const TokenMask& Allowed() override;
  // Records the chosen token; false when it does not fit (it was not one Allows took).
  bool Accept(TokenId id);

  bool active() const { return active_; }
  // How often the sampler's first choice was refused and the whole vocabulary was checked.
  int full_masks() const { return full_masks_; }
  // Active and the text since the trigger (or the start) is a complete match.
  bool complete() const { return active_ && matcher_.CanEnd(); }
  const Status& error() const { return matcher_.error(); }

 private:
  // Where, in tail_ + bytes, the first trigger starts; npos when none.
  size_t TriggerAt(const std::string& text) const;
  bool FreeAllows(TokenId id);

  const TokenVocabulary& vocab_;
  std::vector<std::string> triggers_;
  size_t max_trigger_ = 0;
  GrammarMatcher matcher_;
  bool active_ = true;
  std::string tail_;  // while free: the last bytes written, shorter than the longest trigger
  TokenMask free_mask_;
  int full_masks_ = 0;
};

}  // namespace naut::engine

#include "engine/grammar_matcher.h"

#include <algorithm>
#include <cstring>

namespace naut::engine {

namespace {

constexpr GrammarMatcher::StateId kUnknown = -2;

}  // namespace

std::unique_ptr<TokenVocabulary> TokenVocabulary::Build(
    const Tokenizer& tok, const std::vector<std::string>& special_text) {
  auto v = std::make_unique<TokenVocabulary>();
  const int32_t n = tok.n_tokens();
  v->n_tokens_ = n;
  v->offsets_.reserve(static_cast<size_t>(n) + 1);
  v->is_text_.assign(static_cast<size_t>(n), 0);
  v->is_eog_.assign(static_cast<size_t>(n), 0);
  v->offsets_.push_back(0);
  for (TokenId id = 0; id < n; ++id) {
    std::string bytes;
    const TokenType type = tok.token_type(id);
    if (type == TokenType::kControl || type == TokenType::kUnused || type == TokenType::kUnknown) {
      const std::string& text = tok.token_text(id);
      if (std::find(special_text.begin(), special_text.end(), text) != special_text.end()) {
        bytes = text;
      }
    } else {
      bytes = tok.Piece(id);
    }
    if (tok.IsEog(id)) {
      v->is_eog_[static_cast<size_t>(id)] = 1;
      v->eog_.push_back(id);
      bytes.clear();
    }
    v->is_text_[static_cast<size_t>(id)] = bytes.empty() ? 0 : 1;
    v->blob_ += bytes;
    v->offsets_.push_back(v->blob_.size());
  }
  // The trie, built with per-node child lists and then laid out flat.
  struct TmpNode {
    std::vector<std::pair<uint8_t, uint32_t>> kids;
    std::vector<TokenId> tokens;
  };
  std::vector<TmpNode> tmp(1);
  for (TokenId id = 0; id < n; ++id) {
    if (!v->IsText(id)) continue;
    uint32_t node = 0;
    for (char c : v->Bytes(id)) {
      const auto b = static_cast<uint8_t>(c);
      auto& kids = tmp[node].kids;
      auto it = std::find_if(kids.begin(), kids.end(), [b](const auto& k) { return k.first == b; });
      if (it != kids.end()) {
        node = it->second;
      } else {
        const auto child = static_cast<uint32_t>(tmp.size());
        tmp[node].kids.emplace_back(b, child);
        tmp.emplace_back();
        node = child;
      }
    }
    tmp[node].tokens.push_back(id);
  }
  v->nodes_.resize(tmp.size());
  for (size_t i = 0; i < tmp.size(); ++i) {
    auto& kids = tmp[i].kids;
    std::sort(kids.begin(), kids.end());
    Node& nd = v->nodes_[i];
    nd.first_child = static_cast<uint32_t>(v->edges_.size());
    nd.n_children = static_cast<uint32_t>(kids.size());
    for (auto [b, child] : kids) v->edges_.push_back({b, child});
    nd.first_token = static_cast<uint32_t>(v->node_tokens_.size());
    nd.n_tokens = static_cast<uint32_t>(tmp[i].tokens.size());
    v->node_tokens_.insert(v->node_tokens_.end(), tmp[i].tokens.begin(), tmp[i].tokens.end());
  }
  return v;
}

GrammarMatcher::GrammarMatcher(const Grammar& grammar, const MatcherLimits& limits)
    : g_(grammar), lim_(limits) {
  Reset();
}

void GrammarMatcher::Fail(Status st) {
  if (error_.ok()) error_ = std::move(st);
}

void GrammarMatcher::Reset() {
  states_.clear();
  index_.clear();
  masks_.clear();
  mask_owner_.clear();
  next_mask_ = 0;
  error_ = Status::Ok();
  steps_ = 0;
  std::vector<std::vector<uint32_t>> stacks;
  for (uint32_t alt : g_.alternatives(g_.root())) {
    if (!Expand({alt}, &stacks)) break;
  }
  state_ = error_.ok() && !stacks.empty() ? Intern(stacks) : kDead;
}

bool GrammarMatcher::Expand(std::vector<uint32_t> stack, std::vector<std::vector<uint32_t>>* out) {
  const auto& els = g_.elements();
  std::vector<std::vector<uint32_t>> work;
  work.push_back(std::move(stack));
  while (!work.empty()) {
    std::vector<uint32_t> s = std::move(work.back());
    work.pop_back();
    while (true) {
      if (++steps_ > lim_.max_expansion) {
        Fail(ResourceExhausted("grammar: one byte took more than " +
                               std::to_string(lim_.max_expansion) +
                               " expansion steps; the grammar is too ambiguous"));
        return false;
      }
      if (s.empty()) {
        out->push_back(std::move(s));
        break;
      }
      const uint32_t p = s.back();
      const Grammar::Element& e = els[p];
      if (e.kind == Grammar::Kind::kBytes) {
        out->push_back(std::move(s));
        break;
      }
      s.pop_back();
      if (e.kind == Grammar::Kind::kEnd) continue;  // the rule is done: back to its caller
      // A rule reference: its continuation (unless it ends the alternative, so that right
      // recursion does not grow the stack), then each alternative on top.
      if (els[p + 1].kind != Grammar::Kind::kEnd) s.push_back(p + 1);
      if (s.size() >= lim_.max_stack_depth) break;  // too deep: this parse is dropped
      const std::vector<uint32_t>& alts = g_.alternatives(e.arg);
      steps_ += alts.size();  // the copies count too: a rule of many alternatives is no free pass
      for (size_t i = 1; i < alts.size(); ++i) {
        std::vector<uint32_t> c = s;
        c.push_back(alts[i]);
        work.push_back(std::move(c));
      }
      s.push_back(alts[0]);
    }
  }
  return true;
}

GrammarMatcher::StateId GrammarMatcher::Intern(std::vector<std::vector<uint32_t>>& stacks) {
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  if (stacks.size() > lim_.max_stacks) {
    Fail(ResourceExhausted("grammar: " + std::to_string(stacks.size()) +
                           " parses alive at once (at most " + std::to_string(lim_.max_stacks) +
                           "); the grammar is too ambiguous"));
    return kDead;
  }
  std::vector<uint32_t> flat;
  bool can_end = false;
  for (const auto& s : stacks) {
    flat.push_back(static_cast<uint32_t>(s.size()));
    flat.insert(flat.end(), s.begin(), s.end());
    can_end = can_end || s.empty();
  }
  std::string key(reinterpret_cast<const char*>(flat.data()), flat.size() * sizeof(uint32_t));
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const auto id = static_cast<StateId>(states_.size());
  State st;
  st.stacks = std::move(flat);
  st.can_end = can_end;
  st.n_stacks = stacks.size();
  states_.push_back(std::move(st));
  index_.emplace(std::move(key), id);
  return id;
}

GrammarMatcher::StateId GrammarMatcher::Next(StateId s, uint8_t byte) {
  if (!states_[s].next) {
    states_[s].next = std::make_unique<StateId[]>(256);
    std::fill_n(states_[s].next.get(), 256, kUnknown);
  }
  const StateId cached = states_[s].next[byte];
  if (cached != kUnknown) return cached;
  if (!error_.ok()) return kDead;
  const auto& els = g_.elements();
  std::vector<std::vector<uint32_t>> out;
  steps_ = 0;
  const std::vector<uint32_t> flat = states_[s].stacks;
  for (size_t i = 0; i < flat.size();) {
    const uint32_t len = flat[i];
    if (len > 0) {
      const uint32_t top = flat[i + len];
      const Grammar::Element& e = els[top];
      if (e.kind == Grammar::Kind::kBytes && g_.set(e.arg).Has(byte)) {
        std::vector<uint32_t> stack(flat.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                    flat.begin() + static_cast<std::ptrdiff_t>(i + 1 + len));
        stack.back() = top + 1;
        if (!Expand(std::move(stack), &out)) return kDead;
      }
    }
    i += 1 + len;
  }
  const StateId next = out.empty() ? kDead : Intern(out);
  if (!error_.ok()) return kDead;
  states_[s].next[byte] = next;
  return next;
}

bool GrammarMatcher::Accept(std::string_view bytes) {
  if (state_ < 0 || !error_.ok()) return false;
  StateId s = state_;
  for (char c : bytes) {
    s = Next(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  state_ = s;
  if (states_.size() > lim_.max_states) Compact();
  return true;
}

void GrammarMatcher::Compact() {
  State cur = std::move(states_[state_]);
  states_.clear();
  index_.clear();
  masks_.clear();
  mask_owner_.clear();
  next_mask_ = 0;
  std::string key(reinterpret_cast<const char*>(cur.stacks.data()),
                  cur.stacks.size() * sizeof(uint32_t));
  cur.next.reset();
  cur.mask_slot = -1;
  states_.push_back(std::move(cur));
  index_.emplace(std::move(key), 0);
  state_ = 0;
}

bool GrammarMatcher::CanAccept(std::string_view bytes) {
  if (state_ < 0 || !error_.ok()) return false;
  StateId s = state_;
  for (char c : bytes) {
    s = Next(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  return true;
}

bool GrammarMatcher::Allows(const TokenVocabulary& vocab, TokenId id) {
  if (state_ < 0 || id < 0 || id >= vocab.n_tokens()) return false;
  if (vocab.IsEog(id)) return CanEnd();
  if (!vocab.IsText(id)) return false;
  return CanAccept(vocab.Bytes(id));
}

const TokenMask& GrammarMatcher::AllowedTokens(const TokenVocabulary& vocab) {
  if (state_ >= 0) {
    const int slot = states_[state_].mask_slot;
    if (slot >= 0 && mask_owner_[static_cast<size_t>(slot)] == state_) {
      return masks_[static_cast<size_t>(slot)];
    }
  }
  if (masks_.size() < lim_.cached_masks) {
    masks_.emplace_back();
    mask_owner_.push_back(kDead);
  }
  const size_t slot = next_mask_++ % masks_.size();
  if (mask_owner_[slot] >= 0 && static_cast<size_t>(mask_owner_[slot]) < states_.size()) {
    states_[mask_owner_[slot]].mask_slot = -1;
  }
  TokenMask& mask = masks_[slot];
  mask.Reset(vocab.n_tokens());
  mask_owner_[slot] = kDead;
  if (state_ < 0) return mask;
  const auto& nodes = vocab.nodes();
  const auto& edges = vocab.children();
  const auto& toks = vocab.node_tokens();
  std::vector<std::pair<uint32_t, StateId>> work{{0, state_}};
  while (!work.empty()) {
    const auto [node, s] = work.back();
    work.pop_back();
    const TokenVocabulary::Node& nd = nodes[node];
    for (uint32_t e = nd.first_child; e < nd.first_child + nd.n_children; ++e) {
      const StateId t = Next(s, edges[e].byte);
      if (t < 0) continue;
      const TokenVocabulary::Node& child = nodes[edges[e].node];
      for (uint32_t k = child.first_token; k < child.first_token + child.n_tokens; ++k) {
        mask.Add(toks[k]);
      }
      if (child.n_children > 0) work.emplace_back(edges[e].node, t);
    }
  }
  if (CanEnd()) {
    for (TokenId id : vocab.eog_tokens()) mask.Add(id);
  }
  if (error_.ok()) {
    mask_owner_[slot] = state_;
    states_[state_].mask_slot = static_cast<int>(slot);
  }
  return mask;
}

GrammarConstraint::GrammarConstraint(const Grammar& grammar, const TokenVocabulary& vocab,
                                     std::vector<std::string> triggers, const MatcherLimits& limits)
    : vocab_(vocab), triggers_(std::move(triggers)), matcher_(grammar, limits) {
  std::erase_if(triggers_, [](const std::string& t) { return t.empty(); });
  for (const std::string& t : triggers_) max_trigger_ = std::max(max_trigger_, t.size());
  active_ = triggers_.empty();
}

size_t GrammarConstraint::TriggerAt(const std::string& text) const {
  size_t best = std::string::npos;
  for (const std::string& t : triggers_) best = std::min(best, text.find(t));
  return best;
}

bool GrammarConstraint::FreeAllows(TokenId id) {
  if (id < 0 || id >= vocab_.n_tokens()) return false;
  if (!vocab_.IsText(id)) return true;
  const std::string text = tail_ + std::string(vocab_.Bytes(id));
  const size_t at = TriggerAt(text);
  return at == std::string::npos || matcher_.CanAccept(std::string_view(text).substr(at));
}

bool GrammarConstraint::Allows(TokenId id) {
  return active_ ? matcher_.Allows(vocab_, id) : FreeAllows(id);
}

const TokenMask& GrammarConstraint::Allowed() {
  ++full_masks_;
  if (active_) return matcher_.AllowedTokens(vocab_);
  free_mask_.Reset(vocab_.n_tokens());
  for (TokenId id = 0; id < vocab_.n_tokens(); ++id) {
    if (FreeAllows(id)) free_mask_.Add(id);
  }
  return free_mask_;
}

bool GrammarConstraint::Accept(TokenId id) {
  if (id < 0 || id >= vocab_.n_tokens()) return false;
  if (active_) {
    if (vocab_.IsEog(id)) return matcher_.CanEnd();
    return vocab_.IsText(id) && matcher_.Accept(vocab_.Bytes(id));
  }
  if (!vocab_.IsText(id)) return true;
  std::string text = tail_ + std::string(vocab_.Bytes(id));
  const size_t at = TriggerAt(text);
  if (at != std::string::npos) {
    active_ = true;
    tail_.clear();
    return matcher_.Accept(std::string_view(text).substr(at));
  }
  if (text.size() >= max_trigger_) text.erase(0, text.size() - (max_trigger_ - 1));
  tail_ = std::move(text);
  return true;
}

}  // namespace naut::engine

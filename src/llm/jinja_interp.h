#pragma once
// The interpreter of the Jinja engine (part of llm/jinja.h): runs a parsed Program over
// variables with Jinja2's scoping (a `for` body and a macro call have scopes of their own,
// `if` does not; macros see their defining scope as it is when they are called) and the
// builtins transformers' environment has (jinja_builtins.h).
//
// A Runtime renders one template once, on one thread; it is the object the builtins call back
// into (filters applying filters, tests, attribute lookup, limits).

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "llm/jinja.h"
#include "llm/jinja_ast.h"

namespace naut::llm::jinja {

using RenderLimits = JinjaRenderLimits;

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  const Value* Find(const std::string& name) const;
  void Set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  std::shared_ptr<Scope> parent_;
  std::unordered_map<std::string, Value> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

class Runtime {
 public:
  Runtime(const RenderLimits& limits, std::function<std::tm()> now);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Throws TemplateError.
  std::string Render(const Program& program,
                     const std::vector<std::pair<std::string, Value>>& variables);

  // For the builtins.
  Value Call(const Value& callee, CallArgs& args);
  Value GetAttr(const Value& obj, const std::string& name);
  Value GetItem(const Value& obj, const Value& key);
  // Throws kLimit when a string of `bytes` would exceed the output limit.
  void CheckSize(size_t bytes) const;
  std::tm Now() const;
  // Namespaces may hold themselves; the ones a render made are emptied when it ends so that
  // nothing it built outlives it.
  void Track(const Value& object) { tracked_.push_back(object); }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Flow ExecBody(const Body& body, const ScopePtr& scope, std::string& out);
  Flow Exec(const Stmt& s, const ScopePtr& scope, std::string& out);
  Flow ExecFor(const Stmt& s, const ScopePtr& scope, std::string& out);
  void ExecCallBlock(const Stmt& s, const ScopePtr& scope, std::string& out);
  void Assign(const Target& target, Value value, const ScopePtr& scope);
  Value Invoke(const Stmt& macro, const ScopePtr& defining_scope, CallArgs& args);
  Value ApplyFilters(const std::vector<ExprPtr>& filters, Value input, const ScopePtr& scope);

  Value Eval(const Expr& e, const ScopePtr& scope);
  Value EvalInner(const Expr& e, const ScopePtr& scope);
  CallArgs EvalArgs(const ArgsNode& args, const ScopePtr& scope);
  Value Binary(const std::string& op, const Value& a, const Value& b);
  Value BinaryInner(const std::string& op, const Value& a, const Value& b);
  // The operators on values that are not both numbers: `+` of strings or lists, `*` of a
  // sequence by an int, `%` formatting of a string.
  Value Concatenate(const std::string& op, const Value& a, const Value& b);
  Value Repeat(const Value& a, const Value& b);
  Value FormatPercent(const Value& format, const Value& args);
  bool CompareOp(const std::string& op, const Value& a, const Value& b);

  void Append(std::string& out, std::string_view text) const;
  void Step();
  void CheckStack() const;

  RenderLimits limits_;
  std::function<std::tm()> now_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  uintptr_t stack_base_ = 0;
  std::vector<Value> tracked_;
};

}  // namespace naut::llm::jinja

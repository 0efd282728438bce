#include "llm/jinja_interp.h"

#include <cmath>
#include <limits>

#include "llm/jinja_builtins.h"

namespace naut::llm::jinja {

namespace {

[[noreturn]] void FailUndefined(const Value& v) {
  const std::string& hint = v.undefined_hint();
  RuntimeError(hint.empty() ? "undefined value" : hint);
}

// Jinja2's names for objects in "has no attribute" messages.
std::string ObjectName(const Value& v) {
  if (v.is_none()) return "None";
  return TypeName(v) + " object";
}

Value NoAttribute(const Value& obj, const std::string& name) {
  return Value::Undefined("'" + ObjectName(obj) + "' has no attribute '" + name + "'");
}

// Python integers do not overflow; ours are 64 bits and say so when a result does not fit.
int64_t Add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    RuntimeError("integer overflow: the result does not fit in 64 bits");
  return r;
}
int64_t Sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r))
    RuntimeError("integer overflow: the result does not fit in 64 bits");
  return r;
}
int64_t Mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    RuntimeError("integer overflow: the result does not fit in 64 bits");
  return r;
}

uintptr_t StackPosition() { return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)); }

}  // namespace

const Value* Scope::Find(const std::string& name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent_.get()) {
    auto it = s->vars_.find(name);
    if (it != s->vars_.end()) return &it->second;
  }
  return nullptr;
}

Runtime::Runtime(const RenderLimits& limits, std::function<std::tm()> now)
    : limits_(limits), now_(std::move(now)) {}

Runtime::~Runtime() {
  // Break the reference cycles a render may have made (a namespace holding itself) so that
  // everything is freed. Macros hold their defining scope weakly, so they make none.
  for (Value& v : tracked_) {
    if (v.is_namespace()) v.ns().attrs.clear();
  }
}

std::string Runtime::Render(const Program& program,
                            const std::vector<std::pair<std::string, Value>>& variables) {
  stack_base_ = StackPosition();
  auto root = std::make_shared<Scope>(nullptr);
  for (auto& [name, value] : Globals()) root->Set(name, std::move(value));
  for (const auto& [name, value] : variables) root->Set(name, value);
  std::string out;
  ExecBody(program.body, root, out);
  return out;
}

std::tm Runtime::Now() const {
  if (now_) return now_();
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

void Runtime::CheckSize(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    Throw(TemplateError::Kind::kLimit, "the template builds text larger than the limit of " +
                                           std::to_string(limits_.max_output_bytes) + " bytes");
  }
}

void Runtime::Append(std::string& out, std::string_view text) const {
  CheckSize(out.size() + text.size());
  AddWork(text.size() / 256);
  out += text;
}

void Runtime::Step() {
  steps_ += 1 + static_cast<int64_t>(TakeWork());
  if (steps_ > limits_.max_steps) {
    Throw(TemplateError::Kind::kLimit,
          "the template ran more than " + std::to_string(limits_.max_steps) +
              " steps (statements, loop iterations and work on big values)");
  }
}

void Runtime::CheckStack() const {
  const uintptr_t here = StackPosition();
  const uintptr_t used = stack_base_ > here ? stack_base_ - here : here - stack_base_;
  if (used > limits_.max_stack_bytes) {
    Throw(TemplateError::Kind::kLimit, "the template recurses too deeply (more than " +
                                           std::to_string(limits_.max_stack_bytes >> 10) +
                                           " KiB of stack)");
  }
}

// ---- statements --------------------------------------------------------------------------

Runtime::Flow Runtime::ExecBody(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& s : body) {
    const Flow f = Exec(*s, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Runtime::Flow Runtime::Exec(const Stmt& s, const ScopePtr& scope, std::string& out) {
  Step();
  CheckStack();
  try {
    switch (s.kind) {
      case Stmt::Kind::kText:
        Append(out, s.text);
        return Flow::kNormal;
      case Stmt::Kind::kPrint: {
        const Value v = Eval(*s.expr, scope);
        if (v.is_string()) {
          Append(out, v.as_string());
        } else {
          Append(out, Str(v));
        }
        return Flow::kNormal;
      }
      case Stmt::Kind::kIf:
        for (size_t i = 0; i < s.conditions.size(); ++i) {
          if (Truthy(Eval(*s.conditions[i], scope))) return ExecBody(s.bodies[i], scope, out);
        }
        return ExecBody(s.else_body, scope, out);
      case Stmt::Kind::kFor:
        return ExecFor(s, scope, out);
      case Stmt::Kind::kSet:
        Assign(s.target, Eval(*s.expr, scope), scope);
        return Flow::kNormal;
      case Stmt::Kind::kSetBlock: {
        std::string buf;
        const Flow f = ExecBody(s.body, scope, buf);
        Assign(s.target, ApplyFilters(s.filters, Value(std::move(buf)), scope), scope);
        return f;
      }
      case Stmt::Kind::kMacro: {
        const Stmt* macro = &s;
        std::weak_ptr<Scope> weak = scope;
        scope->Set(
            s.name, Value::Function("macro '" + s.name + "'", [this, macro, weak](Runtime&,
                                                                                  CallArgs& args) {
              ScopePtr defining = weak.lock();
              if (!defining) {
                RuntimeError("macro '" + macro->name + "' outlived the scope it was defined in");
              }
              return Invoke(*macro, defining, args);
            }));
        return Flow::kNormal;
      }
      case Stmt::Kind::kCallBlock:
        ExecCallBlock(s, scope, out);
        return Flow::kNormal;
      case Stmt::Kind::kFilterBlock: {
        std::string buf;
        const Flow f = ExecBody(s.body, scope, buf);
        Append(out, Str(ApplyFilters(s.filters, Value(std::move(buf)), scope)));
        return f;
      }
      case Stmt::Kind::kWith: {
        auto inner = std::make_shared<Scope>(scope);
        std::vector<Value> values;
        for (const auto& v : s.with_values) values.push_back(Eval(*v, scope));
        for (size_t i = 0; i < s.with_names.size(); ++i) inner->Set(s.with_names[i], values[i]);
        return ExecBody(s.body, inner, out);
      }
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
      case Stmt::Kind::kScope:
        return ExecBody(s.body, scope, out);
    }
  } catch (TemplateError& e) {
    if (e.loc.line == 0) e.loc = s.loc;
    throw;
  }
  return Flow::kNormal;
}

Runtime::Flow Runtime::ExecFor(const Stmt& s, const ScopePtr& scope, std::string& out) {
  const Value iterable = Eval(*s.expr, scope);
  std::vector<Value> items = Iterate(iterable);
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      Step();
      auto probe = std::make_shared<Scope>(scope);
      Assign(s.target, item, probe);
      if (Truthy(Eval(*s.filter, probe))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return ExecBody(s.else_body, scope, out);
  const int64_t n = static_cast<int64_t>(items.size());
  auto last_changed = std::make_shared<std::vector<Value>>();
  auto changed_seen = std::make_shared<bool>(false);
  for (int64_t i = 0; i < n; ++i) {
    Step();
    auto inner = std::make_shared<Scope>(scope);
    Assign(s.target, items[i], inner);
    if (s.uses_loop) {
      DictData loop;
      loop.Set("index", Value(i + 1));
      loop.Set("index0", Value(i));
      loop.Set("revindex", Value(n - i));
      loop.Set("revindex0", Value(n - i - 1));
      loop.Set("first", Value(i == 0));
      loop.Set("last", Value(i == n - 1));
      loop.Set("length", Value(n));
      loop.Set("depth", Value(1));
      loop.Set("depth0", Value(0));
      if (i > 0) loop.Set("previtem", items[i - 1]);
      if (i + 1 < n) loop.Set("nextitem", items[i + 1]);
      loop.Set("cycle", Value::Function("loop.cycle", [i](Runtime&, CallArgs& a) {
                 if (a.positional.empty()) RuntimeError("no items for cycling given");
                 return a.positional[static_cast<size_t>(i) % a.positional.size()];
               }));
      loop.Set("changed",
               Value::Function("loop.changed", [last_changed, changed_seen](Runtime&, CallArgs& a) {
                 bool changed = !*changed_seen || last_changed->size() != a.positional.size();
                 for (size_t k = 0; !changed && k < a.positional.size(); ++k) {
                   changed = !Equal((*last_changed)[k], a.positional[k]);
                 }
                 *changed_seen = true;
                 *last_changed = a.positional;
                 return Value(changed);
               }));
      inner->Set("loop", Value::Dict(std::move(loop)));
    }
    if (ExecBody(s.body, inner, out) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Runtime::ExecCallBlock(const Stmt& s, const ScopePtr& scope, std::string& out) {
  const Stmt* block = &s;
  Value caller = Value::Function("caller", [this, block, scope](Runtime&, CallArgs& args) {
    return Invoke(*block, scope, args);
  });
  const Expr& call = *s.expr;
  const Value callee = Eval(*call.kids[0], scope);
  CallArgs args = EvalArgs(call.args, scope);
  args.keywords.emplace_back("caller", std::move(caller));
  const Value result = Call(callee, args);
  Append(out, Str(result));
}

void Runtime::Assign(const Target& target, Value value, const ScopePtr& scope) {
  if (!target.attribute.empty()) {
    const Value* ns = scope->Find(target.names[0]);
    if (ns == nullptr || !ns->is_namespace()) {
      RuntimeError("cannot assign attribute on non-namespace object '" + target.names[0] + "'");
    }
    ns->ns().Set(target.attribute, std::move(value));
    return;
  }
  if (!target.unpack) {
    scope->Set(target.names[0], std::move(value));
    return;
  }
  std::vector<Value> parts = Iterate(value);
  if (parts.size() != target.names.size()) {
    if (parts.size() > target.names.size()) {
      RuntimeError("too many values to unpack (expected " + std::to_string(target.names.size()) +
                   ")");
    }
    RuntimeError("not enough values to unpack (expected " + std::to_string(target.names.size()) +
                 ", got " + std::to_string(parts.size()) + ")");
  }
  for (size_t i = 0; i < parts.size(); ++i) scope->Set(target.names[i], std::move(parts[i]));
}

Value Runtime::Invoke(const Stmt& macro, const ScopePtr& defining_scope, CallArgs& args) {
  CheckStack();
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    Throw(TemplateError::Kind::kLimit,
          "macro calls nest deeper than " + std::to_string(limits_.max_call_depth) + " levels");
  }
  struct DepthRelease {
    int& depth;
    ~DepthRelease() { --depth; }
  } release{call_depth_};
  const std::string what =
      macro.kind == Stmt::Kind::kMacro ? "macro '" + macro.name + "'" : "caller";
  auto scope = std::make_shared<Scope>(defining_scope);
  std::vector<std::pair<std::string, Value>> keywords = std::move(args.keywords);
  Value caller;
  bool has_caller = false;
  for (auto it = keywords.begin(); it != keywords.end(); ++it) {
    if (it->first == "caller" && macro.kind == Stmt::Kind::kMacro) {
      caller = std::move(it->second);
      has_caller = true;
      keywords.erase(it);
      break;
    }
  }
  const size_t n_pos = args.positional.size();
  // Every parameter is local from the start: a default naming a later parameter (or itself)
  // sees it undefined, never a variable of the same name outside.
  for (const MacroParam& p : macro.params) {
    scope->Set(p.name, Value::Undefined("parameter '" + p.name + "' was not provided"));
  }
  for (size_t i = 0; i < macro.params.size(); ++i) {
    const MacroParam& p = macro.params[i];
    auto kw = std::find_if(keywords.begin(), keywords.end(),
                           [&](const auto& k) { return k.first == p.name; });
    if (i < n_pos) {
      if (kw != keywords.end()) {
        RuntimeError(what + " got multiple values for argument '" + p.name + "'");
      }
      scope->Set(p.name, args.positional[i]);
    } else if (kw != keywords.end()) {
      scope->Set(p.name, std::move(kw->second));
      keywords.erase(kw);
    } else if (p.default_value) {
      scope->Set(p.name, Eval(*p.default_value, scope));
    } else {
      scope->Set(p.name, Value::Undefined("parameter '" + p.name + "' was not provided"));
    }
  }
  if (n_pos > macro.params.size()) {
    if (!macro.uses_varargs) {
      RuntimeError(what + " takes not more than " + std::to_string(macro.params.size()) +
                   " argument(s)");
    }
  }
  if (macro.uses_varargs) {
    std::vector<Value> extra;
    for (size_t i = macro.params.size(); i < n_pos; ++i) extra.push_back(args.positional[i]);
    scope->Set("varargs", Value::Tuple(std::move(extra)));
  }
  if (!keywords.empty() && !macro.uses_kwargs) {
    RuntimeError(what + " takes no keyword argument '" + keywords.front().first + "'");
  }
  if (macro.uses_kwargs) {
    DictData kw;
    for (auto& [k, v] : keywords) kw.Set(Value(k), std::move(v));
    scope->Set("kwargs", Value::Dict(std::move(kw)));
  }
  if (has_caller) scope->Set("caller", std::move(caller));
  std::string out;
  ExecBody(macro.body, scope, out);
  return Value(std::move(out));
}

Value Runtime::ApplyFilters(const std::vector<ExprPtr>& filters, Value input,
                            const ScopePtr& scope) {
  for (const auto& f : filters) {
    CallArgs args = EvalArgs(f->args, scope);
    try {
      input = ApplyFilter(*this, f->name, input, args);
    } catch (TemplateError& e) {
      if (e.loc.line == 0) e.loc = f->loc;
      throw;
    }
  }
  return input;
}

// ---- expressions -------------------------------------------------------------------------

Value Runtime::Eval(const Expr& e, const ScopePtr& scope) {
  try {
    return EvalInner(e, scope);
  } catch (TemplateError& err) {
    if (err.loc.line == 0) err.loc = e.loc;
    throw;
  }
}

CallArgs Runtime::EvalArgs(const ArgsNode& args, const ScopePtr& scope) {
  CallArgs out;
  for (const auto& a : args.positional) out.positional.push_back(Eval(*a, scope));
  if (args.star_args) {
    for (Value& v : Iterate(Eval(*args.star_args, scope))) out.positional.push_back(std::move(v));
  }
  for (const auto& [name, a] : args.keywords) out.keywords.emplace_back(name, Eval(*a, scope));
  if (args.star_kwargs) {
    const Value d = Eval(*args.star_kwargs, scope);
    if (!d.is_dict()) RuntimeError("argument after ** must be a mapping, not " + TypeName(d));
    for (const auto& [k, v] : d.dict().entries()) {
      if (!k.is_string()) RuntimeError("keywords must be strings");
      out.keywords.emplace_back(k.as_string(), v);
    }
  }
  return out;
}

// Long because it is a flat dispatch: one short case per expression kind, each evaluating its
// children and handing the operation itself to GetAttr, GetItem, Slice, Call, Binary and the
// like. Splitting the switch would only scatter the cases.
Value Runtime::EvalInner(const Expr& e, const ScopePtr& scope) {
  CheckStack();
  switch (e.kind) {
    case Expr::Kind::kConst:
      return e.constant;
    case Expr::Kind::kName: {
      const Value* v = scope->Find(e.name);
      if (v == nullptr) return Value::Undefined("'" + e.name + "' is undefined");
      return *v;
    }
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.kids.size());
      for (const auto& k : e.kids) items.push_back(Eval(*k, scope));
      return e.kind == Expr::Kind::kList ? Value::List(std::move(items))
                                         : Value::Tuple(std::move(items));
    }
    case Expr::Kind::kDict: {
      DictData d;
      for (size_t i = 0; i + 1 < e.kids.size(); i += 2) {
        Value key = Eval(*e.kids[i], scope);
        d.Set(std::move(key), Eval(*e.kids[i + 1], scope));
      }
      return Value::Dict(std::move(d));
    }
    case Expr::Kind::kGetAttr:
      return GetAttr(Eval(*e.kids[0], scope), e.name);
    case Expr::Kind::kGetItem: {
      const Value obj = Eval(*e.kids[0], scope);
      return GetItem(obj, Eval(*e.kids[1], scope));
    }
    case Expr::Kind::kSlice: {
      const Value obj = Eval(*e.kids[0], scope);
      if (obj.is_undefined()) FailUndefined(obj);
      auto part = [&](size_t i) { return e.kids[i] ? Eval(*e.kids[i], scope) : Value(nullptr); };
      const Value start = part(1), stop = part(2), step = part(3);
      Value out = Slice(obj, start, stop, step);
      if (out.is_undefined()) {
        // Jinja2 slices with Python's own [] (not its forgiving getitem): a value that cannot
        // be sliced is a TypeError.
        if (obj.is_dict()) RuntimeError("unhashable type: 'slice'");
        RuntimeError("'" + TypeName(obj) + "' object is not subscriptable");
      }
      return out;
    }
    case Expr::Kind::kCall: {
      const Value callee = Eval(*e.kids[0], scope);
      CallArgs args = EvalArgs(e.args, scope);
      Step();
      return Call(callee, args);
    }
    case Expr::Kind::kFilter: {
      const Value input = e.kids.empty() ? Value() : Eval(*e.kids[0], scope);
      CallArgs args = EvalArgs(e.args, scope);
      Step();
      return ApplyFilter(*this, e.name, input, args);
    }
    case Expr::Kind::kTest: {
      const Value v = Eval(*e.kids[0], scope);
      CallArgs args = EvalArgs(e.args, scope);
      const bool r = ApplyTest(*this, e.name, v, args);
      return Value(e.negated ? !r : r);
    }
    case Expr::Kind::kNot:
      return Value(!Truthy(Eval(*e.kids[0], scope)));
    case Expr::Kind::kNeg:
    case Expr::Kind::kPos: {
      const Value v = Eval(*e.kids[0], scope);
      if (v.is_undefined()) FailUndefined(v);
      const bool neg = e.kind == Expr::Kind::kNeg;
      if (v.is_float()) return Value(neg ? -v.as_float() : v.as_float());
      if (v.is_int() || v.is_bool()) {
        const int64_t i = v.ToInt();
        if (!neg) return Value(i);
        return Value(Sub(0, i));
      }
      RuntimeError(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" +
                   TypeName(v) + "'");
    }
    case Expr::Kind::kBinary: {
      const Value a = Eval(*e.kids[0], scope);
      const Value b = Eval(*e.kids[1], scope);
      Step();
      return Binary(e.name, a, b);
    }
    case Expr::Kind::kConcat: {
      std::string s;
      for (const auto& k : e.kids) {
        const Value v = Eval(*k, scope);
        const std::string part = Str(v);
        CheckSize(s.size() + part.size());
        s += part;
      }
      AddWork(s.size() / 256);
      return Value(std::move(s));
    }
    case Expr::Kind::kCompare: {
      Value left = Eval(*e.kids[0], scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = Eval(*e.kids[i + 1], scope);
        Step();
        if (!CompareOp(e.ops[i], left, right)) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case Expr::Kind::kAnd: {
      Value a = Eval(*e.kids[0], scope);
      if (!Truthy(a)) return a;
      return Eval(*e.kids[1], scope);
    }
    case Expr::Kind::kOr: {
      Value a = Eval(*e.kids[0], scope);
      if (Truthy(a)) return a;
      return Eval(*e.kids[1], scope);
    }
    case Expr::Kind::kCondExpr:
      if (Truthy(Eval(*e.kids[0], scope))) return Eval(*e.kids[1], scope);
      if (e.kids[2]) return Eval(*e.kids[2], scope);
      return Value::Undefined(
          "the inline if-expression evaluated to false and no else section was defined");
  }
  return Value();
}

Value Runtime::Call(const Value& callee, CallArgs& args) {
  if (callee.is_function()) return callee.function().call(*this, args);
  if (callee.is_undefined()) FailUndefined(callee);
  RuntimeError("'" + TypeName(callee) + "' object is not callable");
}

Value Runtime::GetAttr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      FailUndefined(obj);
    case Value::Kind::kDict: {
      if (auto m = FindMethod(obj, name)) return *m;
      const Value* v = obj.dict().Find(std::string_view(name));
      return v != nullptr ? *v : NoAttribute(obj, name);
    }
    case Value::Kind::kNamespace: {
      const Value* v = obj.ns().Find(name);
      return v != nullptr ? *v : NoAttribute(obj, name);
    }
    default:
      if (auto m = FindMethod(obj, name)) return *m;
      return NoAttribute(obj, name);
  }
}

Value Runtime::GetItem(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      FailUndefined(obj);
    case Value::Kind::kDict: {
      const Value* v = obj.dict().Find(key);
      if (v != nullptr) return *v;
      break;
    }
    case Value::Kind::kList:
    case Value::Kind::kString:
      if ((key.is_int() || key.is_bool()) && !obj.is_generator()) {
        int64_t i = key.ToInt();
        if (obj.is_list()) {
          const auto& items = obj.items();
          const int64_t n = static_cast<int64_t>(items.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
        } else {
          const std::string& s = obj.as_string();
          if (IsAscii(s)) {
            const int64_t n = static_cast<int64_t>(s.size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) return Value(s.substr(static_cast<size_t>(i), 1));
          } else {
            const std::u32string cps = DecodeUtf8(s);
            const int64_t n = static_cast<int64_t>(cps.size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
              std::string c;
              AppendUtf8(c, cps[static_cast<size_t>(i)]);
              return Value(std::move(c));
            }
          }
        }
        return Value::Undefined("'" + ObjectName(obj) + "' has no element " +
                                std::to_string(key.ToInt()));
      }
      break;
    case Value::Kind::kNamespace:
      if (key.is_string()) {
        const Value* v = obj.ns().Find(key.as_string());
        if (v != nullptr) return *v;
      }
      break;
    default:
      break;
  }
  if (key.is_string()) {
    if (auto m = FindMethod(obj, key.as_string())) return *m;
    return NoAttribute(obj, key.as_string());
  }
  return Value::Undefined("'" + ObjectName(obj) + "' has no attribute " + Repr(key));
}

Value Runtime::Binary(const std::string& op, const Value& a, const Value& b) {
  Value result = BinaryInner(op, a, b);
  if (result.is_string()) AddWork(result.as_string().size() / 256);
  return result;
}

namespace {

[[noreturn]] void Unsupported(const std::string& op, const Value& a, const Value& b) {
  RuntimeError("unsupported operand type(s) for " + op + ": '" + TypeName(a) + "' and '" +
               TypeName(b) + "'");
}

// Python's arithmetic on two numbers: ints stay ints (with overflow checked) unless `/` or a
// float is involved; `//` and `%` round toward negative infinity.
Value NumberOp(const std::string& op, const Value& a, const Value& b) {
  const bool ints = !a.is_float() && !b.is_float();
  const int64_t x = a.ToInt(), y = b.ToInt();
  const double dx = a.ToDouble(), dy = b.ToDouble();
  if (op == "+") {
    if (ints) return Value(Add(x, y));
    return Value(dx + dy);
  }
  if (op == "-") {
    if (ints) return Value(Sub(x, y));
    return Value(dx - dy);
  }
  if (op == "*") {
    if (ints) return Value(Mul(x, y));
    return Value(dx * dy);
  }
  if (op == "/") {
    if (dy == 0) RuntimeError("division by zero");
    return Value(dx / dy);
  }
  if (op == "//" || op == "%") {
    if (ints) {
      if (y == 0) RuntimeError("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) {
        if (op == "%") return Value(int64_t{0});
        RuntimeError("integer overflow: the result does not fit in 64 bits");
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return op == "//" ? Value(q) : Value(m);
    }
    if (dy == 0) RuntimeError("float division by zero");
    if (op == "//") return Value(std::floor(dx / dy));
    double m = std::fmod(dx, dy);
    if (m != 0 && ((m < 0) != (dy < 0))) m += dy;
    return Value(m);
  }
  if (op == "**") {
    if (ints && y >= 0) {
      int64_t result = 1, base = x;
      int64_t e = y;
      while (e > 0) {
        if (e & 1) result = Mul(result, base);
        e >>= 1;
        if (e > 0) base = Mul(base, base);
      }
      return Value(result);
    }
    if (dx == 0 && dy < 0) RuntimeError("0.0 cannot be raised to a negative power");
    return Value(std::pow(dx, dy));
  }
  Unsupported(op, a, b);
}

}  // namespace

Value Runtime::BinaryInner(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) FailUndefined(a);
  // `str % undefined` is Python formatting with an empty mapping-like argument; every other
  // operation on an undefined value fails.
  if (b.is_undefined() && !(op == "%" && a.is_string())) FailUndefined(b);
  if (a.is_number() && b.is_number()) return NumberOp(op, a, b);
  if (op[0] == '+') return Concatenate(op, a, b);
  if (op == "*") return Repeat(a, b);
  if (op == "%" && a.is_string()) return FormatPercent(a, b);
  Unsupported(op, a, b);
}

Value Runtime::Concatenate(const std::string& op, const Value& a, const Value& b) {
  if (a.is_string() && b.is_string()) {
    if (a.is_markup() || b.is_markup()) {
      // markupsafe: the plain side is escaped and the result is safe.
      std::string s = a.is_markup() ? a.as_string() : HtmlEscape(a.as_string());
      s += b.is_markup() ? b.as_string() : HtmlEscape(b.as_string());
      CheckSize(s.size());
      return Value::Markup(std::move(s));
    }
    CheckSize(a.as_string().size() + b.as_string().size());
    return Value(a.as_string() + b.as_string());
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() &&
      !b.is_generator()) {
    std::vector<Value> items = a.items();
    items.insert(items.end(), b.items().begin(), b.items().end());
    return a.is_tuple() ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
  }
  if (a.is_string() || a.is_list()) {
    RuntimeError("can only concatenate " + TypeName(a) + " (not \"" + TypeName(b) + "\") to " +
                 TypeName(a));
  }
  Unsupported(op, a, b);
}

Value Runtime::Repeat(const Value& a, const Value& b) {
  const Value& seq = a.is_number() ? b : a;
  const Value& count = a.is_number() ? a : b;
  if ((seq.is_string() || (seq.is_list() && !seq.is_generator())) &&
      (count.is_int() || count.is_bool())) {
    const int64_t n = std::max<int64_t>(0, count.ToInt());
    if (seq.is_string()) {
      const std::string& s = seq.as_string();
      if (!s.empty() && n > 0) {
        if (static_cast<uint64_t>(n) > limits_.max_output_bytes / s.size() + 1) {
          CheckSize(limits_.max_output_bytes + 1);
        }
        CheckSize(s.size() * static_cast<size_t>(n));
      }
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += s;
      return seq.is_markup() ? Value::Markup(std::move(out)) : Value(std::move(out));
    }
    const auto& src = seq.items();
    if (!src.empty() && static_cast<uint64_t>(n) > kMaxListItems / src.size()) {
      Throw(TemplateError::Kind::kLimit,
            "a list of more than " + std::to_string(kMaxListItems) + " items");
    }
    std::vector<Value> items;
    for (int64_t i = 0; i < n; ++i) items.insert(items.end(), src.begin(), src.end());
    return seq.is_tuple() ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
  }
  RuntimeError("can't multiply sequence by non-int of type '" + TypeName(count) + "'");
}

Value Runtime::FormatPercent(const Value& format, const Value& args) {
  if (format.is_markup()) {
    // markupsafe escapes the arguments of a safe format string.
    auto escape = [](const Value& v) {
      return v.is_markup() ? v : Value::Markup(HtmlEscape(Str(v)));
    };
    Value escaped = args;
    if (args.is_tuple()) {
      std::vector<Value> items;
      for (const Value& item : args.items()) items.push_back(escape(item));
      escaped = Value::Tuple(std::move(items));
    } else if (!args.is_dict()) {
      escaped = escape(args);
    }
    std::string s = PercentFormat(*this, format.as_string(), escaped);
    CheckSize(s.size());
    return Value::Markup(std::move(s));
  }
  std::string s = PercentFormat(*this, format.as_string(), args);
  CheckSize(s.size());
  return Value(std::move(s));
}

bool Runtime::CompareOp(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return Equal(a, b);
  if (op == "!=") return !Equal(a, b);
  if (op == "in" || op == "not in") {
    bool found = false;
    switch (b.kind()) {
      case Value::Kind::kUndefined:
        break;
      case Value::Kind::kString:
        if (!a.is_string()) {
          RuntimeError("'in <string>' requires string as left operand, not " + TypeName(a));
        }
        AddWork(b.as_string().size() / 256);
        found = b.as_string().find(a.as_string()) != std::string::npos;
        break;
      case Value::Kind::kList:
        for (const Value& item : b.items()) {
          if (Equal(item, a)) {
            found = true;
            break;
          }
        }
        break;
      case Value::Kind::kDict:
        if ((a.is_list() && !a.is_tuple()) || a.is_dict() || a.is_namespace()) {
          RuntimeError("unhashable type: '" + TypeName(a) + "'");
        }
        found = b.dict().Find(a) != nullptr;
        break;
      default:
        RuntimeError("argument of type '" + TypeName(b) + "' is not iterable");
    }
    return op == "in" ? found : !found;
  }
  if (a.is_undefined()) FailUndefined(a);
  if (b.is_undefined()) FailUndefined(b);
  const int c = Compare(a, b, op);
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  RuntimeError("unknown comparison '" + op + "'");
}

}  // namespace naut::llm::jinja

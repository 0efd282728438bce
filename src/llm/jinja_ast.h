#pragma once
// The parsed form of a Jinja template (part of the engine behind llm/jinja.h): expressions and
// statements as the parser (jinja_parser.h) builds them and the interpreter (jinja_interp.h)
// runs them. Nodes are immutable after parsing; a Program may be rendered by several threads
// at once.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llm/jinja_value.h"

namespace naut::llm::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct ArgsNode {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star_args;    // *list
  ExprPtr star_kwargs;  // **dict
};

struct Expr {
  enum class Kind {
    kConst,     // constant
    kName,      // name
    kList,      // kids
    kTuple,     // kids
    kDict,      // kids: key, value, key, value, ...
    kGetAttr,   // kids[0].name
    kGetItem,   // kids[0][kids[1]]
    kSlice,     // kids[0][kids[1]:kids[2]:kids[3]], absent parts null
    kCall,      // kids[0](args)
    kFilter,    // kids[0] | name(args); kids empty inside a {% filter %} block
    kTest,      // kids[0] is [not] name(args)
    kNot,       // not kids[0]
    kNeg,       // -kids[0]
    kPos,       // +kids[0]
    kBinary,    // kids[0] name kids[1], name one of + - * / // % **
    kConcat,    // kids joined with ~
    kCompare,   // kids[0] ops[0] kids[1] ops[1] kids[2] ...
    kAnd,       // kids[0] and kids[1]
    kOr,        // kids[0] or kids[1]
    kCondExpr,  // kids[1] if kids[0] else kids[2] (kids[2] may be null)
  };
  Kind kind;
  Loc loc;
  int depth = 1;  // of the tree below, bounded by the parser so that evaluating it cannot
                  // exhaust the stack
  Value constant;
  std::string name;
  std::vector<ExprPtr> kids;
  std::vector<std::string> ops;
  ArgsNode args;
  bool negated = false;  // kTest
};

// What `for` and `set` assign to: one name, several names unpacked, or a namespace attribute.
struct Target {
  std::vector<std::string> names;
  bool unpack = false;    // `a, b` (names.size() may still be 1: `a,`)
  std::string attribute;  // `ns.attr`: names[0] is ns
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Stmt {
  enum class Kind {
    kText,         // text
    kPrint,        // {{ expr }}
    kIf,           // conditions[i] -> bodies[i]; else_body
    kFor,          // for target in expr [if filter]: body; else_body
    kSet,          // set target = expr
    kSetBlock,     // set target: body, then filters
    kMacro,        // macro name(params): body
    kCallBlock,    // call(params) expr: body as caller()
    kFilterBlock,  // filter filters: body
    kWith,         // with target[i] = values[i]: body
    kBreak,
    kContinue,
    kScope,  // a body with no scope of its own ({% generation %})
  };
  Kind kind;
  Loc loc;
  std::string text;
  ExprPtr expr;
  Target target;
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body body;
  Body else_body;
  ExprPtr filter;                // for: the `if`
  std::vector<ExprPtr> filters;  // set block / filter block: kFilter nodes with no kids
  std::string name;              // macro
  std::vector<MacroParam> params;
  bool uses_loop = false;     // for body reads `loop`
  bool uses_varargs = false;  // macro body reads `varargs` / `kwargs` / `caller`
  bool uses_kwargs = false;
  bool uses_caller = false;
  std::vector<std::string> with_names;
  std::vector<ExprPtr> with_values;
};

struct Program {
  Body body;
};

}  // namespace naut::llm::jinja

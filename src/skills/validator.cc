#include "skills/validator.h"

#include "core/json.h"
#include "core/subprocess.h"

namespace naut::skills {

namespace {

// Reads the code from stdin, prints one JSON object. Uses only the standard library's parser;
// nothing of the skill is executed.
constexpr const char* kValidatorScript = R"py(
import ast, inspect, json, sys
ALLOWED = set(sys.argv[1].split(","))
FORBIDDEN_NAMES = {"__import__", "eval", "exec", "compile", "open", "globals", "locals",
                   "vars", "getattr", "setattr", "delattr", "breakpoint", "input",
                   "memoryview", "__builtins__", "__loader__", "__spec__", "exit", "quit",
                   "help"}

def fail(msg, node=None):
    if node is not None and hasattr(node, "lineno"):
        msg = "line %d: %s" % (node.lineno, msg)
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(0)

src = sys.stdin.read()
try:
    tree = ast.parse(src, "<skill>")
except SyntaxError as e:
    fail("line %s: syntax error: %s" % (e.lineno, e.msg))
except ValueError as e:
    fail("not parseable: %s" % e)

entries = []
for i, node in enumerate(tree.body):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if not node.name.startswith("_"):
            entries.append(node)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        pass
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        pass
    elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
        pass
    else:
        fail("a top-level %s would run when the skill is loaded; put it inside the entry "
             "function" % type(node).__name__, node)

for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        for a in node.names:
            root = a.name.split(".")[0]
            if root not in ALLOWED:
                fail("import of '%s' is not allowed; skills may import %s" %
                     (a.name, ", ".join(sorted(ALLOWED))), node)
    elif isinstance(node, ast.ImportFrom):
        root = (node.module or "").split(".")[0]
        if node.level or root not in ALLOWED:
            fail("import from '%s' is not allowed; skills may import %s" %
                 (node.module or "." * node.level, ", ".join(sorted(ALLOWED))), node)
    elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
        fail("'%s' is not allowed in a skill" % node.id, node)
    elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr.endswith("__"):
        fail("dunder attribute '%s' is not allowed in a skill" % node.attr, node)

if len(entries) != 1:
    names = ", ".join(f.name for f in entries) or "none"
    fail("a skill defines exactly one public top-level function (helpers start with '_'); "
         "found %d: %s" % (len(entries), names))
fn = entries[0]
doc = ast.get_docstring(fn)
if not doc or not doc.strip():
    fail("function '%s' has no docstring; say what it does, its arguments and what it "
         "returns" % fn.name, fn)

def src_of(node):
    return ast.unparse(node) if node is not None else None

params = []
args = fn.args
positional = args.posonlyargs + args.args
defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
for a, d in zip(positional, defaults):
    params.append({"name": a.arg, "default": src_of(d), "annotation": src_of(a.annotation) or ""})
for a, d in zip(args.kwonlyargs, args.kw_defaults):
    params.append({"name": a.arg, "default": src_of(d), "annotation": src_of(a.annotation) or ""})
if args.vararg or args.kwarg:
    fail("function '%s' takes *args or **kwargs; name every parameter so it can be "
         "described to the model" % fn.name, fn)

print(json.dumps({"ok": True, "entry": fn.name, "docstring": inspect.cleandoc(doc),
                  "params": params, "async": isinstance(fn, ast.AsyncFunctionDef)}))
)py";

// Reads the code from stdin, prints {"drop": [[first, last], ...]}: the line ranges of the
// top-level statements that run a function of the code when it is loaded.
constexpr const char* kLoadTimeCallsScript = R"py(
import ast, json, sys
try:
    tree = ast.parse(sys.stdin.read(), "<skill>")
except (SyntaxError, ValueError):
    print(json.dumps({"drop": []}))
    sys.exit(0)
defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

def runs_own(expr):
    if isinstance(expr, ast.Await):
        expr = expr.value
    if not isinstance(expr, ast.Call):
        return False
    if isinstance(expr.func, ast.Name) and expr.func.id in defined:
        return True
    # print(run()), asyncio-free wrappers of one call
    return (isinstance(expr.func, ast.Name) and expr.func.id == "print" and
            len(expr.args) == 1 and not expr.keywords and runs_own(expr.args[0]))

def is_main_guard(node):
    t = node.test
    return (isinstance(node, ast.If) and isinstance(t, ast.Compare) and
            isinstance(t.left, ast.Name) and t.left.id == "__name__" and len(t.ops) == 1 and
            isinstance(t.ops[0], ast.Eq) and isinstance(t.comparators[0], ast.Constant) and
            t.comparators[0].value == "__main__")

def shares_a_line(node):
    return any(o is not node and o.lineno <= node.end_lineno and node.lineno <= o.end_lineno
               for o in tree.body)

drop = []
for node in tree.body:
    if shares_a_line(node):
        continue
    value = None
    if isinstance(node, ast.Expr):
        value = node.value
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
        value = node.value
    if (value is not None and runs_own(value)) or (isinstance(node, ast.If) and is_main_guard(node)):
        drop.append([node.lineno, node.end_lineno])
print(json.dumps({"drop": drop}))
)py";

// Runs one of the scripts above on `code` (stdin) and reads the JSON object it prints.
Result<Json> RunScript(const char* script, const std::string& arg, const std::string& code,
                       std::chrono::milliseconds timeout, const std::string& what) {
  std::vector<std::string> argv = {"python3", "-I", "-c", script};
  if (!arg.empty()) argv.push_back(arg);
  auto run = RunCommand(
      {.argv = std::move(argv), .env = {{"PYTHONIOENCODING", "utf-8"}}, .clear_env = true}, code,
      timeout);
  if (!run) return Unavailable(what + " needs python3: " + run.error().message());
  if (run->timed_out) return DeadlineExceeded(what + ": python3 took too long");
  if (!run->status.success()) {
    return Unavailable(what + ": python3 failed (" + run->status.ToString() +
                       "): " + run->err.substr(0, 400));
  }
  return ParseJson(run->out, what + " output");
}

}  // namespace

const std::vector<std::string>& AllowedImports() {
  static const std::vector<std::string> kAllowed = {
      "tools",       "json",        "re",        "math",      "random",  "time",
      "datetime",    "collections", "itertools", "functools", "string",  "typing",
      "dataclasses", "statistics",  "textwrap",  "enum",      "decimal", "fractions",
      "operator",    "copy",        "heapq",     "bisect"};
  return kAllowed;
}

Result<SkillShape> ValidateSkill(const std::string& code, std::chrono::milliseconds timeout) {
  if (code.find('\0') != std::string::npos) {
    return InvalidArgument("skill: the code contains a NUL byte");
  }
  if (code.size() > 256 * 1024) {
    return InvalidArgument("skill: the code is larger than 256 KiB");
  }
  std::string allowed;
  for (const auto& m : AllowedImports()) allowed += (allowed.empty() ? "" : ",") + m;
  NAUT_ASSIGN_OR_RETURN(Json out,
                        RunScript(kValidatorScript, allowed, code, timeout, "skill validation"));
  if (!out.value("ok", false)) {
    return InvalidArgument("skill refused: " + out.value("error", std::string("unknown reason")));
  }
  SkillShape shape;
  shape.entry = out.value("entry", "");
  shape.docstring = out.value("docstring", "");
  shape.is_async = out.value("async", false);
  for (const Json& p : out.value("params", Json::array())) {
    Param param;
    param.name = p.value("name", "");
    if (p.contains("default") && p["default"].is_string()) param.default_value = p["default"];
    param.annotation = p.value("annotation", "");
    shape.params.push_back(std::move(param));
  }
  return shape;
}

Result<CleanedSkill> DropLoadTimeCalls(const std::string& code, std::chrono::milliseconds timeout) {
  CleanedSkill out{.code = code};
  // Python also ends a line at a lone \r, which the line count below does not.
  bool lone_cr = false;
  for (size_t cr = code.find('\r'); cr != std::string::npos && !lone_cr;
       cr = code.find('\r', cr + 1))
    lone_cr = cr + 1 == code.size() || code[cr + 1] != '\n';
  if (lone_cr || code.find('\0') != std::string::npos || code.size() > 256 * 1024) return out;
  NAUT_ASSIGN_OR_RETURN(Json answer,
                        RunScript(kLoadTimeCallsScript, "", code, timeout, "skill cleaning"));
  std::vector<std::pair<int, int>> ranges;
  for (const Json& r : answer.value("drop", Json::array())) {
    if (r.is_array() && r.size() == 2 && r[0].is_number_integer() && r[1].is_number_integer())
      ranges.emplace_back(r[0].get<int>(), r[1].get<int>());
  }
  if (ranges.empty()) return out;
  // Python counts lines split at \n (a \r\n ending keeps its \r on the line's text).
  out.code.clear();
  int line = 1;
  size_t range = 0;
  for (size_t at = 0; at < code.size(); ++line) {
    size_t nl = code.find('\n', at);
    size_t end = nl == std::string::npos ? code.size() : nl + 1;
    while (range < ranges.size() && ranges[range].second < line) ++range;
    bool drop = range < ranges.size() && ranges[range].first <= line;
    if (!drop) {
      out.code.append(code, at, end - at);
    } else if (line == ranges[range].first) {
      std::string first = code.substr(at, end - at);
      while (!first.empty() && (first.back() == '\n' || first.back() == '\r')) first.pop_back();
      out.dropped.push_back(std::move(first));
    }
    at = end;
  }
  return out;
}

}  // namespace naut::skills

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
  auto run = RunCommand({.argv = {"python3", "-I", "-c", kValidatorScript, allowed},
                         .env = {{"PYTHONIOENCODING", "utf-8"}},
                         .clear_env = true},
                        code, timeout);
  if (!run) return Unavailable("skill validation needs python3: " + run.error().message());
  if (run->timed_out) return DeadlineExceeded("skill validation: python3 took too long");
  if (!run->status.success()) {
    return Unavailable("skill validation: python3 failed (" + run->status.ToString() +
                       "): " + run->err.substr(0, 400));
  }
  NAUT_ASSIGN_OR_RETURN(Json out, ParseJson(run->out, "skill validator output"));
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

}  // namespace naut::skills

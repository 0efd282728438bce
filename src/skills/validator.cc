#include "skills/validator.h"

#include <algorithm>
#include <cctype>
#include <iterator>

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

// Reads the code from stdin and the docstring to add (argv[1], may be absent); prints
// {"code": ..., "dropped": [first line, ...], "docstring_added": bool}. Lines are counted as
// Python's parser counts them (\r\n, \r and \n each end one), so the statements it names are the
// ones removed.
constexpr const char* kTidyScript = R"py(
import ast, json, re, sys
src = sys.stdin.read()
doc = sys.argv[1] if len(sys.argv) > 1 else ""
try:
    tree = ast.parse(src, "<skill>")
except (SyntaxError, ValueError):
    print(json.dumps({"code": src, "dropped": [], "docstring_added": False}))
    sys.exit(0)
lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", src)
functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
defined = {n.name for n in functions}

def runs_own(expr):
    if isinstance(expr, ast.Await):
        expr = expr.value
    if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Name):
        return False
    if expr.func.id in defined:
        return True
    return (expr.func.id == "print" and len(expr.args) == 1 and not expr.keywords and
            runs_own(expr.args[0]))

def is_main_guard(node):
    t = node.test
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and
            t.left.id == "__name__" and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq) and
            isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value == "__main__")

def shares_a_line(node):
    return any(o is not node and o.lineno <= node.end_lineno and node.lineno <= o.end_lineno
               for o in tree.body)

drop = set()
dropped = []
for node in tree.body:
    if shares_a_line(node):
        continue
    value = node.value if isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
    if (value is not None and runs_own(value)) or (isinstance(node, ast.If) and is_main_guard(node)):
        drop.update(range(node.lineno, node.end_lineno + 1))
        dropped.append(lines[node.lineno - 1].rstrip("\r\n"))

# The one public function without a docstring gets `doc`, above its first statement (not when
# that statement shares the def's line).
insert = {}
public = [f for f in functions if not f.name.startswith("_")]
if doc.strip() and len(public) == 1 and ast.get_docstring(public[0]) is None:
    first = public[0].body[0]
    if first.lineno > public[0].lineno and first.lineno not in drop:
        line = lines[first.lineno - 1]
        indent = line[:len(line) - len(line.lstrip(" \t"))]
        end = re.search(r"(\r\n|\r|\n)\Z", lines[public[0].lineno - 1])
        text = " ".join(doc.split()).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        if text.endswith('"'):
            text = text[:-1] + '\\"'
        insert[first.lineno] = indent + '"""' + text + '"""' + (end.group(1) if end else "\n")

out = []
for n, line in enumerate(lines, 1):
    if n in insert:
        out.append(insert[n])
    if n not in drop:
        out.append(line)
print(json.dumps({"code": "".join(out), "dropped": dropped, "docstring_added": bool(insert)}))
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

Result<TidiedSkill> TidySkill(const std::string& code, const std::string& docstring,
                              std::chrono::milliseconds timeout) {
  if (code.find('\0') != std::string::npos || code.size() > 256 * 1024) return TidiedSkill{code};
  NAUT_ASSIGN_OR_RETURN(Json answer,
                        RunScript(kTidyScript, docstring, code, timeout, "skill tidying"));
  auto tidied = GetOptionalString(answer, "code");
  if (!tidied) return InvalidArgument("skill tidying answered no code");
  TidiedSkill out{*tidied};
  for (const Json& line : answer.value("dropped", Json::array()))
    if (line.is_string()) out.dropped.push_back(line.get<std::string>());
  out.docstring_added = answer.value("docstring_added", false);
  return out;
}

bool IsPythonKeyword(std::string_view word) {
  static constexpr std::string_view kKeywords[] = {
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  return std::find(std::begin(kKeywords), std::end(kKeywords), word) != std::end(kKeywords);
}

bool IsPythonName(std::string_view word) {
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  return !word.empty() && !std::isdigit(static_cast<unsigned char>(word[0])) &&
         std::all_of(word.begin(), word.end(), name_char) && !IsPythonKeyword(word);
}

}  // namespace naut::skills

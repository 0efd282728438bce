#include "agent/code_runner.h"

#include <algorithm>
#include <cctype>

#include "core/tool_name.h"

namespace naut::agent {

namespace {

// The runtime's view of the agent's ToolBox: a ToolOutcome becomes an MCP tool result with the
// same text, error flag and structured content, so `tools.x(...)` returns what the model would
// have read from a function call.
class ToolBoxInvoker : public skills::ToolInvoker {
 public:
  ToolBoxInvoker(ToolBox& tools, std::chrono::milliseconds timeout)
      : tools_(tools), timeout_(timeout) {}
  Result<mcp::ToolResult> Call(const std::string& name, const Json& arguments) override {
    NAUT_ASSIGN_OR_RETURN(ToolOutcome o, tools_.CallTool(name, arguments, timeout_, {}));
    mcp::ToolResult r = o.is_error ? mcp::ToolResult::Error(o.text) : mcp::ToolResult::Text(o.text);
    r.structured = std::move(o.structured);
    return r;
  }

 private:
  ToolBox& tools_;
  std::chrono::milliseconds timeout_;
};

std::string ValueText(const Json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return DumpJson(value);
}

// Appended after the action. Models (Voyager's prompt style, and small ones always) often write
// a code action as a function and never call it: the action then "runs to the end" having done
// nothing. When the action's top level is only imports and function definitions, none of them
// called, the last function is called if it needs no arguments; otherwise the model is told.
constexpr const char* kCallUncalledFunction = R"py(

def __naut_call_defined_function(source):
    import ast, inspect
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return
    defs = [n.name for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    only_defs = all(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom))
                    or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
                    for n in body)
    if not defs or not only_defs or isinstance(body[-1], ast.AsyncFunctionDef):
        return
    fn = globals().get(defs[-1])
    if not callable(fn):
        return
    required = [p.name for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        print("Note: the code only defines %s(%s) and never calls it, so nothing was done; "
              "call it at the end of the code action." % (defs[-1], ", ".join(required)))
        return
    print("Note: the code only defined %s(); NeuroNaut called it." % defs[-1])
    globals()["result"] = fn()

)py";

}  // namespace

std::string SkillsCodeRunner::Program(const std::string& code, const std::string& skills,
                                      const std::vector<std::string>& tool_names) {
  std::string program = "import tools\n";
  for (const auto& name : tool_names) {
    bool identifier = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                      std::all_of(name.begin(), name.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                      });
    if (identifier && HasToolNameSeparator(name) && !name.starts_with(kToolNameSeparator))
      program += name + " = getattr(tools, \"" + name + "\")\n";
  }
  if (!skills.empty()) program += "\n# Skills offered for this task\n" + skills + "\n";
  program += "\n# The code action\n" + code;
  if (program.back() != '\n') program += '\n';
  program += kCallUncalledFunction;
  program += "__naut_call_defined_function(" + DumpJson(Json(code)) + ")\n";
  return program;
}

Result<CodeOutcome> SkillsCodeRunner::Run(const std::string& code, const std::string& skills,
                                          ToolBox& tools, int max_tool_calls,
                                          std::chrono::milliseconds timeout) {
  // Each tool call may take the whole action's time; the runtime's deadline bounds the total.
  ToolBoxInvoker invoker(tools, timeout);
  skills::Runtime runtime(invoker, options_);
  skills::RunRequest request;
  std::vector<std::string> tool_names;
  if (auto listed = tools.ListTools(); listed.ok()) {
    for (const auto& t : *listed) tool_names.push_back(t.spec.name);
  }
  request.code = Program(code, skills, tool_names);
  request.limits.max_tool_calls = std::max(0, max_tool_calls);
  request.limits.wall = timeout;
  NAUT_ASSIGN_OR_RETURN(skills::RunResult r, runtime.Run(request));
  CodeOutcome out;
  out.ok = r.ok();
  out.output = r.output;
  if (r.output_truncated) out.output += "\n[... printed output cut ...]";
  out.return_value = ValueText(r.value);
  if (!r.ok()) {
    out.error = r.error;
    if (!r.traceback.empty()) out.error += "\n" + r.traceback;
  }
  for (auto& c : r.tool_calls) {
    out.calls.push_back(
        {std::move(c.tool), std::move(c.arguments), std::move(c.result), c.is_error, c.ms});
  }
  return out;
}

}  // namespace naut::agent

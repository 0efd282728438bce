#include "skills/runtime.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace naut::skills {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kRunner = R"py(
import json, linecache, sys, traceback, types

_proto_out = sys.stdout
_proto_in = sys.stdin


def _send(msg):
    _proto_out.write(json.dumps(msg, default=repr) + "\n")
    _proto_out.flush()


class ToolError(Exception):
    """A tool answered with an error, or the host refused the call."""


_calls = [0]


def call(_tool_name, **arguments):
    """Calls the MCP tool `<server>__<tool>` with keyword arguments and returns its result:
    the structured content when the tool has one, else its text."""
    _calls[0] += 1
    _send({"type": "call", "id": _calls[0], "tool": _tool_name, "arguments": arguments})
    line = _proto_in.readline()
    if not line:
        raise SystemExit("the host closed the tool bridge")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise ToolError(reply.get("error", "tool call refused"))
    if reply.get("is_error"):
        raise ToolError(reply.get("text", ""))
    if reply.get("structured") is not None:
        return reply["structured"]
    return reply.get("text", "")


class _Tools(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def tool(**arguments):
            return call(name, **arguments)

        tool.__name__ = name
        return tool


tools = _Tools("tools", "MCP tools: tools.<server>__<tool>(**arguments) or tools.call(name, **arguments)")
tools.call = call
tools.ToolError = ToolError
sys.modules["tools"] = tools


class _Out:
    def write(self, s):
        if s:
            _send({"type": "out", "text": s})
        return len(s)

    def flush(self):
        pass


sys.stdout = _Out()
request = json.loads(_proto_in.readline())
code = request["code"]
linecache.cache["<skill>"] = (len(code), None, code.splitlines(True), "<skill>")
namespace = {"__name__": "skill"}
try:
    exec(compile(code, "<skill>", "exec"), namespace)
    if request["entry"]:
        fn = namespace.get(request["entry"])
        if not callable(fn):
            raise NameError("the code defines no function '%s'" % request["entry"])
        value = fn(**request["arguments"])
    else:
        value = namespace.get("result")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        value = repr(value)
    _send({"type": "done", "ok": True, "value": value})
except BaseException as e:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "<skill>"]
    text = "Traceback (most recent call last):\n" if frames else ""
    text += "".join(traceback.format_list(frames))
    text += "".join(traceback.format_exception_only(type(e), e))
    _send({"type": "done", "ok": False, "error": "".join(traceback.format_exception_only(type(e), e)).strip(),
           "traceback": text})
)py";

std::string Cap(std::string s, size_t n) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

std::string ResultText(const mcp::ToolResult& r) {
  std::string text;
  for (const auto& c : r.content) {
    if (c.data.contains("text") && c.data["text"].is_string()) {
      if (!text.empty()) text += "\n";
      text += c.data["text"].get<std::string>();
    } else {
      if (!text.empty()) text += "\n";
      text += "[" + c.type + " content]";
    }
  }
  return text;
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kFinished:
      return "finished";
    case StopReason::kException:
      return "exception";
    case StopReason::kCallBudget:
      return "call_budget";
    case StopReason::kTimeBudget:
      return "time_budget";
    case StopReason::kCrashed:
      return "crashed";
  }
  return "crashed";
}

std::string_view BridgeSource() { return kRunner; }

Runtime::Runtime(ToolInvoker& tools, RuntimeOptions options)
    : tools_(tools), options_(std::move(options)) {
  if (!options_.launch) {
    options_.launch = [](const SpawnOptions& o) { return Subprocess::Spawn(o); };
    options_.launch_isolates = false;
  }
}

Result<RunResult> Runtime::Run(const RunRequest& request) {
  if (!request.arguments.is_object()) {
    return InvalidArgument("skill run: arguments must be a JSON object of keyword arguments");
  }
  const auto start = Clock::now();
  const auto deadline = start + request.limits.wall;
  NAUT_ASSIGN_OR_RETURN(
      auto child,
      options_.launch({.argv = {options_.python, "-I", "-u", "-c", kRunner},
                       .env = {{"PYTHONIOENCODING", "utf-8"}, {"PYTHONDONTWRITEBYTECODE", "1"}},
                       .clear_env = true}));
  RunResult result;
  result.isolated = options_.launch_isolates;
  Json first{{"code", request.code}, {"entry", request.entry}, {"arguments", request.arguments}};
  ::signal(SIGPIPE, SIG_IGN);  // a child that dies mid-write must not take the host with it
  WriteAll(child->stdin_fd(), DumpJson(first) + "\n");

  auto stop = [&](StopReason why, std::string error) {
    child->Signal(SIGKILL);
    child->Wait();
    result.stop = why;
    result.error = std::move(error);
  };
  std::string buffer, err_text;
  bool done = false;
  while (!done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      stop(StopReason::kTimeBudget,
           "stopped: the time budget of " +
               std::to_string(request.limits.wall.count() / 1000.0).substr(0, 5) + " s ran out");
      break;
    }
    pollfd fds[2] = {{child->stdout_fd(), POLLIN, 0}, {child->stderr_fd(), POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR)
      return Internal(std::string("skill run: poll: ") + std::strerror(errno));
    if (n <= 0) continue;
    char chunk[8192];
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t got = ::read(child->stderr_fd(), chunk, sizeof chunk);
      if (got > 0 && err_text.size() < 16384) err_text.append(chunk, static_cast<size_t>(got));
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
    ssize_t got = ::read(child->stdout_fd(), chunk, sizeof chunk);
    if (got <= 0) {
      auto status = child->Wait();
      result.stop = StopReason::kCrashed;
      result.error = "the Python process ended without finishing (" + status.ToString() + ")" +
                     (err_text.empty() ? "" : ": " + Cap(err_text, 2000));
      break;
    }
    buffer.append(chunk, static_cast<size_t>(got));
    size_t nl;
    while (!done && (nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      auto msg = ParseJson(line, "skill bridge message");
      if (!msg || !msg->is_object()) {
        stop(StopReason::kCrashed,
             "the skill wrote something that is not a bridge message: " + Cap(line, 200));
        done = true;
        break;
      }
      const std::string type = msg->value("type", "");
      if (type == "out") {
        std::string text = msg->value("text", "");
        if (result.output.size() + text.size() > request.limits.max_output) {
          text = text.substr(0, request.limits.max_output -
                                    std::min(result.output.size(), request.limits.max_output));
          result.output_truncated = true;
        }
        result.output += text;
      } else if (type == "call") {
        ToolCallRecord rec;
        rec.tool = msg->value("tool", "");
        rec.arguments = msg->contains("arguments") ? (*msg)["arguments"] : Json::object();
        if (static_cast<int>(result.tool_calls.size()) >= request.limits.max_tool_calls) {
          rec.is_error = true;
          rec.result = "refused: call budget exhausted";
          result.tool_calls.push_back(std::move(rec));
          stop(StopReason::kCallBudget,
               "stopped: the call budget of " + std::to_string(request.limits.max_tool_calls) +
                   " tool calls ran out (next call: " + result.tool_calls.back().tool + ")");
          done = true;
          break;
        }
        auto call_start = Clock::now();
        auto r = tools_.Call(rec.tool, rec.arguments);
        rec.ms = std::chrono::duration<double, std::milli>(Clock::now() - call_start).count();
        Json reply{{"type", "result"}, {"id", msg->value("id", 0)}};
        if (!r) {
          rec.is_error = true;
          rec.result = r.error().message();
          reply["ok"] = false;
          reply["error"] = r.error().message();
        } else {
          rec.is_error = r->is_error;
          rec.result = Cap(ResultText(*r), 4000);
          reply["ok"] = true;
          reply["is_error"] = r->is_error;
          reply["text"] = ResultText(*r);
          if (r->structured) reply["structured"] = *r->structured;
        }
        result.tool_calls.push_back(std::move(rec));
        if (!WriteAll(child->stdin_fd(), DumpJson(reply) + "\n")) {
          // The child died; the next read reports it.
        }
      } else if (type == "done") {
        done = true;
        if (msg->value("ok", false)) {
          result.stop = StopReason::kFinished;
          result.value = msg->contains("value") ? (*msg)["value"] : Json(nullptr);
        } else {
          result.stop = StopReason::kException;
          result.error = msg->value("error", "exception");
          result.traceback = msg->value("traceback", "");
        }
        child->CloseStdin();
        if (!child->WaitFor(std::chrono::seconds(5)))
          child->Terminate(std::chrono::milliseconds(500));
      }
    }
  }
  result.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return result;
}

}  // namespace naut::skills

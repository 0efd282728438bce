#include "skills/runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stop_token>
#include <thread>

#include "core/beneath.h"
#include "core/files.h"
#include "core/ids.h"
#include "core/unique_fd.h"

namespace naut::skills {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kRunner = R"py(
import json, linecache, sys, traceback, types

import os

# The request comes on stdin. Bridge messages go over stdin/stdout, or, in the sandbox, over
# the two FIFOs of the directory named by NAUT_BRIDGE (the sandbox passes no other descriptors).
request = json.loads(sys.stdin.readline())
_bridge = os.environ.get("NAUT_BRIDGE")
if _bridge:
    _proto_out = open(os.path.join(_bridge, "to_host"), "w", encoding="utf-8")
    _proto_in = open(os.path.join(_bridge, "to_child"), "r", encoding="utf-8")
else:
    _proto_out = sys.stdout
    _proto_in = sys.stdin


def _send(msg):
    _proto_out.write(json.dumps(msg, default=repr) + "\n")
    _proto_out.flush()


class ToolError(Exception):
    """A tool answered with an error, or the host refused the call."""


_calls = [0]


def _arguments(tool_name, args, kwargs):
    # Keyword arguments, or one dict of them (models often write tools.x({"a": 1})).
    if len(args) == 1 and isinstance(args[0], dict) and all(isinstance(k, str) for k in args[0]):
        merged = dict(args[0])
        merged.update(kwargs)
        return merged
    if args:
        raise TypeError("%s takes keyword arguments, e.g. tools.%s(name=value, ...), or one dict "
                        "of them; got %d positional argument(s)" % (tool_name, tool_name, len(args)))
    return kwargs


class ToolAnswer(str):
    """A tool's text answer that is JSON: the text itself (printing, `in`, string methods) and
    also its data, so code written for either works: answer["key"], answer[0], iterating a list,
    answer.get / keys / items / values."""

    def _data(self):
        try:
            return json.loads(self)
        except ValueError:
            return None

    def __getitem__(self, key):
        data = self._data()
        if isinstance(key, str) and isinstance(data, dict):
            return data[key]
        if isinstance(key, (int, slice)) and isinstance(data, list):
            return data[key]
        return str.__getitem__(self, key)

    def __iter__(self):
        data = self._data()
        return iter(data) if isinstance(data, (list, dict)) else str.__iter__(self)

    def get(self, key, default=None):
        data = self._data()
        return data.get(key, default) if isinstance(data, dict) else default

    def keys(self):
        return (self._data() or {}).keys()

    def items(self):
        return (self._data() or {}).items()

    def values(self):
        return (self._data() or {}).values()


def _answer(text):
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(text)
            return ToolAnswer(text)
        except ValueError:
            pass
    return text


def call(_tool_name, *args, **arguments):
    """Calls the MCP tool `<server>__<tool>` with keyword arguments (or one dict of them) and
    returns its result: the structured content when the tool has one, else its text."""
    arguments = _arguments(_tool_name, args, arguments)
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
    return _answer(reply.get("text", ""))


class _Tools(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        # A skill called through tools (models write tools.<skill>(...) as for a tool): the
        # skill itself, when the code defines it.
        own = namespace.get(name) if "__" not in name else None
        if callable(own):
            return own

        def tool(*args, **arguments):
            return call(name, *args, **arguments)

        tool.__name__ = name
        return tool


tools = _Tools("tools", "MCP tools: tools.<server>__<tool>(**arguments) or tools.call(name, **arguments)")
tools.call = call
tools.ToolError = ToolError
tools.ToolAnswer = ToolAnswer
sys.modules["tools"] = tools


class _Out:
    def write(self, s):
        if s:
            _send({"type": "out", "text": s})
        return len(s)

    def flush(self):
        pass


sys.stdout = _Out()
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

using Fd = UniqueFd;

std::string Seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

// The host side of one run's bridge: turns the child's messages into the result, tool calls
// into ToolInvoker calls and their replies. The transport (pipes or FIFOs) is the caller's.
class Session {
 public:
  enum class State { kRunning, kDone, kStop };

  Session(ToolInvoker& tools, const RunRequest& request, RunResult& result)
      : tools_(tools), request_(request), result_(result) {}

  // Consumes bytes from the child; `reply` sends one line back (false: the child is gone).
  // kStop: the child must be killed now (result_.stop and error say why).
  State Feed(const char* data, size_t n, const std::function<bool(const std::string&)>& reply) {
    buffer_.append(data, n);
    size_t nl;
    while (state_ == State::kRunning && (nl = buffer_.find('\n')) != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      Handle(line, reply);
    }
    return state_;
  }
  State state() const { return state_; }

 private:
  void Stop(StopReason why, std::string error) {
    result_.stop = why;
    result_.error = std::move(error);
    state_ = State::kStop;
  }

  void Handle(const std::string& line, const std::function<bool(const std::string&)>& reply) {
    auto msg = ParseJson(line, "skill bridge message");
    if (!msg || !msg->is_object()) {
      Stop(StopReason::kCrashed,
           "the skill wrote something that is not a bridge message: " + Cap(line, 200));
      return;
    }
    const std::string type = msg->value("type", "");
    const RunLimits& limits = request_.limits;
    if (type == "out") {
      std::string text = msg->value("text", "");
      if (result_.output.size() + text.size() > limits.max_output) {
        text =
            text.substr(0, limits.max_output - std::min(result_.output.size(), limits.max_output));
        result_.output_truncated = true;
      }
      result_.output += text;
    } else if (type == "call") {
      ToolCallRecord rec;
      rec.tool = msg->value("tool", "");
      rec.arguments = msg->contains("arguments") ? (*msg)["arguments"] : Json::object();
      if (static_cast<int>(result_.tool_calls.size()) >= limits.max_tool_calls) {
        rec.is_error = true;
        rec.result = "refused: call budget exhausted";
        result_.tool_calls.push_back(std::move(rec));
        Stop(StopReason::kCallBudget,
             "stopped: the call budget of " + std::to_string(limits.max_tool_calls) +
                 " tool calls ran out (next call: " + result_.tool_calls.back().tool + ")");
        return;
      }
      auto call_start = Clock::now();
      auto r = tools_.Call(rec.tool, rec.arguments);
      rec.ms = std::chrono::duration<double, std::milli>(Clock::now() - call_start).count();
      Json answer{{"type", "result"}, {"id", msg->value("id", 0)}};
      if (!r) {
        rec.is_error = true;
        rec.result = r.error().message();
        answer["ok"] = false;
        answer["error"] = r.error().message();
      } else {
        rec.is_error = r->is_error;
        rec.result = Cap(r->AsText(), 4000);
        answer["ok"] = true;
        answer["is_error"] = r->is_error;
        answer["text"] = r->AsText();
        if (r->structured) answer["structured"] = *r->structured;
      }
      result_.tool_calls.push_back(std::move(rec));
      // A child that died meanwhile is noticed by the transport.
      (void)reply(DumpJson(answer) + "\n");
    } else if (type == "done") {
      state_ = State::kDone;
      if (msg->value("ok", false)) {
        result_.stop = StopReason::kFinished;
        result_.value = msg->contains("value") ? (*msg)["value"] : Json(nullptr);
      } else {
        result_.stop = StopReason::kException;
        result_.error = msg->value("error", "exception");
        result_.traceback = msg->value("traceback", "");
      }
    }
  }

  ToolInvoker& tools_;
  const RunRequest& request_;
  RunResult& result_;
  std::string buffer_;
  State state_ = State::kRunning;
};

// Writes all of `s` to a non-blocking FIFO, waiting for room; false when `gone` (an eventfd)
// fires first or the deadline passes.
bool WriteFifo(int fd, const std::string& s, int gone, Clock::time_point deadline) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{fd, POLLOUT, 0}, {gone, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000))) < 0 &&
        errno != EINTR) {
      return false;
    }
    if (fds[1].revents & POLLIN) return false;
  }
  return true;
}

// Removes `name` in the directory `parent` (and everything under it) when the run ends,
// whatever way it ends; through descriptors, never following a link the run left there.
struct RemoveOnExit {
  Fd parent;
  std::string name;
  RemoveOnExit() = default;
  RemoveOnExit(RemoveOnExit&&) = default;  // the moved-from one has no parent, removes nothing
  RemoveOnExit& operator=(RemoveOnExit&&) = delete;
  ~RemoveOnExit() {
    if (parent.valid()) (void)RemoveTreeAt(parent.get(), name);
  }
};

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
  if (options_.sandbox) return RunSandboxed(request);
  return RunPlain(request);
}

namespace {
std::string FirstLine(const RunRequest& request) {
  Json first{{"code", request.code}, {"entry", request.entry}, {"arguments", request.arguments}};
  return DumpJson(first) + "\n";
}
}  // namespace

Result<RunResult> Runtime::RunPlain(const RunRequest& request) {
  const auto start = Clock::now();
  const auto deadline = start + request.limits.wall;
  NAUT_ASSIGN_OR_RETURN(
      auto child,
      options_.launch({.argv = {options_.python, "-I", "-u", "-c", kRunner},
                       .env = {{"PYTHONIOENCODING", "utf-8"}, {"PYTHONDONTWRITEBYTECODE", "1"}},
                       .clear_env = true}));
  RunResult result;
  result.isolated = options_.launch_isolates;
  if (!result.isolated) result.isolation_note = "no sandbox configured for the skill runtime";
  ::signal(SIGPIPE, SIG_IGN);  // a child that dies mid-write must not take the host with it
  WriteAll(child->stdin_fd(), FirstLine(request));

  Session session(tools_, request, result);
  auto reply = [&](const std::string& line) { return WriteAll(child->stdin_fd(), line); };
  std::string err_text;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      child->Signal(SIGKILL);
      child->Wait();
      result.stop = StopReason::kTimeBudget;
      result.error = "stopped: the time budget of " + Seconds(request.limits.wall) + " s ran out";
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
    auto state = session.Feed(chunk, static_cast<size_t>(got), reply);
    if (state == Session::State::kStop) {
      child->Signal(SIGKILL);
      child->Wait();
      break;
    }
    if (state == Session::State::kDone) {
      child->CloseStdin();
      if (!child->WaitFor(std::chrono::seconds(5)))
        child->Terminate(std::chrono::milliseconds(500));
      break;
    }
  }
  result.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return result;
}

namespace {

namespace fs = std::filesystem;

// Where a sandboxed run works: the configured workspace, or a fresh private directory in the
// temporary directory, removed when the run ends.
struct RunWorkspace {
  fs::path path;
  RemoveOnExit own;  // empty for a configured workspace
};

Result<RunWorkspace> PrepareWorkspace(const fs::path& configured) {
  RunWorkspace workspace;
  std::error_code ec;
  if (!configured.empty()) {
    if (!fs::is_directory(configured, ec)) {
      return InvalidArgument("skill run: the workspace '" + configured.string() +
                             "' is not a directory");
    }
    workspace.path = configured;
    return workspace;
  }
  const fs::path tmp = fs::temp_directory_path(ec);
  const std::string name = "naut-skill-" + NewId();
  workspace.path = tmp / name;
  NAUT_RETURN_IF_ERROR(MakePrivateDirs(workspace.path));
  workspace.own.parent.Reset(::open(tmp.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  workspace.own.name = name;
  return workspace;
}

// The bridge: two FIFOs in a directory of their own inside the workspace, removed when the run
// ends. The host opens both read-write (so neither open nor the child's opens block, and the
// child's death never raises SIGPIPE here); the end of the run is learnt from the sandbox
// returning, not from end of file. The workspace may be shared with code that is running, so
// the bridge is made and opened through descriptors: a name swapped for a link meanwhile makes
// the run fail, never opens a host file.
struct Bridge {
  std::string name;  // of its directory in the workspace
  fs::path path;     // of its directory, as the host sees it
  RemoveOnExit own;
  Fd from_child;  // "to_host"
  Fd to_child;    // "to_child"
};

Result<Bridge> OpenBridge(const fs::path& workspace) {
  Bridge bridge;
  bridge.name = ".naut-bridge-" + NewId();
  bridge.path = workspace / bridge.name;
  Fd workspace_fd(::open(workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!workspace_fd.valid() || ::mkdirat(workspace_fd.get(), bridge.name.c_str(), 0700) != 0) {
    return Internal("skill run: cannot create the bridge directory '" + bridge.path.string() +
                    "': " + std::strerror(errno));
  }
  bridge.own.parent = std::move(workspace_fd);
  bridge.own.name = bridge.name;
  Fd bridge_fd(::openat(bridge.own.parent.get(), bridge.name.c_str(),
                        O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!bridge_fd.valid()) {
    return Internal("skill run: cannot open the bridge directory '" + bridge.path.string() +
                    "': " + std::strerror(errno));
  }
  auto open_fifo = [&](const char* name) {
    Fd fd;
    struct stat st;
    if (::mkfifoat(bridge_fd.get(), name, 0600) == 0) {
      fd.Reset(::openat(bridge_fd.get(), name, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
    }
    if (fd.valid() && (::fstat(fd.get(), &st) != 0 || !S_ISFIFO(st.st_mode))) fd.Reset();
    return fd;
  };
  bridge.from_child = open_fifo("to_host");
  bridge.to_child = open_fifo("to_child");
  if (!bridge.from_child.valid() || !bridge.to_child.valid()) {
    return Internal("skill run: cannot make and open the bridge FIFOs in '" + bridge.path.string() +
                    "': " + std::strerror(errno));
  }
  return bridge;
}

// Python with the runner in the sandbox, in `mode`: the request on stdin, the bridge's
// directory as the child sees it, the run's time budget as the sandbox's wall clock.
sandbox::Spec SandboxSpec(const std::string& python, const SandboxedLaunch& launch,
                          const RunRequest& request, const fs::path& workspace,
                          const Bridge& bridge, sandbox::Mode mode) {
  const bool isolated = mode == sandbox::Mode::kIsolated;
  sandbox::Spec spec;
  spec.argv = {python, "-I", "-u", "-c", kRunner};
  spec.stdin_data = FirstLine(request);
  spec.workspace = workspace;
  spec.env = {{"PYTHONIOENCODING", "utf-8"},
              {"NAUT_BRIDGE", isolated ? std::string(sandbox::kInsideWorkspace) + "/" + bridge.name
                                       : bridge.path.string()}};
  spec.limits = launch.limits;
  spec.limits.wall_s = static_cast<double>(request.limits.wall.count()) / 1000.0;
  spec.mode = mode;
  return spec;
}

// Runs `spec` in the sandbox on a thread of its own and serves the bridge on this one until the
// sandbox returns (then `finished`, an eventfd, fires): the child's messages go to `session`,
// its replies back over the FIFO. A child that outlives `guard`, or its own "done" by 5 s, or
// that the session must stop, is killed through the sandbox's cancellation.
Result<sandbox::RunResult> ServeBridge(const sandbox::Spec& spec, Session& session,
                                       const Bridge& bridge, const Fd& finished,
                                       Clock::time_point guard) {
  std::stop_source cancel;
  std::optional<Result<sandbox::RunResult>> outcome;
  std::thread runner([&] {
    outcome = sandbox::Run(spec, cancel.get_token());
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(finished.get(), &one, sizeof one);
  });
  auto reply = [&](const std::string& line) {
    return WriteFifo(bridge.to_child.get(), line, finished.get(), guard);
  };
  std::optional<Clock::time_point> done_at;
  bool ended = false;
  while (!ended) {
    const auto now = Clock::now();
    if (now >= guard || (done_at && now - *done_at > std::chrono::seconds(5))) {
      cancel.request_stop();  // the child outlived its budget or its own end
    }
    pollfd fds[2] = {{bridge.from_child.get(), POLLIN, 0}, {finished.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, 200);
    if (n < 0 && errno != EINTR) {
      cancel.request_stop();
      break;
    }
    ended = fds[1].revents & POLLIN;
    // Read what is there (after the end too: the child's last messages are buffered).
    for (;;) {
      char chunk[8192];
      ssize_t got = ::read(bridge.from_child.get(), chunk, sizeof chunk);
      if (got <= 0) break;
      if (session.state() != Session::State::kRunning) continue;
      auto state = session.Feed(chunk, static_cast<size_t>(got), reply);
      if (state == Session::State::kStop) cancel.request_stop();
      if (state == Session::State::kDone) done_at = Clock::now();
    }
  }
  runner.join();
  return std::move(*outcome);
}

// The note results of the unisolated retry carry when isolation was refused: the sandbox's
// reason, without its own advice ("Refusing to run unisolated; ..."), which is not what
// happened.
std::string FallBackNote(const Status& refused) {
  std::string why = refused.message();
  if (size_t cut = why.find(" Refusing to run unisolated"); cut != std::string::npos) {
    why.resize(cut);
  }
  return "isolation is unavailable here, ran unisolated as configured: " + why;
}

// Why the run did not start, as Runtime::Run reports it.
Status NotStarted(const Status& error) {
  if (error.code() == Code::kFailedPrecondition) {
    return FailedPrecondition("skill run: not started, skills run only in the sandbox: " +
                              error.message());
  }
  return Status(error.code(), "skill run: the sandbox could not start Python: " + error.message());
}

// Completes `result` from the sandbox's report once the run is over: a child that ended
// without a "done" (the session still running) was stopped by a budget of the sandbox or
// crashed; what the code wrote to the real stdout (os.write, subprocesses) is output too.
void Conclude(const sandbox::RunResult& box, Session::State state, const RunRequest& request,
              RunResult& result) {
  if (state == Session::State::kRunning) {
    if (box.limit == sandbox::LimitHit::kWallTime) {
      result.stop = StopReason::kTimeBudget;
      result.error = "stopped: the time budget of " + Seconds(request.limits.wall) +
                     " s ran out (the sandbox killed every process of the run)";
    } else if (box.limit != sandbox::LimitHit::kNone) {
      result.stop = StopReason::kCrashed;
      result.error = "stopped by the sandbox: " + box.limit_detail;
    } else {
      result.stop = StopReason::kCrashed;
      result.error = "the Python process ended without finishing (" + box.Describe() + ")" +
                     (box.err.empty() ? "" : ": " + Cap(box.err, 2000));
    }
  }
  if (!box.out.empty() && result.output.size() < request.limits.max_output) {
    result.output += box.out.substr(0, request.limits.max_output - result.output.size());
  }
}

}  // namespace

// The workspace and the bridge, then the run in the sandbox; where isolation is refused and
// the options allow falling back, once more unisolated.
Result<RunResult> Runtime::RunSandboxed(const RunRequest& request) {
  const SandboxedLaunch& launch = *options_.sandbox;
  const auto start = Clock::now();
  NAUT_ASSIGN_OR_RETURN(RunWorkspace workspace, PrepareWorkspace(launch.workspace));
  NAUT_ASSIGN_OR_RETURN(Bridge bridge, OpenBridge(workspace.path));

  sandbox::Mode mode = launch.mode;
  std::string note = mode == sandbox::Mode::kUnisolated
                         ? (launch.why_unisolated.empty() ? "the sandbox runs in mode unisolated"
                                                          : launch.why_unisolated)
                         : "";
  // A child that dies while the bridge writes to it must not take the host with it.
  ::signal(SIGPIPE, SIG_IGN);
  for (;;) {
    const sandbox::Spec spec =
        SandboxSpec(options_.python, launch, request, workspace.path, bridge, mode);
    RunResult result;
    Session session(tools_, request, result);
    Fd finished(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (finished.get() < 0) {
      return ResourceExhausted(std::string("skill run: eventfd: ") + std::strerror(errno));
    }
    // The sandbox enforces the time budget; this host-side deadline only guards against a
    // sandbox that failed to stop the run.
    const auto guard = start + request.limits.wall + std::chrono::seconds(10);
    auto outcome = ServeBridge(spec, session, bridge, finished, guard);
    if (!outcome) {
      const Status error = outcome.error();
      if (mode == sandbox::Mode::kIsolated && error.code() == Code::kFailedPrecondition &&
          launch.fall_back_to_unisolated) {
        mode = sandbox::Mode::kUnisolated;
        note = FallBackNote(error);
        continue;
      }
      return NotStarted(error);
    }
    const sandbox::RunResult& box = *outcome;
    result.isolated = box.isolated;
    result.isolation_note = box.isolated ? "" : note;
    Conclude(box, session.state(), request, result);
    result.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return result;
  }
}

Result<RuntimeOptions> SandboxedRuntimeOptions(const Config& config,
                                               std::filesystem::path workspace) {
  NAUT_ASSIGN_OR_RETURN(sandbox::Mode mode, sandbox::ParseMode(config.sandbox.mode));
  RuntimeOptions options;
  SandboxedLaunch launch;
  launch.limits = sandbox::Limits::FromConfig(config.sandbox);
  launch.workspace = std::move(workspace);
  launch.mode = mode;
  launch.why_unisolated = "[sandbox] mode is \"unisolated\" in the configuration";
  options.sandbox = std::move(launch);
  return options;
}

}  // namespace naut::skills

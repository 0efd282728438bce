#include "envs/exec/exec_server.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cmath>
#include <system_error>

#include "core/beneath.h"
#include "core/files.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "envs/exec/diagnostics.h"
#include "envs/exec/workspace_state.h"

namespace naut::envs::exec {

namespace fs = std::filesystem;
using mcp::Tool;
using mcp::ToolContext;
using mcp::ToolResult;

namespace {

// Scratch files of one run live in the workspace (the only place both the host and the
// sandbox see), under a hidden folder, and are removed afterwards.
constexpr std::string_view kScratchDir = ".naut-exec";

std::string Tail(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  return "[... " + std::to_string(text.size() - max) + " bytes cut ...]\n" +
         text.substr(text.size() - max);
}

class ExecServer {
 public:
  ExecServer(ExecOptions options, RootDir workspace)
      : options_(std::move(options)), workspace_(std::move(workspace)) {}

  std::vector<Tool> Tools();

 private:
  // Made and removed through descriptors beneath the workspace: code of another run may be
  // swapping `.naut-exec` for a symlink to a host directory at any moment.
  struct Scratch {
    UniqueFd parent;       // .naut-exec
    std::string name;      // run-N
    UniqueFd dir;          // .naut-exec/run-N
    std::string relative;  // as seen from the workspace root (the run's working directory)
    ~Scratch() {
      if (parent.valid()) (void)RemoveTreeAt(parent.get(), name);
    }
  };

  Result<std::unique_ptr<Scratch>> MakeScratch() {
    auto s = std::make_unique<Scratch>();
    s->name = "run-" + std::to_string(++counter_);
    s->relative = std::string(kScratchDir) + "/" + s->name;
    auto parent = MakeDirsAt(workspace_.fd.get(), kScratchDir);
    if (!parent)
      return Internal("exec: cannot create '" + std::string(kScratchDir) +
                      "' in the workspace: " + parent.error().message());
    s->parent = std::move(*parent);
    auto dir = MakeDirsAt(s->parent.get(), s->name);
    if (!dir)
      return Internal("exec: cannot create '" + s->relative +
                      "' in the workspace: " + dir.error().message());
    s->dir = std::move(*dir);
    return s;
  }

  // Writes one source file into a run's scratch directory.
  Status WriteSource(const Scratch& scratch, const std::string& name,
                     const std::string& content) const {
    return WriteFileAt(scratch.dir.get(), name, content, 0644, scratch.relative + "/" + name);
  }

  // The wall-clock limit a call asked for, within bounds.
  Result<double> Timeout(const Json& args, std::string_view what, double fallback) const {
    NAUT_ASSIGN_OR_RETURN(std::optional<double> t, GetNumberIfPresent(args, "timeout_s", what));
    if (!t) return fallback;
    if (!(*t > 0) || !std::isfinite(*t))
      return InvalidArgument(std::string(what) + ": 'timeout_s' must be positive");
    return std::min(*t, options_.max_timeout_s);
  }

  Result<sandbox::RunResult> RunIn(std::vector<std::string> argv, std::string stdin_data,
                                   double wall_s, const ToolContext& context,
                                   std::string workdir = {},
                                   std::vector<sandbox::BindMount> binds = {},
                                   std::map<std::string, std::string> env = {}) {
    sandbox::Spec spec;
    spec.argv = std::move(argv);
    spec.stdin_data = std::move(stdin_data);
    spec.workspace = options_.workspace;
    spec.workdir = std::move(workdir);
    spec.limits = options_.limits;
    spec.limits.wall_s = wall_s;
    spec.mode = options_.mode;
    spec.binds = std::move(binds);
    spec.env = std::move(env);
    return sandbox::Run(spec, context.cancel);
  }

  static std::string Render(const sandbox::RunResult& r) {
    std::string text = r.Describe() + " in " + std::to_string(r.wall_s).substr(0, 5) + " s";
    text += "\n--- stdout ---\n" + r.out;
    if (!r.err.empty()) text += "\n--- stderr ---\n" + r.err;
    return text;
  }

  static ToolResult FromRun(const sandbox::RunResult& r, Json extra = Json::object()) {
    Json structured = r.ToJson();
    for (auto& [k, v] : extra.items()) structured[k] = v;
    ToolResult result;
    result.content.push_back(mcp::Content::Text(Render(r)));
    result.structured = std::move(structured);
    result.is_error = !r.success();
    return result;
  }

  static ToolResult Refused(const Status& status) { return ToolResult::Error(status.ToString()); }

  std::string Python() const {
    if (fs::exists("/usr/bin/python3")) return "/usr/bin/python3";
    return "python3";
  }

  ToolResult RunPython(const Json& args, ToolContext& context);
  ToolResult RunShell(const Json& args, ToolContext& context);
  ToolResult RunCompiled(const Json& args, ToolContext& context, bool swift);
  ToolResult BuildPackage(const Json& args, ToolContext& context);

  // build_package, step by step (below).
  struct Build;
  Result<std::pair<UniqueFd, fs::path>> LocatePackage(const std::string& path) const;
  Result<sandbox::RunResult> Step(Build& build, const std::string& name,
                                  const std::vector<std::string>& argv, ToolContext& context,
                                  std::string workdir = {},
                                  std::map<std::string, std::string> env = {});
  ToolResult BuildCMake(Build& build, ToolContext& context);
  ToolResult BuildPython(Build& build, ToolContext& context);
  ToolResult BuildSwift(Build& build, ToolContext& context);
  ToolResult Finish(Build& build) const;

  ExecOptions options_;
  RootDir workspace_;  // the workspace, open: host-side file work goes through it
  std::atomic<int> counter_{0};
};

ToolResult ExecServer::RunPython(const Json& args, ToolContext& context) {
  constexpr std::string_view kWhat = "run_python arguments";
  auto code = GetString(args, "code", kWhat);
  if (!code) return Refused(code.error());
  auto input = GetStringIfPresent(args, "stdin", kWhat);
  if (!input) return Refused(input.error());
  auto timeout = Timeout(args, kWhat, options_.limits.wall_s);
  if (!timeout) return Refused(timeout.error());
  auto scratch = MakeScratch();
  if (!scratch) return Refused(scratch.error());
  const std::string file = (*scratch)->relative + "/main.py";
  if (Status s = WriteSource(**scratch, "main.py", *code); !s.ok()) return Refused(s);
  auto run = RunIn({Python(), "-u", file}, input->value_or(""), *timeout, context);
  if (!run) return Refused(run.error());
  Json extra = Json::object();
  if (auto d = ParsePythonTraceback(run->err); d && !run->success())
    extra["diagnostics"] = Json::array({d->ToJson()});
  return FromRun(*run, extra);
}

ToolResult ExecServer::RunShell(const Json& args, ToolContext& context) {
  constexpr std::string_view kWhat = "run_shell arguments";
  auto command = GetString(args, "command", kWhat);
  if (!command) return Refused(command.error());
  auto input = GetStringIfPresent(args, "stdin", kWhat);
  if (!input) return Refused(input.error());
  auto timeout = Timeout(args, kWhat, options_.limits.wall_s);
  if (!timeout) return Refused(timeout.error());
  const char* shell = fs::exists("/bin/bash") ? "/bin/bash" : "/bin/sh";
  auto run = RunIn({shell, "-c", *command}, input->value_or(""), *timeout, context);
  if (!run) return Refused(run.error());
  return FromRun(*run);
}

// A toolchain outside /usr must be mounted into the sandbox; returns its binds and PATH.
struct Toolchain {
  std::string compiler;
  std::vector<sandbox::BindMount> binds;
  std::map<std::string, std::string> env;
};

std::optional<Toolchain> FindSwift() {
  auto swift = FindOnPath("swift");
  if (!swift) return std::nullopt;
  std::error_code ec;
  fs::path real = fs::canonical(*swift, ec);
  if (ec) return std::nullopt;
  Toolchain t;
  fs::path bin = real.parent_path();
  t.compiler = (bin / "swiftc").string();
  std::string b = bin.string();
  if (b.rfind("/usr/", 0) != 0) {
    fs::path prefix = bin.parent_path();  // <prefix>/bin/swift
    if (prefix.filename() == "usr") prefix = prefix.parent_path();
    t.binds.push_back({prefix, prefix, false});
    t.env["PATH"] = b + ":/usr/local/bin:/usr/bin:/bin";
  }
  return t;
}

ToolResult ExecServer::RunCompiled(const Json& args, ToolContext& context, bool swift) {
  const std::string what = std::string(swift ? "run_swift" : "run_cpp") + " arguments";
  auto source = GetString(args, "source", what);
  if (!source) return Refused(source.error());
  auto run_args = GetStringsIfPresent(args, "args", what);
  if (!run_args) return Refused(run_args.error());
  auto input = GetStringIfPresent(args, "stdin", what);
  if (!input) return Refused(input.error());
  auto timeout = Timeout(args, what, options_.limits.wall_s);
  if (!timeout) return Refused(timeout.error());

  Toolchain chain;
  if (swift) {
    auto found = FindSwift();
    if (!found) {
      return ToolResult::Error(
          "run_swift: no Swift toolchain: `swift` is not on the PATH of this server. Install one "
          "(https://www.swift.org/install/) and restart the server, or use run_cpp or run_python.");
    }
    chain = *found;
  } else {
    chain.compiler = "g++";
  }
  auto scratch = MakeScratch();
  if (!scratch) return Refused(scratch.error());
  const std::string dir = (*scratch)->relative;
  const std::string src = dir + (swift ? "/main.swift" : "/main.cpp");
  const std::string exe = dir + "/main";
  if (Status s = WriteSource(**scratch, swift ? "main.swift" : "main.cpp", *source); !s.ok())
    return Refused(s);
  std::vector<std::string> compile =
      swift ? std::vector<std::string>{chain.compiler, "-O", "-o", exe, src}
            : std::vector<std::string>{
                  "g++", "-std=c++20", "-O1", "-Wall", "-fdiagnostics-color=never", "-o", exe, src};
  auto built = RunIn(compile, "", std::max(*timeout, 120.0), context, {}, chain.binds, chain.env);
  if (!built) return Refused(built.error());
  auto diagnostics = ParseCompilerDiagnostics(built->err);
  StripPathPrefix(diagnostics, dir);
  Json diag = Json::array();
  for (const auto& d : diagnostics) diag.push_back(d.ToJson());
  if (!built->success()) {
    ToolResult r = FromRun(*built, {{"stage", "compile"}, {"diagnostics", diag}});
    r.content[0] = mcp::Content::Text("compilation failed: " + Render(*built));
    r.is_error = true;
    return r;
  }
  std::vector<std::string> argv = {"./" + exe};
  if (*run_args) argv.insert(argv.end(), (*run_args)->begin(), (*run_args)->end());
  auto ran = RunIn(argv, input->value_or(""), *timeout, context, {}, chain.binds, chain.env);
  if (!ran) return Refused(ran.error());
  return FromRun(*ran, {{"stage", "run"}, {"diagnostics", diag}});
}

// One step of a build: its run, summarised for the result.
Json StepJson(const std::string& name, const std::vector<std::string>& argv,
              const sandbox::RunResult& r) {
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
  Json j = {{"step", name},
            {"command", command},
            {"exit_code", r.signal != 0 ? Json(nullptr) : Json(r.exit_code)},
            {"signal", r.signal != 0 ? Json(r.signal) : Json(nullptr)},
            {"limit", r.limit == sandbox::LimitHit::kNone
                          ? Json(nullptr)
                          : Json(std::string(sandbox::LimitName(r.limit)))},
            {"wall_s", r.wall_s},
            {"stdout", Tail(r.out, 4000)},
            {"stderr", Tail(r.err, 4000)}};
  return j;
}

// One build_package call: the package, and what its steps found so far.
struct ExecServer::Build {
  std::string pkg;         // relative to the workspace ("." for the workspace itself)
  std::string inside_pkg;  // the package directory as the sandbox sees it
  double timeout_s = 0;    // of each step
  std::string kind;        // cmake | python | swift
  Json steps = Json::array();
  std::vector<Diagnostic> diagnostics;
  std::optional<TestCounts> counts;
  std::string failed_stage;  // empty while every step succeeded
  bool isolated = true;

  void AddDiagnostics(const std::string& text) {
    auto parsed = ParseCompilerDiagnostics(text);
    diagnostics.insert(diagnostics.end(), parsed.begin(), parsed.end());
  }
  // Failed tests fail the build even when the test runner exited 0.
  void CountFailedTests() {
    if (counts && counts->failed > 0 && failed_stage.empty()) failed_stage = "test";
  }
};

ToolResult ExecServer::BuildPackage(const Json& args, ToolContext& context) {
  constexpr std::string_view kWhat = "build_package arguments";
  auto path = GetString(args, "path", kWhat);
  if (!path) return Refused(path.error());
  auto timeout = Timeout(args, kWhat, options_.build_timeout_s);
  if (!timeout) return Refused(timeout.error());
  auto located = LocatePackage(*path);
  if (!located) return ToolResult::Error(located.error().message());
  const auto& [package, within] = *located;
  Build build;
  build.pkg = within == "." ? "." : within.string();
  build.inside_pkg = (fs::path(sandbox::kInsideWorkspace) / within).lexically_normal().string();
  build.timeout_s = *timeout;
  auto has = [dir = package.get()](const char* name) {
    struct stat st;
    return ::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  };
  if (has("CMakeLists.txt")) return BuildCMake(build, context);
  if (has("pyproject.toml") || has("setup.py") || has("setup.cfg") || has("tests") || has("test"))
    return BuildPython(build, context);
  if (has("Package.swift")) return BuildSwift(build, context);
  return ToolResult::Error(
      "build_package: '" + build.pkg +
      "' has no CMakeLists.txt, pyproject.toml, setup.py, setup.cfg, tests/ or Package.swift");
}

// The package directory `path` names, open, and where it is relative to the workspace. The
// error's message is the answer to give.
Result<std::pair<UniqueFd, fs::path>> ExecServer::LocatePackage(const std::string& path) const {
  fs::path rel = fs::path(path).lexically_normal();
  if (rel.is_absolute()) {
    // Accept the sandbox's own view of the workspace ("/work/pkg") as well.
    auto inside = rel.lexically_relative(sandbox::kInsideWorkspace);
    if (inside.empty() || *inside.begin() == "..") {
      return InvalidArgument("build_package: path '" + path +
                             "' is outside the workspace; give a path relative to it");
    }
    rel = inside;
  }
  if (rel == ".") rel = "";
  if (!rel.empty() && *rel.begin() == "..") {
    return InvalidArgument("build_package: path '" + path + "' is outside the workspace");
  }
  // The package directory is located beneath the workspace's descriptor and probed through
  // its own: the model's code may be swapping it for a link to a host directory meanwhile.
  auto located = Locate(std::span<const RootDir>(&workspace_, 1),
                        (options_.workspace / rel).string(), FinalLink::kFollow);
  if (!located) return InvalidArgument("build_package: path '" + path + "' leaves the workspace");
  auto package = OpenDirAt(located->dir.get(), located->name);
  if (!located->exists || !package) {
    return InvalidArgument("build_package: '" + path + "' is not a directory in the workspace");
  }
  fs::path within = fs::path(located->real).lexically_relative(workspace_.path);
  if (within.empty() || *within.begin() == "..") {
    return InvalidArgument("build_package: path '" + path + "' leaves the workspace");
  }
  return std::make_pair(std::move(*package), std::move(within));
}

// Runs one step and records it; the first step that fails names the failed stage.
Result<sandbox::RunResult> ExecServer::Step(Build& build, const std::string& name,
                                            const std::vector<std::string>& argv,
                                            ToolContext& context, std::string workdir,
                                            std::map<std::string, std::string> env) {
  auto r = RunIn(argv, "", build.timeout_s, context, std::move(workdir), {}, std::move(env));
  if (!r) return r.error();
  build.isolated = build.isolated && r->isolated;
  build.steps.push_back(StepJson(name, argv, *r));
  if (!r->success() && build.failed_stage.empty()) build.failed_stage = name;
  return r;
}

// CMake: configure, build, CTest.
ToolResult ExecServer::BuildCMake(Build& build, ToolContext& context) {
  build.kind = "cmake";
  const std::string dir = build.pkg + "/build";
  std::vector<std::string> configure = {"cmake", "-S", build.pkg,
                                        "-B",    dir,  "-DCMAKE_BUILD_TYPE=Debug"};
  if (fs::exists("/usr/bin/ninja")) {
    configure.emplace_back("-G");
    configure.emplace_back("Ninja");
  }
  auto c = Step(build, "configure", configure, context);
  if (!c) return Refused(c.error());
  build.AddDiagnostics(c->err + "\n" + c->out);
  if (!build.failed_stage.empty()) return Finish(build);
  auto b = Step(build, "build", {"cmake", "--build", dir, "-j2"}, context);
  if (!b) return Refused(b.error());
  build.AddDiagnostics(b->out + "\n" + b->err);
  if (!build.failed_stage.empty()) return Finish(build);
  auto t = Step(build, "test", {"ctest", "--test-dir", dir, "--output-on-failure"}, context);
  if (!t) return Refused(t.error());
  build.counts = ParseCtestSummary(t->out);
  build.CountFailedTests();
  return Finish(build);
}

// A Python package: pytest when the sandbox's Python has it, else unittest.
ToolResult ExecServer::BuildPython(Build& build, ToolContext& context) {
  build.kind = "python";
  std::map<std::string, std::string> env = {
      {"PYTHONPATH", build.inside_pkg + ":" + build.inside_pkg + "/src"}};
  auto has_pytest = RunIn({Python(), "-c", "import pytest"}, "", 30, context, build.pkg);
  if (!has_pytest) return Refused(has_pytest.error());
  if (has_pytest->success()) {
    auto t = Step(build, "test",
                  {Python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short"}, context,
                  build.pkg, env);
    if (!t) return Refused(t.error());
    build.counts = ParsePytestSummary(t->out);
    if (auto d = ParsePythonTraceback(t->out + "\n" + t->err); d && !t->success())
      build.diagnostics.push_back(*d);
    // pytest exits 5 when it found no tests: not a failure of the package.
    if (t->exit_code == 5 && t->signal == 0 && build.counts) build.failed_stage.clear();
  } else {
    auto t = Step(build, "test", {Python(), "-m", "unittest", "discover", "-v"}, context, build.pkg,
                  env);
    if (!t) return Refused(t.error());
    build.counts = ParseUnittestSummary(t->err);
    if (auto d = ParsePythonTraceback(t->err); d && !t->success()) build.diagnostics.push_back(*d);
  }
  build.CountFailedTests();
  return Finish(build);
}

// A Swift package: swift build, swift test, with the toolchain mounted when it is outside /usr.
ToolResult ExecServer::BuildSwift(Build& build, ToolContext& context) {
  build.kind = "swift";
  auto chain = FindSwift();
  if (!chain) {
    return ToolResult::Error(
        "build_package: '" + build.pkg +
        "' is a Swift package but no Swift toolchain (`swift`) is on the PATH of this server");
  }
  auto swift_bin = (fs::path(chain->compiler).parent_path() / "swift").string();
  auto r = RunIn({swift_bin, "build"}, "", build.timeout_s, context, build.pkg, chain->binds,
                 chain->env);
  if (!r) return Refused(r.error());
  build.steps.push_back(StepJson("build", {"swift", "build"}, *r));
  build.AddDiagnostics(r->out + "\n" + r->err);
  if (!r->success()) {
    build.failed_stage = "build";
    return Finish(build);
  }
  auto t =
      RunIn({swift_bin, "test"}, "", build.timeout_s, context, build.pkg, chain->binds, chain->env);
  if (!t) return Refused(t.error());
  build.steps.push_back(StepJson("test", {"swift", "test"}, *t));
  if (!t->success()) build.failed_stage = "test";
  return Finish(build);
}

// The answer: a summary for the model to read and the whole record as structured content.
ToolResult ExecServer::Finish(Build& build) const {
  StripPathPrefix(build.diagnostics, build.inside_pkg);
  StripPathPrefix(build.diagnostics, sandbox::kInsideWorkspace);
  StripPathPrefix(build.diagnostics, options_.workspace.string());
  Json diag = Json::array();
  for (const auto& d : build.diagnostics) diag.push_back(d.ToJson());
  const bool ok = build.failed_stage.empty();
  Json out = {
      {"kind", build.kind},   {"path", build.pkg},
      {"success", ok},        {"failed_stage", ok ? Json(nullptr) : Json(build.failed_stage)},
      {"diagnostics", diag},  {"tests", build.counts ? build.counts->ToJson() : Json(nullptr)},
      {"steps", build.steps}, {"isolated", build.isolated}};
  std::string text = build.kind + " package '" + build.pkg +
                     "': " + (ok ? "built and tested" : "failed at " + build.failed_stage);
  if (build.counts) {
    text += "; tests: " + std::to_string(build.counts->passed) + " passed, " +
            std::to_string(build.counts->failed) + " failed, " +
            std::to_string(build.counts->total) + " total";
  }
  int shown = 0;
  for (const auto& d : build.diagnostics) {
    if (d.severity == "note" || ++shown > 20) continue;
    text += "\n" + d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.column) + ": " +
            d.severity + ": " + d.message;
  }
  if (!build.isolated) text += "\nNOT ISOLATED (sandbox mode 'unisolated')";
  if (!ok && build.diagnostics.empty() && !build.steps.empty()) {
    text += "\n" + Tail(build.steps.back()["stderr"].get<std::string>() +
                            build.steps.back()["stdout"].get<std::string>(),
                        3000);
  }
  ToolResult r;
  r.content.push_back(mcp::Content::Text(text));
  r.structured = out;
  r.is_error = !ok;
  return r;
}

Json Schema(Json properties, std::vector<std::string> required) {
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

const Json kTimeout = {
    {"type", "number"},
    {"description", "Wall-clock limit in seconds (default from [sandbox] wall_s)"}};
const Json kStdin = {{"type", "string"},
                     {"description", "Text fed to the program's standard input"}};
const Json kArgs = {
    {"type", "array"}, {"items", {{"type", "string"}}}, {"description", "Command-line arguments"}};

std::vector<Tool> ExecServer::Tools() {
  std::vector<Tool> tools;
  const Json run_output = {{"type", "object"}};
  Json exec_annotations = {
      {"readOnlyHint", false}, {"destructiveHint", false}, {"openWorldHint", false}};
  tools.push_back(
      {"run_python", "Run Python",
       "Run a Python 3 program in the sandbox (no network; the session workspace is the "
       "working directory and the only writable place besides /tmp). Returns exit code, "
       "stdout, stderr, time and memory.",
       Schema({{"code", {{"type", "string"}, {"description", "Python source"}}},
               {"stdin", kStdin},
               {"timeout_s", kTimeout}},
              {"code"}),
       run_output, exec_annotations,
       [this](const Json& a, ToolContext& c) { return RunPython(a, c); }});
  tools.push_back(
      {"run_shell", "Run shell command",
       "Run a bash command line in the sandbox, in the session workspace (no network).",
       Schema({{"command", {{"type", "string"}}}, {"stdin", kStdin}, {"timeout_s", kTimeout}},
              {"command"}),
       run_output, exec_annotations,
       [this](const Json& a, ToolContext& c) { return RunShell(a, c); }});
  tools.push_back(
      {"run_cpp", "Compile and run C++",
       "Compile one C++20 source file with g++ and run it in the sandbox. Compiler "
       "errors come back as diagnostics with file, line, column, severity and message.",
       Schema({{"source",
                {{"type", "string"}, {"description", "C++ source of a program with main()"}}},
               {"args", kArgs},
               {"stdin", kStdin},
               {"timeout_s", kTimeout}},
              {"source"}),
       run_output, exec_annotations,
       [this](const Json& a, ToolContext& c) { return RunCompiled(a, c, false); }});
  tools.push_back(
      {"run_swift", "Compile and run Swift",
       "Compile one Swift source file with swiftc and run it in the sandbox, when a Swift "
       "toolchain is installed (the result says so when it is not).",
       Schema({{"source", {{"type", "string"}}},
               {"args", kArgs},
               {"stdin", kStdin},
               {"timeout_s", kTimeout}},
              {"source"}),
       run_output, exec_annotations,
       [this](const Json& a, ToolContext& c) { return RunCompiled(a, c, true); }});
  tools.push_back(
      {"build_package", "Build and test a package",
       "Build and test a package in the workspace: CMake (configure, build, CTest), a Python "
       "package (pytest, else unittest) or a Swift package. Returns compiler diagnostics "
       "(file, line, column, severity, message) and test pass/fail counts.",
       Schema(
           {{"path",
             {{"type", "string"}, {"description", "Package directory, relative to the workspace"}}},
            {"timeout_s",
             {{"type", "number"}, {"description", "Wall-clock limit of each step in seconds"}}}},
           {"path"}),
       run_output, exec_annotations,
       [this](const Json& a, ToolContext& c) { return BuildPackage(a, c); }});
  tools.push_back(
      {"save_state", "Save the workspace",
       "The workspace's files (build output, symlinks and special files left out) as "
       "{\"state\": ...}, for load_state to put back.",
       Schema(Json::object(), {}), std::nullopt,
       Json{{"readOnlyHint", true}, {"destructiveHint", false}, {"openWorldHint", false}},
       [this](const Json&, ToolContext&) {
         auto state = SaveWorkspace(workspace_.fd.get());
         if (!state) return ToolResult::Error("save_state: " + state.error().message());
         return ToolResult::Structured(Json{{"state", std::move(*state)}});
       }});
  tools.push_back(
      {"load_state", "Put a saved workspace back",
       "Replace the workspace's contents with a state save_state answered (build output "
       "included: it is rebuilt).",
       Schema({{"state", {{"type", "object"}, {"description", "save_state's \"state\""}}}},
              {"state"}),
       std::nullopt,
       Json{{"readOnlyHint", false}, {"destructiveHint", true}, {"openWorldHint", false}},
       [this](const Json& a, ToolContext&) {
         Status s = LoadWorkspace(workspace_.fd.get(), a.at("state"));
         if (!s.ok()) return ToolResult::Error("load_state: " + s.message());
         return ToolResult::Text("The workspace is back at the saved state.");
       }});
  return tools;
}

}  // namespace

Result<std::vector<mcp::Tool>> MakeExecTools(const ExecOptions& options) {
  if (options.workspace.empty()) return InvalidArgument("exec: no workspace directory given");
  NAUT_RETURN_IF_ERROR(MakePrivateDirs(options.workspace));
  ExecOptions resolved = options;
  std::error_code ec;
  resolved.workspace = fs::canonical(options.workspace, ec);
  if (ec) return Internal("exec: workspace '" + options.workspace.string() + "': " + ec.message());
  // The tools share one server object; the handlers keep it alive.
  NAUT_ASSIGN_OR_RETURN(RootDir workspace, OpenRootDir(resolved.workspace.string()));
  auto server = std::make_shared<ExecServer>(std::move(resolved), std::move(workspace));
  auto tools = server->Tools();
  for (auto& tool : tools) {
    tool.handler = [server, inner = std::move(tool.handler)](const Json& a, ToolContext& c) {
      return inner(a, c);
    };
  }
  return tools;
}

Result<mcp::ServerDefinition> MakeExecServer(const Config& config) {
  ExecOptions options;
  options.workspace = !config.sandbox.workspace.empty()
                          ? fs::path(config.sandbox.workspace)
                          : config.home / "workspaces" / ("exec-" + NewId());
  options.limits = sandbox::Limits::FromConfig(config.sandbox);
  NAUT_ASSIGN_OR_RETURN(options.mode, sandbox::ParseMode(config.sandbox.mode));
  NAUT_ASSIGN_OR_RETURN(auto tools, MakeExecTools(options));
  std::error_code ec;
  fs::path shown = fs::canonical(options.workspace, ec);
  if (ec) shown = options.workspace;
  mcp::ServerDefinition definition;
  definition.name = "neuronaut-exec";
  definition.title = "NeuroNaut exec";
  definition.instructions =
      "Runs code in a sandbox without network access. The working directory of every run is the "
      "session workspace (" +
      shown.string() +
      ", seen as /work inside); files "
      "written there persist between calls, /tmp does not." +
      std::string(options.mode == sandbox::Mode::kUnisolated
                      ? " WARNING: [sandbox] mode = \"unisolated\": code runs WITHOUT isolation."
                      : "");
  definition.tools = std::move(tools);
  return definition;
}

}  // namespace naut::envs::exec

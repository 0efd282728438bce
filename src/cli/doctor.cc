// neuronaut doctor: checks what the platform needs on this machine and says how to fix
// what is missing. Exit 1 when something required is missing.

#include <httplib.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "cli/context.h"
#include "core/data_home.h"
#include "core/subprocess.h"
#include "llm/embedded_backend.h"
#include "llm/llama_server.h"

namespace naut::cli {

namespace {

enum class Level { kOk, kProblem, kNote };

struct Check {
  Level level;
  std::string what;
  std::string fix;  // for problems and notes
};

void Print(const Check& c) {
  const char* tag = c.level == Level::kOk        ? "ok     "
                    : c.level == Level::kProblem ? "PROBLEM"
                                                 : "note   ";
  std::cout << tag << "  " << c.what << "\n";
  if (!c.fix.empty()) std::cout << "         fix: " << c.fix << "\n";
}

Check CheckDataHome(const Config& config) {
  auto home = OpenDataHome(config.home);
  if (!home) {
    return {Level::kProblem, home.error().message(),
            "choose a writable directory with --home or NEURONAUT_HOME, or fix its permissions"};
  }
  return {Level::kOk, "data home " + config.home.string() + " exists and is writable", ""};
}

Check CheckPython() {
  auto r = RunCommand({.argv = {"python3", "-c", "import sys; print(sys.version.split()[0])"}}, "",
                      std::chrono::seconds(20));
  if (!r || !r->status.success()) {
    return {Level::kProblem, "python3 is missing or broken (skills and code actions run in Python)",
            "sudo apt-get install python3"};
  }
  std::string v = r->out;
  while (!v.empty() && v.back() == '\n') v.pop_back();
  return {Level::kOk, "python3 " + v, ""};
}

// Forks a child that tries to enter the namespaces the sandbox uses.
Check CheckNamespaces(const Config& config) {
  pid_t pid = fork();
  if (pid == 0) {
    int flags =
        CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    _exit(unshare(flags) == 0 ? 0 : 1);
  }
  int status = 0;
  bool ok =
      pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (ok)
    return {Level::kOk,
            "user, mount, pid, network, ipc and uts namespaces are available for the sandbox", ""};
  bool required = config.sandbox.mode == "isolated";
  return {required ? Level::kProblem : Level::kNote,
          "unprivileged user namespaces are not available: sandboxed code cannot be isolated",
          "sudo sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or "
          "kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu); or set [sandbox] mode = "
          "\"unisolated\" "
          "to run code without isolation, at your own risk"};
}

std::string Explain(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection refused or host unreachable";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "the server closed the connection";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate was not accepted";
    default:
      return httplib::to_string(e);
  }
}

std::string StripV1(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
  return url;
}

Check CheckEndpoint(const std::string& base_url, const std::string& api_key) {
  std::string root = StripV1(base_url);
  httplib::Client client(root);
  client.set_connection_timeout(3, 0);
  client.set_read_timeout(5, 0);
  if (!api_key.empty()) client.set_bearer_token_auth(api_key);
  auto health = client.Get("/health");
  if (!health) {
    return {
        Level::kProblem,
        "LLM endpoint " + base_url + " is unreachable (" + Explain(health.error()) + ")",
        "start an OpenAI-compatible server there (e.g. `llama-server -m models/model.gguf --port "
        "8080`), "
        "or point LLM_BASE_URL / [llm] base_url at one"};
  }
  if (health->status == 200) return {Level::kOk, "LLM endpoint " + base_url + " is healthy", ""};
  if (health->status == 503) {
    return {Level::kNote,
            "LLM endpoint " + base_url + " answers but is still loading its model (503)",
            "wait for the model to load"};
  }
  auto models = client.Get((root + "/v1/models").substr(root.size()));
  if (models && models->status == 200)
    return {Level::kOk, "LLM endpoint " + base_url + " lists its models", ""};
  return {Level::kProblem,
          "LLM endpoint " + base_url + " answers HTTP " + std::to_string(health->status) +
              " to /health and does not list models at /v1/models",
          "check that it is an OpenAI-compatible server and that [llm] api_key is right"};
}

std::vector<Check> CheckLlm(const Config& config) {
  std::vector<Check> out;
  if (config.llm.backend == "openai") {
    out.push_back(CheckEndpoint(config.llm.base_url, config.llm.api_key));
    for (const auto& e : config.llm.endpoints) out.push_back(CheckEndpoint(e, config.llm.api_key));
  } else if (config.llm.backend == "llamacpp") {
    if (auto bin = FindOnPath(config.llm.llama_server)) {
      out.push_back({Level::kOk, "llama-server found at " + bin->string(), ""});
    } else {
      out.push_back({Level::kProblem,
                     "llama-server ('" + config.llm.llama_server + "') is not on PATH",
                     "build llama.cpp and put llama-server on PATH, or set [llm] llama_server"});
    }
  } else {
    auto gguf = llm::FindGguf(config.llm.model, config.llm.models_dir);
    if (!gguf) {
      out.push_back({Level::kProblem, "embedded engine: " + gguf.error().message(),
                     "set [llm] model to a GGUF path, or put one in " + config.llm.models_dir});
    } else if (auto b = llm::EmbeddedBackend::Load({.model_path = gguf->string(),
                                                    .context_size = 256,
                                                    .threads = 1,
                                                    .chat_format = config.llm.chat_format,
                                                    .chat_template = config.llm.chat_template});
               !b) {
      out.push_back({Level::kProblem,
                     "embedded engine cannot run " + gguf->string() + ": " + b.error().message(),
                     "see `neuronaut model info " + gguf->string() + "`"});
    } else {
      out.push_back({Level::kOk,
                     "embedded engine runs " + gguf->string() + " (" + (*b)->PromptFormat() + ")",
                     ""});
    }
  }
  return out;
}

std::vector<Check> CheckTestTools() {
  std::vector<Check> out;
  for (const char* tool : {"node", "npm"}) {
    if (FindOnPath(tool)) {
      out.push_back({Level::kOk, std::string(tool) + " found (MCP test peers)", ""});
    } else {
      out.push_back({Level::kNote, std::string(tool) + " not found: only the test suite needs it",
                     "sudo apt-get install nodejs npm, then run scripts/test.sh"});
    }
  }
  // From a source checkout, the npm peers the integration tests start.
  std::filesystem::path peers = std::filesystem::path(NAUT_SOURCE_DIR) / "tests" / "peers";
  if (std::filesystem::exists(peers / "package.json")) {
    if (std::filesystem::exists(peers / "node_modules" / ".naut-lock-sha256")) {
      out.push_back(
          {Level::kOk, "npm test peers installed in " + (peers / "node_modules").string(), ""});
    } else {
      out.push_back({Level::kNote, "npm test peers are not installed in " + peers.string(),
                     "run scripts/setup.sh (scripts/test.sh does it too)"});
    }
  }
  for (const char* tool : {"g++", "cmake"}) {
    if (!FindOnPath(tool)) {
      out.push_back({Level::kNote,
                     std::string(tool) + " not found: the package-building environment needs it",
                     "sudo apt-get install build-essential cmake"});
    }
  }
  return out;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, Context& ctx) {
  auto* doctor = app.add_subcommand("doctor", "Check this machine for everything NeuroNaut needs");
  doctor->callback([&ctx] {
    auto config = ctx.LoadConfig(/*with_log_file=*/false);
    if (!config) {
      Print({Level::kProblem, config.error().message(),
             "fix the configuration (see `neuronaut config keys`)"});
      ctx.exit_code = kExitFailure;
      return;
    }
    std::vector<Check> checks;
    checks.push_back(
        {Level::kOk,
         "configuration loaded from " +
             (config->config_file_present ? config->config_file.string() : std::string("defaults")),
         ""});
    checks.push_back(CheckDataHome(*config));
    checks.push_back(CheckPython());
    checks.push_back(CheckNamespaces(*config));
    for (auto& c : CheckLlm(*config)) checks.push_back(std::move(c));
    for (auto& c : CheckTestTools()) checks.push_back(std::move(c));
    int problems = 0;
    for (const auto& c : checks) {
      Print(c);
      if (c.level == Level::kProblem) ++problems;
    }
    std::cout << (problems == 0 ? "\nall required checks passed\n"
                                : "\n" + std::to_string(problems) + " problem(s) found\n");
    ctx.exit_code = problems == 0 ? kExitOk : kExitFailure;
  });
}

}  // namespace naut::cli

// neuronaut serve [--http HOST:PORT] [--token T] [--model FILE.gguf]: the dashboard, the HTTP
// API, MCP and (with a model) the OpenAI-compatible model server, on one port.

#include <sys/random.h>

#include <csignal>
#include <iostream>
#include <optional>

#include "cli/context.h"
#include "core/data_home.h"
#include "core/files.h"
#include "mcp/http_server.h"
#include "server/serve.h"

namespace naut::cli {

namespace {

struct ServeArgs {
  std::string http, token, mcp = "skills", model, pooling;
  std::vector<std::string> allow_hosts, allow_origins;
  double rate = 50;
  std::optional<int> parallel, ctx_size, queue, threads;
};

Result<std::string> NewToken() {
  unsigned char bytes[24];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
    return Internal("serve: cannot read random bytes for a token");
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  return token;
}

// --token, else $NEURONAUT_TOKEN, else <home>/serve.token (made on first use, mode 0600), so a
// restarted serve keeps the token a user saved.
Result<std::string> ServeToken(const ServeArgs& a, const DataHome& home, bool& generated) {
  generated = false;
  if (!a.token.empty()) return a.token;
  if (const char* env = std::getenv("NEURONAUT_TOKEN"); env != nullptr && *env != '\0')
    return std::string(env);
  std::filesystem::path file = home.root / "serve.token";
  if (std::filesystem::exists(file)) {
    NAUT_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (text.size() >= 16) return text;
  }
  NAUT_ASSIGN_OR_RETURN(std::string token, NewToken());
  NAUT_RETURN_IF_ERROR(WriteFileAtomic(file, token + "\n"));
  generated = true;
  return token;
}

// How a run is started: this binary with the global flags serve was given.
std::vector<std::string> RunCommand(const Context& ctx, const Config& config) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::string> argv = {ec ? std::string("neuronaut") : self.string(), "--home",
                                   config.home.string()};
  if (ctx.overrides.config_file) argv.insert(argv.end(), {"--config", config.config_file.string()});
  auto pass = [&](const char* flag, const std::string& value) {
    if (!value.empty()) argv.insert(argv.end(), {flag, value});
  };
  pass("--llm-backend", ctx.llm_backend);
  pass("--llm-base-url", ctx.llm_base_url);
  pass("--llm-model", ctx.llm_model);
  pass("--log-level", ctx.log_level);
  for (const auto& s : ctx.sets) argv.insert(argv.end(), {"--set", s});
  return argv;
}

int Serve(Context& ctx, const ServeArgs& a) {
  auto config = ctx.LoadConfig();
  if (!config) return Fail(config.error());
  auto home = OpenDataHome(config->home);
  if (!home) return Fail(home.error());
  server::ServeOptions options;
  options.host = config->server.host;
  options.port = config->server.port;
  if (!a.http.empty()) {
    auto hp = mcp::ParseHostPort(a.http);
    if (!hp) return Fail(hp.error().WithContext("--http"));
    options.host = hp->first;
    options.port = hp->second;
  }
  bool generated = false;
  auto token = ServeToken(a, *home, generated);
  if (!token) return Fail(token.error());
  options.token = *token;
  options.allowed_hosts = a.allow_hosts;
  options.allowed_origins = a.allow_origins;
  if (a.rate <= 0) return Fail(InvalidArgument("--rate-limit must be above 0"));
  options.rate_per_s = a.rate;
  options.burst = std::max(4.0, a.rate * 4);
  options.mcp_server = a.mcp == "none" ? "" : a.mcp;
  options.model = a.model.empty() ? config->server.model : a.model;
  options.parallel = a.parallel.value_or(config->server.parallel);
  options.ctx_size = a.ctx_size.value_or(config->server.ctx_size);
  options.queue = a.queue.value_or(config->server.queue);
  options.model_threads = a.threads.value_or(config->server.threads);
  options.chat_format = config->llm.chat_format;  // the embedded engine's prompt, as `run` uses it
  options.chat_template = config->llm.chat_template;
  options.pooling = a.pooling.empty() ? config->server.pooling : a.pooling;
  options.kv_cache = config->llm.kv_cache;
  options.run_command = RunCommand(ctx, *config);

  // SIGINT/SIGTERM end the server cleanly: this thread waits for them, every other thread
  // (started below) inherits them blocked.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto serve = server::Serve::Open(*config, options);
  if (!serve) return Fail(serve.error());
  if (Status st = (*serve)->Start(); !st.ok()) return Fail(st);
  std::string url = (*serve)->url();
  // On stdout and flushed at once: with --http HOST:0 the first line is how a user or a test
  // learns the port.
  std::cout << "neuronaut: serve listening on " << url << " (Ctrl-C stops it)" << std::endl;
  std::cout << "  dashboard  " << url << "/#token=" << options.token << "\n"
            << "  api        " << url << "/api (token for write actions: "
            << (a.token.empty() ? (home->root / "serve.token").string() + (generated ? ", new" : "")
                                : std::string("--token"))
            << ")\n";
  if (!(*serve)->mcp_path().empty())
    std::cout << "  mcp        " << url << (*serve)->mcp_path() << " (" << options.mcp_server
              << ")\n";
  std::cout << "  v1         "
            << ((*serve)->serves_models()
                    ? url + "/v1 (" + options.model + ", " + std::to_string(options.parallel) +
                          " slots of " + std::to_string(options.ctx_size) + " tokens)"
                    : (*serve)->model_note())
            << std::endl;
  if ((*serve)->serves_models()) {
    // As llama-server: /health says 503 while the model loads, and a model that cannot be
    // loaded ends the server.
    if (Status st = (*serve)->WaitModelLoaded(); !st.ok()) {
      (*serve)->Stop();
      return Fail(st.WithContext("serve"));
    }
    std::cout << "neuronaut: model loaded, /v1 ready" << std::endl;
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "neuronaut: serve stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  (*serve)->Stop();
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, Context& ctx) {
  static ServeArgs a;
  auto* cmd = app.add_subcommand(
      "serve", "Serve the web dashboard, the HTTP API and MCP (and models at /v1) on one port");
  cmd->add_option("--http", a.http,
                  "Listen on HOST:PORT (default: [server] host and port, 127.0.0.1:8765)");
  cmd->add_option("--token", a.token,
                  "Token for write actions and non-loopback binds (default: $NEURONAUT_TOKEN or "
                  "<home>/serve.token, made on first use)");
  cmd->add_option("--allow-host", a.allow_hosts, "Accept this Host name too (repeatable)");
  cmd->add_option("--allow-origin", a.allow_origins,
                  "Accept requests from this origin too, e.g. https://app.example (repeatable)");
  cmd->add_option("--rate-limit", a.rate, "Requests a second per client address (default 50)");
  cmd->add_option("--mcp", a.mcp, "Built-in MCP server served at /mcp (default skills; none)");
  cmd->add_option("--model", a.model,
                  "GGUF to serve at /v1 with the embedded engine (default: [server] model)");
  cmd->add_option("--parallel", a.parallel,
                  "Slots /v1 decodes together (default: [server] parallel, 2)");
  cmd->add_option("--ctx-size", a.ctx_size,
                  "Tokens each /v1 slot holds (default: [server] ctx_size, 4096)");
  cmd->add_option("--queue", a.queue,
                  "Requests that may wait for a slot; more get 503 (default: [server] queue, 16)");
  cmd->add_option("--threads", a.threads,
                  "Engine threads for /v1 (default: [server] threads; 0: every core)");
  cmd->add_option("--pooling", a.pooling,
                  "How /v1/embeddings pools a text: mean, cls or last (default: [server] "
                  "pooling, else the model's own, else mean)")
      ->check(CLI::IsMember({"mean", "cls", "last"}));
  cmd->callback([&ctx] { ctx.exit_code = Serve(ctx, a); });
}

}  // namespace naut::cli

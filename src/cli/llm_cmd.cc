// neuronaut llm status | ask: look at the configured model servers, and talk to them once.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "cli/context.h"
#include "core/data_home.h"
#include "core/files.h"
#include "envs/registry.h"
#include "llm/embedded_backend.h"
#include "llm/endpoint_pool.h"
#include "llm/llama_server.h"
#include "llm/model_factory.h"
#include "llm/pool_journal.h"
#include "llm/schema_sanitizer.h"
#include "llm/tool_calls.h"
#include "mcp/hub.h"

namespace naut::cli {

namespace {

// What the pools of earlier and running processes (the agent, `llm ask`) went through, from
// the journal they append to: the probe above only shows the endpoints as they are now.
void PrintPoolEvents(const std::filesystem::path& journal) {
  auto events = llm::ReadPoolJournal(journal, 12);
  if (!events || events->empty()) return;
  std::cout << "\nrecent pool events (" << journal.string() << "):\n";
  for (const auto& e : *events) {
    std::cout << "  " << e.time << "  pid " << e.pid << "  "
              << (e.endpoint.empty() ? "" : e.endpoint + "  ") << e.event
              << (e.detail.empty() ? "" : ": " + e.detail) << "\n";
  }
}

int Status(const Config& config) {
  if (config.llm.backend == "llamacpp") {
    std::cout << "backend llamacpp: neuronaut starts llama-server itself when the agent runs\n";
    auto bin = llm::FindLlamaServer(config.llm.llama_server);
    std::cout << "  llama-server: " << (bin ? bin->string() : bin.error().message()) << "\n";
    auto gguf = llm::FindGguf(config.llm.model, config.llm.models_dir);
    std::cout << "  model:        " << (gguf ? gguf->string() : gguf.error().message()) << "\n";
    return bin && gguf ? kExitOk : kExitFailure;
  }
  if (config.llm.backend == "embedded") {
    std::cout << "backend embedded: neuronaut runs the model in-process (no server)\n";
    auto gguf = llm::FindGguf(config.llm.model, config.llm.models_dir);
    std::cout << "  model:  " << (gguf ? gguf->string() : gguf.error().message()) << "\n";
    if (!gguf) return kExitFailure;
    auto b = llm::EmbeddedBackend::Load({.model_path = gguf->string(),
                                         .context_size = config.llm.context_size,
                                         .threads = 1,
                                         .chat_format = config.llm.chat_format,
                                         .chat_template = config.llm.chat_template});
    if (!b) {
      std::cout << "  engine: " << b.error().ToString() << "\n";
      return kExitFailure;
    }
    std::cout << "  engine: loads; " << (*b)->PromptFormat() << ", context " << (*b)->context_size()
              << " tokens\n";
    return kExitOk;
  }
  llm::PoolOptions options;
  options.endpoints = llm::EndpointsFromConfig(config.llm);
  options.health_interval = std::chrono::milliseconds(0);
  llm::EndpointPool pool(options);
  auto status = pool.Status(/*probe=*/true);
  std::cout << fmt::format("{:<32} {:<12} {:<28} {:>8} {:>6} {:>5}\n", "endpoint", "health",
                           "model", "context", "slots", "busy");
  int up = 0;
  for (const auto& s : status) {
    up += s.state == "up";
    std::cout << fmt::format(
        "{:<32} {:<12} {:<28} {:>8} {:>6} {:>5}\n", s.url, s.state,
        // llama-server names its model by the path it was given
        s.model.empty() ? "-" : std::filesystem::path(s.model).filename().string(),
        s.context_size > 0 ? std::to_string(s.context_size) : "-",
        s.slots > 0 && s.state == "up" ? std::to_string(s.slots) : "-",
        s.server_busy >= 0 ? std::to_string(s.server_busy) : "-");
    if (s.state != "up" && !s.last_error.empty()) std::cout << "    " << s.last_error << "\n";
  }
  std::cout << up << " of " << status.size() << " endpoint(s) up\n";
  PrintPoolEvents(DataHome{config.home}.logs_dir() / llm::kPoolJournalName);
  return up > 0 ? kExitOk : kExitFailure;
}

// Tools from a file: an OpenAI `tools` array, an MCP tools/list result ({"tools": [...]}) or
// an array of MCP tools ({name, description, inputSchema}).
Result<std::vector<llm::ToolSpec>> LoadTools(const std::string& path) {
  NAUT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  NAUT_ASSIGN_OR_RETURN(Json j, ParseJson(text, "tools file " + path));
  if (j.is_object() && j.contains("tools")) j = j["tools"];
  if (!j.is_array())
    return InvalidArgument("tools file " + path +
                           ": expected an array of tools or {\"tools\": [...]}");
  std::vector<llm::ToolSpec> tools;
  for (size_t i = 0; i < j.size(); ++i) {
    Json t = j[i];
    if (t.is_object() && t.contains("function") && t["function"].is_object()) t = t["function"];
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
      return InvalidArgument("tools file " + path + ": tool " + std::to_string(i) +
                             " has no string \"name\"");
    }
    llm::ToolSpec spec;
    spec.name = t["name"].get<std::string>();
    spec.description = t.value("description", "");
    Json schema =
        t.contains("inputSchema") ? t["inputSchema"] : t.value("parameters", Json::object());
    auto sanitized = llm::SanitizeToolSchema(schema);
    for (const auto& note : sanitized.notes) spdlog::debug("tool {}: schema {}", spec.name, note);
    spec.parameters = sanitized.schema;
    tools.push_back(std::move(spec));
  }
  return tools;
}

// Turns Ctrl-C into a cancel of the running request, without work in a signal handler.
class InterruptToCancel {
 public:
  InterruptToCancel() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    waiter_ = std::jthread([this](std::stop_token stop) {
      timespec tick{0, 200'000'000};
      while (!stop.stop_requested()) {
        if (sigtimedwait(&set_, nullptr, &tick) == SIGINT) {
          cancel_.request_stop();
          return;
        }
      }
    });
  }
  ~InterruptToCancel() {
    waiter_.request_stop();
    waiter_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  std::stop_token token() const { return cancel_.get_token(); }

 private:
  sigset_t set_, old_;
  std::stop_source cancel_;
  std::jthread waiter_;
};

struct AskOptions {
  std::vector<std::string> words;
  std::string system;
  std::string tools_file;
  std::string tools_from;
  bool no_stream = false;
  int max_tokens = 0;
  double temperature = -1;
};

int Ask(const Config& config, const AskOptions& ask) {
  std::vector<llm::ToolSpec> tools;
  if (!ask.tools_from.empty()) {
    // The configured servers (mcp.json) and the built-in ones, by name as every command names
    // them.
    std::error_code ec;
    std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    envs::ResolvedServers resolved = envs::ResolveServers(config, self);
    if (resolved.Hides(ask.tools_from))
      std::cerr << envs::HiddenBuiltinNote(config, ask.tools_from) << "\n";
    std::string names;
    std::vector<McpServerConfig> chosen;
    for (const auto& s : resolved.servers) {
      names += (names.empty() ? "" : ", ") + s.name;
      if (s.name == ask.tools_from) chosen.push_back(s);
    }
    if (chosen.empty()) {
      return Fail(InvalidArgument("--tools-from " + ask.tools_from + ": no such MCP server in " +
                                  config.mcp_file.string() + " or among the built-in servers" +
                                  (names.empty() ? "" : " (known: " + names + ")")));
    }
    mcp::ClientManager hub(chosen, mcp::HubOptionsFrom(config));
    auto listed = hub.ListTools(ask.tools_from);
    if (!listed) return Fail(listed.error().WithContext("--tools-from " + ask.tools_from));
    for (const auto& t : *listed) {
      llm::ToolSpec spec;
      spec.name = JoinToolName(ask.tools_from, t.name);
      spec.description = t.description;
      spec.parameters = llm::SanitizeToolSchema(t.input_schema).schema;
      tools.push_back(std::move(spec));
    }
  }
  if (!ask.tools_file.empty()) {
    auto loaded = LoadTools(ask.tools_file);
    if (!loaded) return Fail(loaded.error());
    tools = std::move(*loaded);
  }
  std::string text;
  for (const auto& w : ask.words) text += (text.empty() ? "" : " ") + w;
  if (text.empty())
    return Fail(InvalidArgument("llm ask: nothing to ask; give the prompt as arguments"));

  // Journaled into an existing data home only: `llm ask` does not create one.
  std::error_code ec;
  auto model =
      llm::MakeChatModel(config.llm, std::filesystem::is_directory(config.home, ec)
                                         ? DataHome{config.home}.logs_dir() / llm::kPoolJournalName
                                         : std::filesystem::path());
  if (!model) return Fail(model.error());
  llm::ChatRequest request;
  if (!ask.system.empty()) request.messages.push_back(llm::Message::System(ask.system));
  request.messages.push_back(llm::Message::User(text));
  request.tools = tools;
  if (ask.max_tokens > 0) request.sampling.max_tokens = ask.max_tokens;
  if (ask.temperature >= 0) request.sampling.temperature = ask.temperature;

  InterruptToCancel interrupt;
  llm::CallOptions options;
  options.cancel = interrupt.token();
  bool reasoning_open = false;
  if (!ask.no_stream) {
    options.on_delta = [&](const llm::StreamDelta& d) {
      if (d.restart) std::cerr << "\n[the stream failed; answer restarted on another attempt]\n";
      if (!d.reasoning.empty()) {
        if (!reasoning_open) std::cerr << "[thinking] ";
        reasoning_open = true;
        std::cerr << d.reasoning << std::flush;
      }
      if (!d.content.empty()) {
        if (reasoning_open) std::cerr << "\n";
        reasoning_open = false;
        std::cout << d.content << std::flush;
      }
      if (d.tool_call_started) std::cerr << "\n[calling " << d.tool_name << "...]" << std::flush;
    };
  }
  auto result = (*model)->Chat(request, options);
  if (!result) {
    std::cout << std::flush;
    std::cerr << "\n";
    return Fail(result.error().ToStatus());
  }
  const llm::ChatResponse& r = *result;
  llm::ToolCallParser parser(tools);
  auto parsed = parser.Parse(r);
  if (ask.no_stream) std::cout << (tools.empty() ? r.content : parsed.text);
  std::cout << "\n";
  for (const auto& call : parsed.calls)
    std::cout << "tool call: " << call.name << " " << DumpJson(call.arguments) << "\n";
  if (!tools.empty() && !parsed.ok()) {
    for (const auto& p : parsed.problems) std::cout << "tool call problem: " << p << "\n";
  }
  std::cout << fmt::format(
      "[{} prompt tokens ({} cached), {} completion tokens, {:.1f} tokens/s, {:.2f} s, finish: "
      "{}{}]\n",
      r.usage.prompt_tokens, r.usage.cached_tokens, r.usage.completion_tokens, r.TokensPerSecond(),
      r.timings.total_ms / 1000.0, llm::FinishReasonName(r.finish_reason),
      r.endpoint.empty() ? "" : ", " + r.endpoint);
  return kExitOk;
}

}  // namespace

void AddLlmCommands(CLI::App& app, Context& ctx) {
  auto* llm = app.add_subcommand("llm", "Check the model servers and ask the model one question");
  llm->require_subcommand(1);

  auto* status =
      llm->add_subcommand("status", "Each LLM endpoint's health, load, model and context size");
  status->callback([&ctx] {
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    ctx.exit_code = Status(*config);
  });

  auto opts = std::make_shared<AskOptions>();
  auto* ask = llm->add_subcommand(
      "ask", "Send one prompt and print the answer (streamed), tool calls and token counts");
  ask->add_option("text", opts->words, "The prompt")->required();
  ask->add_option("--system", opts->system, "A system message");
  ask->add_option("--tools", opts->tools_file,
                  "Offer the tools in this JSON file (OpenAI tools or MCP tools/list)");
  ask->add_option("--tools-from", opts->tools_from,
                  "Offer the tools of this configured MCP server");
  ask->add_flag("--no-stream", opts->no_stream,
                "Wait for the whole answer instead of streaming it");
  ask->add_option("--max-tokens", opts->max_tokens, "Cap the answer's length");
  ask->add_option("--temperature", opts->temperature, "Sampling temperature");
  ask->callback([&ctx, opts] {
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    ctx.exit_code = Ask(*config, *opts);
  });
}

}  // namespace naut::cli

#pragma once
// NeuroNaut's configuration: neuronaut.toml, then environment variables, then command-line
// flags, each overriding the one before. External MCP servers come from mcp.json beside the
// TOML file, in the JSON shape desktop MCP clients use ({"mcpServers": {...}}).
//
// Every value remembers where it came from (`Config::origins`) so `neuronaut config show`
// can say so. Every error names the file, the key, the bad value and what was expected.
// Unknown keys are errors: a typo must not silently fall back to a default.
//
// Loading is a pure function of its inputs (files, the environment map, overrides); the
// result is an immutable value that may be shared between threads once built.

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace naut {

struct LogConfig {
  std::string level = "info";
  bool file = true;  // also log to <home>/logs/neuronaut.log
};

struct LlmConfig {
  std::string backend = "openai";  // openai | llamacpp | embedded
  std::string base_url = "http://127.0.0.1:8080";
  std::string model;    // model name for the server, or a GGUF path / name in models_dir
  std::string api_key;  // sent as a bearer token when set
  // Base URLs pooled with base_url; when base_url is left at its default, the pool is exactly
  // these (base_url becomes the first).
  std::vector<std::string> endpoints;
  double timeout_s = 600;
  int max_retries = 3;
  int context_size = 0;                       // 0: ask the server
  std::string llama_server = "llama-server";  // binary started by backend = "llamacpp"
  std::string models_dir = "models";
  int threads = 0;            // embedded engine threads, 0: all cores
  int slots = 2;              // KV caches (embedded) or llama-server slots, each context_size
  std::string chat_format;    // embedded engine: a built-in prompt format; empty: the template
  std::string chat_template;  // embedded engine: a Jinja file used instead of the GGUF's template
  // Embedded engine (run and serve): the KV cache's type, f16 | f32 | q8_0.
  std::string kv_cache = "f16";
  // How earlier tool calls are sent to an OpenAI-compatible server: "native" (OpenAI's
  // tool_calls and tool_call_id) or "text" (<tool_call> text in the assistant's message, for a
  // server that reads only role and content, such as Paddler 4.0.0).
  std::string tool_history = "native";
};

struct EmbeddingsConfig {
  std::string backend = "hashing";  // hashing | openai | embedded
  std::string base_url;             // openai: empty means the llm base_url
  std::string model;                // openai: the server's name; embedded: a GGUF
  int dim = 512;
};

// Where the memory keeps its vectors besides SQLite: "embedded" (the HNSW file in the data
// home) or "chroma" (a Chroma server at chroma_url, with the embedded index as the fallback
// while it is down).
struct MemoryConfig {
  std::string vector_store = "embedded";
  std::string chroma_url = "http://127.0.0.1:8000";
};

struct McpConfig {
  double call_timeout_s = 60;
  double connect_timeout_s = 20;
  bool builtin_servers = true;  // rpg, fs, exec, skills, memory served by this binary
};

struct SandboxConfig {
  std::string mode = "isolated";  // isolated | unisolated (explicit opt-out, results marked)
  double cpu_s = 30;
  double wall_s = 60;
  int memory_mb = 1024;
  int processes = 64;
  int file_size_mb = 64;
  int open_files = 256;
  int output_kb = 64;
  // The exec server's workspace; empty: a new one per server under <home>/workspaces.
  std::string workspace;
  // Directories the built-in fs server may touch; empty: the workspace (when set), else
  // <home>/workspaces. MCP roots from the client replace them.
  std::vector<std::string> fs_roots;
};

struct AgentConfig {
  std::string env = "rpg";
  int max_rounds = 4;
  int max_tasks = 0;  // 0: unbounded
  int max_tool_calls_per_task = 40;
  int max_tokens_per_task = 200000;
  double max_task_s = 900;
  int skills_top_k = 5;
  // A skill is offered only when its description is at least this similar (cosine) to the task;
  // unrelated skills lead small models astray.
  double skills_min_similarity = 0.3;
  int memories_top_k = 5;
  // Memory replay: after a task that failed ("failures"), after every task and at the end of
  // a run ("each_task"), or never ("off"), the model draws lessons from recent episodes.
  std::string reflect = "failures";
  // A task done by tool calls is first stored as a skill that makes those calls again, kept
  // (verified) only when the environment's checker agrees from the task's start; the model is
  // asked to write the skill only when that fails. false: the model always writes it.
  bool replay_skills = true;
  // Skill consolidation: after every this many tasks done (0: never), skills that look alike
  // (the mean of their descriptions' cosine and their code's word overlap at least
  // consolidate_similarity) are merged into one general skill, checked on each of their tasks.
  int consolidate_every = 5;
  double consolidate_similarity = 0.5;
  // A skill that passed tasks of which some pair is less alike than this (cosine) is split
  // into one skill per job in the same pass; 0: never.
  double split_below = 0.3;
  // An MCP server (defined in mcp.json) that keeps a knowledge graph with the reference
  // server-memory's tools; the agent records world facts in it and reads them back. Empty: none.
  std::string knowledge_graph;
  // The actor's sampling temperature. Low: a small model that samples at the engine's 0.8
  // wanders off a plan it stated one turn before.
  double temperature = 0.3;
};

// Which tools the agent may call: globs over <server>__<tool>. Tools that a server marks
// destructive run only when `allow` names them explicitly (not through "*"); the built-in fs
// server is confined to the agent's workspace, so its writing tools are named by default.
struct PermissionsConfig {
  std::vector<std::string> allow = {"*", "fs__write_file", "fs__edit_file", "fs__create_directory",
                                    "fs__move_file"};
  std::vector<std::string> deny;
  std::vector<std::string> ask;  // asked on the terminal; refused when not interactive
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8765;
  // /v1: a GGUF the embedded engine serves OpenAI-compatibly (empty: /v1 is not served).
  std::string model;
  int parallel = 2;     // slots decoded together
  int ctx_size = 4096;  // tokens each slot holds
  int queue = 16;       // requests that may wait for a slot; more get 503
  int threads = 0;      // engine threads; 0: every core
  // /v1/embeddings: how a text's hidden states become one vector (mean, cls, last); empty:
  // what the GGUF says (`<arch>.pooling_type`), else mean.
  std::string pooling;
};

struct McpServerConfig {
  std::string name;
  // stdio servers
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string cwd;
  // HTTP servers
  std::string url;
  std::map<std::string, std::string> headers;
  bool disabled = false;
  bool is_http() const { return !url.empty(); }
};

struct Config {
  std::filesystem::path home;         // the data home
  std::filesystem::path config_file;  // the TOML file consulted (may not exist)
  bool config_file_present = false;
  std::filesystem::path mcp_file;  // mcp.json consulted (may not exist)
  bool mcp_file_present = false;

  LogConfig log;
  LlmConfig llm;
  EmbeddingsConfig embeddings;
  MemoryConfig memory;
  McpConfig mcp;
  SandboxConfig sandbox;
  AgentConfig agent;
  PermissionsConfig permissions;
  ServerConfig server;
  std::vector<McpServerConfig> mcp_servers;  // from mcp.json, in file order

  // "llm.base_url" -> "default" | "file /x/neuronaut.toml" | "env LLM_BASE_URL" | "flag
  // --llm-base-url"
  std::map<std::string, std::string> origins;
};

// What the command line says. `settings` holds "section.key" -> value text, from flags such
// as --llm-base-url or --set llm.timeout_s=30; `flag_names` the flag each came from.
struct ConfigOverrides {
  std::optional<std::filesystem::path> config_file;
  std::optional<std::filesystem::path> home;
  std::vector<std::pair<std::string, std::string>> settings;
  std::map<std::string, std::string> flag_names;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
EnvLookup ProcessEnv();

Result<Config> LoadConfig(const ConfigOverrides& overrides, const EnvLookup& env);

// The effective configuration as TOML, each value followed by a comment naming its origin,
// then the MCP servers.
std::string RenderConfig(const Config& config);

// Parses the desktop-client shape {"mcpServers": {...}}; `file` is used in errors.
Result<std::vector<McpServerConfig>> ParseMcpServers(std::string_view json_text,
                                                     const std::string& file);

// All "section.key" names the TOML file accepts.
std::vector<std::string> ConfigKeys();

}  // namespace naut

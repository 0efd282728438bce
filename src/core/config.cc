#include "core/config.h"

#include <toml++/toml.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/files.h"
#include "core/json.h"
#include "core/toml.h"
#include "core/tool_name.h"

namespace naut {

namespace fs = std::filesystem;

namespace {

// One configurable value: how to read it from TOML or from text (env, flags), and how to
// print it. `where` prefixes errors ("config /x/neuronaut.toml:3:1").
struct Field {
  std::string key;  // "llm.base_url"
  std::function<Status(Config&, const toml::node&, const std::string& where)> from_toml;
  std::function<Status(Config&, const std::string&, const std::string& where)> from_text;
  std::function<std::string(const Config&)> show;  // as a TOML value
};

// A TOML basic string; JSON's escapes are valid TOML.
std::string Quote(const std::string& s) { return DumpJson(Json(s)); }

std::string NodeText(const toml::node& node) {
  if (node.is_string()) return Quote(*node.value<std::string>());
  std::ostringstream out;
  node.visit([&](const auto& n) { out << n; });
  std::string s = out.str();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string SectionKey(const std::string& key) {
  auto dot = key.find('.');
  return "[" + key.substr(0, dot) + "] " + key.substr(dot + 1);
}

Status Bad(const std::string& where, const std::string& key, const std::string& value,
           const std::string& expected) {
  return InvalidArgument(where + ": " + SectionKey(key) + " = " + value + " is invalid: expected " +
                         expected);
}

using Check = std::function<std::optional<std::string>(const std::string&)>;  // -> expected

Check OneOf(const std::vector<std::string>& choices) {
  return [choices](const std::string& v) -> std::optional<std::string> {
    for (const auto& c : choices) {
      if (c == v) return std::nullopt;
    }
    std::string s = "one of";
    for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", " : " ") + Quote(choices[i]);
    return s;
  };
}

std::optional<std::string> HttpUrlProblem(const std::string& v) {
  if (v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0) {
    if (v.find("://") + 3 < v.size()) return std::nullopt;
  }
  return "an http(s) URL such as \"http://127.0.0.1:8080\"";
}

Check HttpUrl() { return HttpUrlProblem; }
Check HttpUrlOrEmpty() {
  return [](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::nullopt;
    return HttpUrlProblem(v);
  };
}

Field StringField(const std::string& key, std::string& (*ref)(Config&),
                  const Check& check = nullptr) {
  Field f;
  f.key = key;
  auto set = [key, ref, check](Config& c, const std::string& v,
                               const std::string& where) -> Status {
    if (check) {
      if (auto expected = check(v)) return Bad(where, key, Quote(v), *expected);
    }
    ref(c) = v;
    return Status::Ok();
  };
  f.from_toml = [key, set](Config& c, const toml::node& n, const std::string& where) -> Status {
    if (!n.is_string()) return Bad(where, key, NodeText(n), "a string, got " + TomlTypeName(n));
    return set(c, *n.value<std::string>(), where);
  };
  f.from_text = set;
  f.show = [ref](const Config& c) { return Quote(ref(const_cast<Config&>(c))); };
  return f;
}

std::string FormatNumber(double v) {
  std::ostringstream o;
  if (std::floor(v) == v && std::fabs(v) < 1e15) {
    o << static_cast<int64_t>(v);
  } else {
    o << v;
  }
  return o.str();
}

template <typename T>
Field NumberField(const std::string& key, T& (*ref)(Config&), double min, double max) {
  Field f;
  f.key = key;
  constexpr bool kInt = std::is_integral_v<T>;
  std::string range = std::string(kInt ? "an integer" : "a number") + " from " + FormatNumber(min) +
                      " to " + FormatNumber(max);
  auto set = [key, ref, min, max, range](Config& c, double v, const std::string& shown,
                                         const std::string& where) -> Status {
    if (!(v >= min && v <= max)) return Bad(where, key, shown, range);
    if (kInt && std::floor(v) != v) return Bad(where, key, shown, range);
    ref(c) = static_cast<T>(v);
    return Status::Ok();
  };
  f.from_toml = [key, set, range](Config& c, const toml::node& n,
                                  const std::string& where) -> Status {
    if (n.is_integer()) return set(c, static_cast<double>(*n.value<int64_t>()), NodeText(n), where);
    if (!kInt && n.is_floating_point()) return set(c, *n.value<double>(), NodeText(n), where);
    return Bad(where, key, NodeText(n), range + ", got " + TomlTypeName(n));
  };
  f.from_text = [key, set, range](Config& c, const std::string& text,
                                  const std::string& where) -> Status {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size())
      return Bad(where, key, Quote(text), range);
    return set(c, v, text, where);
  };
  f.show = [ref](const Config& c) {
    std::ostringstream o;
    o << ref(const_cast<Config&>(c));
    return o.str();
  };
  return f;
}

Field BoolField(const std::string& key, bool& (*ref)(Config&)) {
  Field f;
  f.key = key;
  f.from_toml = [key, ref](Config& c, const toml::node& n, const std::string& where) -> Status {
    if (!n.is_boolean())
      return Bad(where, key, NodeText(n), "true or false, got " + TomlTypeName(n));
    ref(c) = *n.value<bool>();
    return Status::Ok();
  };
  f.from_text = [key, ref](Config& c, const std::string& v, const std::string& where) -> Status {
    if (v == "true" || v == "1" || v == "yes") {
      ref(c) = true;
    } else if (v == "false" || v == "0" || v == "no") {
      ref(c) = false;
    } else {
      return Bad(where, key, Quote(v), "true or false");
    }
    return Status::Ok();
  };
  f.show = [ref](const Config& c) { return ref(const_cast<Config&>(c)) ? "true" : "false"; };
  return f;
}

Field StringListField(const std::string& key, std::vector<std::string>& (*ref)(Config&),
                      const Check& check) {
  Field f;
  f.key = key;
  f.from_toml = [key, ref, check](Config& c, const toml::node& n,
                                  const std::string& where) -> Status {
    const toml::array* arr = n.as_array();
    if (arr == nullptr)
      return Bad(where, key, NodeText(n), "an array of strings, got " + TomlTypeName(n));
    std::vector<std::string> out;
    for (const auto& item : *arr) {
      if (!item.is_string()) return Bad(where, key, NodeText(item), "an array of strings");
      std::string v = *item.value<std::string>();
      if (check) {
        if (auto expected = check(v)) return Bad(where, key, Quote(v), "each entry " + *expected);
      }
      out.push_back(v);
    }
    ref(c) = std::move(out);
    return Status::Ok();
  };
  f.from_text = [key, ref, check](Config& c, const std::string& text,
                                  const std::string& where) -> Status {
    std::vector<std::string> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      if (check) {
        if (auto expected = check(item))
          return Bad(where, key, Quote(item), "each entry " + *expected);
      }
      out.push_back(item);
    }
    ref(c) = std::move(out);
    return Status::Ok();
  };
  f.show = [ref](const Config& c) {
    std::string s = "[";
    const auto& v = ref(const_cast<Config&>(c));
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + Quote(v[i]);
    return s + "]";
  };
  return f;
}

// `member` is a path of member names (llm.base_url), which parentheses would not parse.
#define NAUT_REF(member) \
  [](Config & c) -> auto& { return c.member; }  // NOLINT(bugprone-macro-parentheses)

const std::vector<Field>& Fields() {
  static const std::vector<Field> fields = [] {
    std::vector<Field> f;
    f.push_back(StringField("log.level", NAUT_REF(log.level),
                            OneOf({"trace", "debug", "info", "warn", "error", "off"})));
    f.push_back(BoolField("log.file", NAUT_REF(log.file)));
    f.push_back(StringField("llm.backend", NAUT_REF(llm.backend),
                            OneOf({"openai", "llamacpp", "embedded"})));
    f.push_back(StringField("llm.base_url", NAUT_REF(llm.base_url), HttpUrl()));
    f.push_back(StringField("llm.model", NAUT_REF(llm.model)));
    f.push_back(StringField("llm.api_key", NAUT_REF(llm.api_key)));
    f.push_back(StringListField("llm.endpoints", NAUT_REF(llm.endpoints), HttpUrl()));
    f.push_back(NumberField<double>("llm.timeout_s", NAUT_REF(llm.timeout_s), 1, 86400));
    f.push_back(NumberField<int>("llm.max_retries", NAUT_REF(llm.max_retries), 0, 20));
    f.push_back(NumberField<int>("llm.context_size", NAUT_REF(llm.context_size), 0, 10'000'000));
    f.push_back(StringField("llm.llama_server", NAUT_REF(llm.llama_server)));
    f.push_back(StringField("llm.models_dir", NAUT_REF(llm.models_dir)));
    f.push_back(NumberField<int>("llm.threads", NAUT_REF(llm.threads), 0, 1024));
    f.push_back(NumberField<int>("llm.slots", NAUT_REF(llm.slots), 1, 64));
    f.push_back(StringField("llm.chat_format", NAUT_REF(llm.chat_format),
                            OneOf({"", "chatml", "llama3", "mistral-v7", "mistral", "gemma"})));
    f.push_back(StringField("llm.chat_template", NAUT_REF(llm.chat_template)));
    f.push_back(StringField("llm.kv_cache", NAUT_REF(llm.kv_cache), OneOf({"f16", "f32", "q8_0"})));
    f.push_back(
        StringField("llm.tool_history", NAUT_REF(llm.tool_history), OneOf({"native", "text"})));
    f.push_back(StringField("embeddings.backend", NAUT_REF(embeddings.backend),
                            OneOf({"hashing", "openai", "embedded"})));
    f.push_back(
        StringField("embeddings.base_url", NAUT_REF(embeddings.base_url), HttpUrlOrEmpty()));
    f.push_back(StringField("embeddings.model", NAUT_REF(embeddings.model)));
    f.push_back(NumberField<int>("embeddings.dim", NAUT_REF(embeddings.dim), 8, 65536));
    f.push_back(StringField("memory.vector_store", NAUT_REF(memory.vector_store),
                            OneOf({"embedded", "chroma"})));
    f.push_back(StringField("memory.chroma_url", NAUT_REF(memory.chroma_url), HttpUrl()));
    f.push_back(
        NumberField<double>("mcp.call_timeout_s", NAUT_REF(mcp.call_timeout_s), 0.1, 86400));
    f.push_back(
        NumberField<double>("mcp.connect_timeout_s", NAUT_REF(mcp.connect_timeout_s), 0.1, 3600));
    f.push_back(BoolField("mcp.builtin_servers", NAUT_REF(mcp.builtin_servers)));
    f.push_back(
        StringField("sandbox.mode", NAUT_REF(sandbox.mode), OneOf({"isolated", "unisolated"})));
    f.push_back(NumberField<double>("sandbox.cpu_s", NAUT_REF(sandbox.cpu_s), 0.1, 86400));
    f.push_back(NumberField<double>("sandbox.wall_s", NAUT_REF(sandbox.wall_s), 0.1, 86400));
    f.push_back(NumberField<int>("sandbox.memory_mb", NAUT_REF(sandbox.memory_mb), 16, 1 << 20));
    f.push_back(NumberField<int>("sandbox.processes", NAUT_REF(sandbox.processes), 1, 100000));
    f.push_back(
        NumberField<int>("sandbox.file_size_mb", NAUT_REF(sandbox.file_size_mb), 1, 1 << 20));
    f.push_back(NumberField<int>("sandbox.open_files", NAUT_REF(sandbox.open_files), 16, 1 << 20));
    f.push_back(NumberField<int>("sandbox.output_kb", NAUT_REF(sandbox.output_kb), 1, 1 << 20));
    f.push_back(StringField("sandbox.workspace", NAUT_REF(sandbox.workspace)));
    f.push_back(StringListField("sandbox.fs_roots", NAUT_REF(sandbox.fs_roots), nullptr));
    f.push_back(StringField("agent.env", NAUT_REF(agent.env)));
    f.push_back(NumberField<int>("agent.max_rounds", NAUT_REF(agent.max_rounds), 1, 100));
    f.push_back(NumberField<int>("agent.max_tasks", NAUT_REF(agent.max_tasks), 0, 1'000'000));
    f.push_back(NumberField<int>("agent.max_tool_calls_per_task",
                                 NAUT_REF(agent.max_tool_calls_per_task), 1, 100000));
    f.push_back(NumberField<int>("agent.max_tokens_per_task", NAUT_REF(agent.max_tokens_per_task),
                                 100, 1'000'000'000));
    f.push_back(NumberField<double>("agent.max_task_s", NAUT_REF(agent.max_task_s), 1, 1'000'000));
    f.push_back(NumberField<int>("agent.skills_top_k", NAUT_REF(agent.skills_top_k), 0, 100));
    f.push_back(NumberField<double>("agent.skills_min_similarity",
                                    NAUT_REF(agent.skills_min_similarity), -1, 1));
    f.push_back(NumberField<double>("agent.temperature", NAUT_REF(agent.temperature), 0, 2));
    f.push_back(NumberField<int>("agent.memories_top_k", NAUT_REF(agent.memories_top_k), 0, 100));
    f.push_back(StringField("agent.reflect", NAUT_REF(agent.reflect),
                            OneOf({"off", "failures", "each_task"})));
    f.push_back(BoolField("agent.replay_skills", NAUT_REF(agent.replay_skills)));
    f.push_back(
        NumberField<int>("agent.consolidate_every", NAUT_REF(agent.consolidate_every), 0, 100000));
    f.push_back(NumberField<double>("agent.consolidate_similarity",
                                    NAUT_REF(agent.consolidate_similarity), 0, 1));
    f.push_back(NumberField<double>("agent.split_below", NAUT_REF(agent.split_below), 0, 1));
    f.push_back(StringField("agent.knowledge_graph", NAUT_REF(agent.knowledge_graph)));
    f.push_back(StringListField("permissions.allow", NAUT_REF(permissions.allow), nullptr));
    f.push_back(StringListField("permissions.deny", NAUT_REF(permissions.deny), nullptr));
    f.push_back(StringListField("permissions.ask", NAUT_REF(permissions.ask), nullptr));
    f.push_back(StringField("server.host", NAUT_REF(server.host)));
    f.push_back(NumberField<int>("server.port", NAUT_REF(server.port), 0, 65535));
    f.push_back(StringField("server.model", NAUT_REF(server.model)));
    f.push_back(NumberField<int>("server.parallel", NAUT_REF(server.parallel), 1, 64));
    f.push_back(NumberField<int>("server.ctx_size", NAUT_REF(server.ctx_size), 256, 1 << 20));
    f.push_back(NumberField<int>("server.queue", NAUT_REF(server.queue), 0, 4096));
    f.push_back(NumberField<int>("server.threads", NAUT_REF(server.threads), 0, 1024));
    f.push_back(StringField("server.pooling", NAUT_REF(server.pooling),
                            OneOf({"", "mean", "cls", "last"})));
    return f;
  }();
  return fields;
}

#undef NAUT_REF

const Field* FindField(const std::string& key) {
  for (const auto& f : Fields()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string KnownKeysIn(const std::string& section) {
  std::string s;
  for (const auto& f : Fields()) {
    if (f.key.rfind(section + ".", 0) == 0)
      s += (s.empty() ? "" : ", ") + f.key.substr(section.size() + 1);
  }
  return s;
}

std::string KnownSections() {
  std::string s;
  std::string last;
  for (const auto& f : Fields()) {
    std::string sec = f.key.substr(0, f.key.find('.'));
    if (sec != last) s += (s.empty() ? "" : ", ") + ("[" + sec + "]");
    last = sec;
  }
  return s;
}

std::string Where(const fs::path& file, const toml::source_region& src) {
  std::string w = "config " + file.string();
  if (src.begin.line > 0)
    w += ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
  return w;
}

Status ApplyToml(Config& config, const fs::path& file, const std::string& text) {
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    return InvalidArgument(Where(file, e.source()) +
                           ": malformed TOML: " + std::string(e.description()));
  }
  for (const auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    if (KnownKeysIn(section).empty()) {
      return InvalidArgument(Where(file, section_node.source()) + ": unknown section [" + section +
                             "]; known sections: " + KnownSections());
    }
    if (table == nullptr) {
      return InvalidArgument(Where(file, section_node.source()) + ": '" + section +
                             "' must be a table ([" + section + "]), got " +
                             TomlTypeName(section_node));
    }
    for (const auto& [key, node] : *table) {
      std::string full = section + "." + std::string(key.str());
      const Field* field = FindField(full);
      if (field == nullptr) {
        return InvalidArgument(Where(file, node.source()) + ": unknown key '" +
                               std::string(key.str()) + "' in [" + section +
                               "]; known keys: " + KnownKeysIn(section));
      }
      NAUT_RETURN_IF_ERROR(field->from_toml(config, node, Where(file, node.source())));
      config.origins[full] = "file " + file.string();
    }
  }
  return Status::Ok();
}

fs::path DefaultHome(const EnvLookup& env) {
  if (auto home = env("HOME"); home && !home->empty()) return fs::path(*home) / ".neuronaut";
  return fs::path("/tmp") / ".neuronaut";
}

Result<std::string> ReadOptionalFile(const fs::path& path, bool& present) {
  std::error_code ec;
  present = fs::exists(path, ec);
  if (!present) return std::string();
  if (fs::is_directory(path, ec))
    return InvalidArgument(path.string() + " is a directory, expected a file");
  return ReadFile(path);
}

Result<McpServerConfig> ParseMcpServer(const std::string& name, const Json& entry,
                                       const std::string& where) {
  McpServerConfig s;
  s.name = name;
  std::string at = where + ": mcpServers." + name;
  if (!entry.is_object())
    return InvalidArgument(at + " must be an object, got " + std::string(JsonTypeName(entry)));
  if (name.empty() || HasToolNameSeparator(name)) {
    return InvalidArgument(at +
                           ": server names must be non-empty and must not contain '__' "
                           "(tools reach the model as <server>__<tool>)");
  }
  auto string_map = [&](const Json& j, const std::string& key,
                        std::map<std::string, std::string>& out) -> Status {
    if (!j.is_object()) return InvalidArgument(at + "." + key + " must be an object of strings");
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) {
        return InvalidArgument(at + "." + key + "." + k + " must be a string, got " +
                               std::string(JsonTypeName(v)));
      }
      out[k] = v.get<std::string>();
    }
    return Status::Ok();
  };
  for (const auto& [key, value] : entry.items()) {
    if (key == "command") {
      if (!value.is_string()) return InvalidArgument(at + ".command must be a string");
      s.command = value.get<std::string>();
    } else if (key == "args") {
      if (!value.is_array()) return InvalidArgument(at + ".args must be an array of strings");
      for (const auto& a : value) {
        if (!a.is_string())
          return InvalidArgument(at + ".args must be an array of strings, found " +
                                 std::string(JsonTypeName(a)));
        s.args.push_back(a.get<std::string>());
      }
    } else if (key == "env") {
      NAUT_RETURN_IF_ERROR(string_map(value, key, s.env));
    } else if (key == "headers") {
      NAUT_RETURN_IF_ERROR(string_map(value, key, s.headers));
    } else if (key == "url" || key == "serverUrl") {
      if (!value.is_string()) return InvalidArgument(at + "." + key + " must be a string");
      s.url = value.get<std::string>();
      if (auto problem = HttpUrlProblem(s.url)) {
        return InvalidArgument(at + "." + key + " = \"" + s.url + "\" is invalid: expected " +
                               *problem);
      }
    } else if (key == "cwd") {
      if (!value.is_string()) return InvalidArgument(at + ".cwd must be a string");
      s.cwd = value.get<std::string>();
    } else if (key == "disabled") {
      if (!value.is_boolean()) return InvalidArgument(at + ".disabled must be true or false");
      s.disabled = value.get<bool>();
    } else if (key == "type" || key == "transport") {
      if (!value.is_string()) return InvalidArgument(at + "." + key + " must be a string");
      std::string t = value.get<std::string>();
      if (t != "stdio" && t != "http" && t != "streamable-http" && t != "streamableHttp" &&
          t != "sse") {
        return InvalidArgument(at + "." + key + " = \"" + t +
                               "\" is invalid: expected \"stdio\" or \"http\"");
      }
    } else if (key == "autoApprove" || key == "alwaysAllow" || key == "timeout" ||
               key == "description") {
      // Other desktop clients' settings: accepted so their files work unchanged.
    } else {
      return InvalidArgument(at + ": unknown key '" + key +
                             "'; expected command, args, env, cwd (stdio) or url, headers (HTTP)");
    }
  }
  if (s.command.empty() == s.url.empty()) {
    return InvalidArgument(
        at + ": needs exactly one of \"command\" (a stdio server) or \"url\" (an HTTP server)");
  }
  return s;
}

}  // namespace

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> keys;
  for (const auto& f : Fields()) keys.push_back(f.key);
  return keys;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::vector<McpServerConfig>> ParseMcpServers(std::string_view json_text,
                                                     const std::string& file) {
  std::string where = "mcp servers " + file;
  NAUT_ASSIGN_OR_RETURN(Json root, ParseJson(json_text, where));
  if (!root.is_object())
    return InvalidArgument(where + ": expected an object {\"mcpServers\": {...}}");
  std::vector<McpServerConfig> out;
  for (const auto& [key, value] : root.items()) {
    if (key != "mcpServers") {
      return InvalidArgument(where + ": unknown key '" + key + "'; expected only \"mcpServers\"");
    }
    if (!value.is_object())
      return InvalidArgument(where + ": mcpServers must be an object of servers by name");
    for (const auto& [name, entry] : value.items()) {
      NAUT_ASSIGN_OR_RETURN(McpServerConfig server, ParseMcpServer(name, entry, where));
      out.push_back(std::move(server));
    }
  }
  return out;
}

Result<Config> LoadConfig(const ConfigOverrides& overrides, const EnvLookup& env) {
  Config config;
  for (const auto& f : Fields()) config.origins[f.key] = "default";

  if (overrides.home) {
    config.home = *overrides.home;
    config.origins["home"] = "flag --home";
  } else if (auto h = env("NEURONAUT_HOME"); h && !h->empty()) {
    config.home = *h;
    config.origins["home"] = "env NEURONAUT_HOME";
  } else {
    config.home = DefaultHome(env);
    config.origins["home"] = "default";
  }
  config.home = fs::absolute(config.home).lexically_normal();

  if (overrides.config_file) {
    config.config_file = fs::absolute(*overrides.config_file);
    std::error_code ec;
    if (!fs::exists(config.config_file, ec)) {
      return NotFound("config " + config.config_file.string() +
                      ": no such file (given with --config)");
    }
  } else {
    config.config_file = config.home / "neuronaut.toml";
  }
  NAUT_ASSIGN_OR_RETURN(std::string toml_text,
                        ReadOptionalFile(config.config_file, config.config_file_present));
  if (config.config_file_present)
    NAUT_RETURN_IF_ERROR(ApplyToml(config, config.config_file, toml_text));

  static const std::pair<const char*, const char*> kEnvKeys[] = {
      {"LLM_BACKEND", "llm.backend"},
      {"LLM_BASE_URL", "llm.base_url"},
      {"LLM_MODEL", "llm.model"},
      {"LLM_API_KEY", "llm.api_key"},
  };
  for (const auto& [var, key] : kEnvKeys) {
    auto value = env(var);
    if (!value) continue;
    NAUT_RETURN_IF_ERROR(
        FindField(key)->from_text(config, *value, std::string("environment variable ") + var));
    config.origins[key] = std::string("env ") + var;
  }

  for (const auto& [key, value] : overrides.settings) {
    const Field* field = FindField(key);
    auto flag = overrides.flag_names.find(key);
    std::string flag_name = flag != overrides.flag_names.end() ? flag->second : "--set " + key;
    if (field == nullptr) {
      return InvalidArgument("flag " + flag_name + ": unknown key '" + key +
                             "'; known keys: " + [] {
                               std::string s;
                               for (const auto& f : Fields()) s += (s.empty() ? "" : ", ") + f.key;
                               return s;
                             }());
    }
    NAUT_RETURN_IF_ERROR(field->from_text(config, value, "flag " + flag_name));
    config.origins[key] = "flag " + flag_name;
  }

  // The pool is exactly what the user lists: the default base_url (where nothing may run) joins
  // it only when no endpoints are listed.
  if (!config.llm.endpoints.empty() && config.origins["llm.base_url"] == "default") {
    config.llm.base_url = config.llm.endpoints.front();
    config.origins["llm.base_url"] = "the first of llm.endpoints";
  }

  config.mcp_file = config.config_file.parent_path() / "mcp.json";
  NAUT_ASSIGN_OR_RETURN(std::string mcp_text,
                        ReadOptionalFile(config.mcp_file, config.mcp_file_present));
  if (config.mcp_file_present) {
    NAUT_ASSIGN_OR_RETURN(config.mcp_servers, ParseMcpServers(mcp_text, config.mcp_file.string()));
  }
  return config;
}

std::string RenderConfig(const Config& config) {
  std::ostringstream out;
  auto line = [&](const std::string& text, const std::string& origin) {
    out << text;
    if (text.size() < 44) out << std::string(44 - text.size(), ' ');
    out << " # " << origin << "\n";
  };
  out << "# config file: " << config.config_file.string()
      << (config.config_file_present ? "" : " (not present: defaults used)") << "\n";
  out << "# mcp servers: " << config.mcp_file.string()
      << (config.mcp_file_present ? "" : " (not present)") << "\n";
  line("home = " + Quote(config.home.string()), config.origins.at("home"));
  std::string section;
  for (const auto& f : Fields()) {
    std::string sec = f.key.substr(0, f.key.find('.'));
    if (sec != section) {
      out << "\n[" << sec << "]\n";
      section = sec;
    }
    std::string value = f.show(config);
    if (f.key == "llm.api_key" && !config.llm.api_key.empty()) value = "\"(set, hidden)\"";
    line(f.key.substr(sec.size() + 1) + " = " + value, config.origins.at(f.key));
  }
  out << "\n# MCP servers from " << config.mcp_file.filename().string() << "\n";
  if (config.mcp_servers.empty()) out << "#   (none)\n";
  for (const auto& s : config.mcp_servers) {
    out << "#   " << s.name << ": ";
    if (s.is_http()) {
      out << s.url;
    } else {
      out << s.command;
      for (const auto& a : s.args) out << " " << a;
    }
    if (s.disabled) out << " (disabled)";
    out << "\n";
  }
  return out.str();
}

}  // namespace naut

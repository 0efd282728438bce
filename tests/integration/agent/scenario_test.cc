// The agent's scenario tests: each tests/scenarios/*.json file is a scenario (data, not code)
// run here against real processes: a fresh data home, the scripted LLM server
// (naut-scripted-llm) with the scenario's model turns, and the real `neuronaut run ... --json`
// binary, which starts the built-in rpg / fs / exec servers over stdio and runs code actions
// through the skill runtime. The runner checks the exit code, the JSON events, the requests the
// model server received, the run's trace and the data home (PROGRESS.md, skills/*.py, files).
// The format is documented in tests/scenarios/README.md.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"
#include "llm/scripted_llm_process.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<fs::path> ScenarioFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(NAUT_SCENARIO_DIR)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Text(const Json& j) { return j.is_string() ? j.get<std::string>() : DumpJson(j); }

// `pattern` is a subset of `actual`: every key of an object pattern matches; a string pattern
// starting with "~" matches any value whose text contains the rest; anything else is equality.
bool Matches(const Json& pattern, const Json& actual) {
  if (pattern.is_object()) {
    if (!actual.is_object()) return false;
    for (const auto& [k, v] : pattern.items()) {
      if (!actual.contains(k) || !Matches(v, actual[k])) return false;
    }
    return true;
  }
  if (pattern.is_string() && pattern.get<std::string>().rfind("~", 0) == 0) {
    return Text(actual).find(pattern.get<std::string>().substr(1)) != std::string::npos;
  }
  return pattern == actual;
}

std::string OneLineForLog(const Json& e) {
  std::string s = DumpJson(e);
  return s.size() > 300 ? s.substr(0, 300) + "..." : s;
}

// Checks that `patterns` occur in `events` in this order (other events may come between).
void ExpectInOrder(const Json& patterns, const std::vector<Json>& events, const std::string& what) {
  size_t at = 0;
  for (const auto& p : patterns) {
    bool found = false;
    for (; at < events.size(); ++at) {
      if (Matches(p, events[at])) {
        found = true;
        ++at;
        break;
      }
    }
    if (!found) {
      std::string all;
      for (const auto& e : events) all += OneLineForLog(e) + "\n";
      ADD_FAILURE() << what << ": no event matching " << DumpJson(p) << " (in this order) among:\n"
                    << all;
      return;
    }
  }
}

int CountMatching(const Json& pattern, const std::vector<Json>& events) {
  return static_cast<int>(std::count_if(events.begin(), events.end(),
                                        [&](const Json& e) { return Matches(pattern, e); }));
}

std::vector<Json> ReadJsonLines(const fs::path& file) {
  std::vector<Json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto j = Json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

struct RunOutput {
  ExitStatus status;
  bool killed = false;
  std::vector<Json> events;
  std::string err;
};

class ScenarioTest : public ::testing::TestWithParam<fs::path> {
 protected:
  void SetUp() override {
    auto text = ReadFile(GetParam());
    ASSERT_TRUE(text) << text.error().ToString();
    scenario_ = Json::parse(*text, nullptr, false);
    ASSERT_FALSE(scenario_.is_discarded()) << GetParam() << " is not JSON";
    work_ = fs::temp_directory_path() / ("naut-scenario-" + NewId());
    fs::create_directories(work_);
    UseHome("main");
  }
  void TearDown() override {
    if (HasFailure() || std::getenv("NAUT_SCENARIO_KEEP") != nullptr) {
      std::cerr << "scenario scratch directory kept: " << work_ << "\n";
    } else {
      std::error_code ec;
      fs::remove_all(work_, ec);
    }
  }

  void UseHome(const std::string& name) {
    home_ = work_ / ("home-" + name);
    if (!fs::exists(home_)) {
      fs::create_directories(home_);
      std::ofstream(home_ / "neuronaut.toml") << Expand(scenario_.value("config", ""));
      if (scenario_.contains("mcp"))
        std::ofstream(home_ / "mcp.json") << DumpJson(ExpandAll(scenario_["mcp"]), 2);
    }
  }

  std::string Expand(std::string s) const {
    for (auto [key, value] : {std::pair<std::string, std::string>{"{work}", work_.string()},
                              {"{home}", home_.string()},
                              {"{source}", std::string(NAUT_SOURCE_DIR)}}) {
      for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size()))
        s.replace(at, key.size(), value);
    }
    return s;
  }

  Json ExpandAll(Json j) const {
    if (j.is_string()) return Expand(j.get<std::string>());
    if (j.is_structured()) {
      for (auto& v : j) v = ExpandAll(v);
    }
    return j;
  }

  std::map<std::string, std::string> Env(const std::string& llm_url) const {
    return {{"NEURONAUT_HOME", home_.string()},
            {"LLM_BASE_URL", llm_url.empty() ? "http://127.0.0.1:1" : llm_url},
            {"LLM_BACKEND", "openai"},
            {"NO_COLOR", "1"}};
  }

  std::vector<std::string> Args(const Json& args) const {
    std::vector<std::string> argv = {NAUT_CLI};
    for (const auto& a : args) argv.push_back(Expand(a.get<std::string>()));
    return argv;
  }

  void CliStep(const Json& step) {
    auto r = RunCommand({.argv = Args(step["cli"]), .env = Env("")}, "", 120s);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->status.exit_code, step.value("exit_code", 0))
        << "neuronaut " << DumpJson(step["cli"]) << "\n"
        << r->out << r->err;
    if (step.contains("stdout_to"))
      std::ofstream(work_ / step["stdout_to"].get<std::string>()) << r->out;
    if (step.contains("stdout_contains")) {
      for (const auto& s : step["stdout_contains"])
        EXPECT_NE(r->out.find(s.get<std::string>()), std::string::npos) << r->out;
    }
  }

  // Runs neuronaut with its stdout and stderr read as they come, so the run can be killed
  // right after a given event.
  RunOutput RunNeuronaut(const Json& args, const std::string& llm_url, const Json& kill_after) {
    RunOutput out;
    auto child = Subprocess::Spawn(
        {.argv = Args(args), .env = Env(llm_url), .pipe_stdin = false, .new_process_group = true});
    if (!child) {
      ADD_FAILURE() << child.error().ToString();
      return out;
    }
    std::string buf_out;
    int fds[2] = {(*child)->stdout_fd(), (*child)->stderr_fd()};
    bool open[2] = {true, true};
    int seen = 0;
    auto deadline = std::chrono::steady_clock::now() + 300s;
    while ((open[0] || open[1]) && !out.killed) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "neuronaut did not finish within 300 s";
        (*child)->Signal(SIGKILL);
        break;
      }
      pollfd pfd[2] = {{open[0] ? fds[0] : -1, POLLIN, 0}, {open[1] ? fds[1] : -1, POLLIN, 0}};
      if (poll(pfd, 2, 200) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = read(fds[i], buf, sizeof buf);
        if (n <= 0) {
          open[i] = false;
          continue;
        }
        if (i == 1) {
          out.err.append(buf, static_cast<size_t>(n));
          continue;
        }
        buf_out.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = buf_out.find('\n')) != std::string::npos;) {
          std::string line = buf_out.substr(0, nl);
          buf_out.erase(0, nl + 1);
          auto j = Json::parse(line, nullptr, false);
          if (j.is_discarded()) {
            ADD_FAILURE() << "a --json stdout line is not JSON: " << line;
            continue;
          }
          out.events.push_back(j);
          if (!kill_after.is_null() && Matches(kill_after["event"], j) &&
              ++seen == kill_after.value("nth", 1)) {
            // kill -9 of the agent process alone, as a user would; its MCP servers see their
            // stdin close and exit.
            ::kill((*child)->pid(), SIGKILL);
            out.killed = true;
            break;
          }
        }
      }
    }
    out.status = (*child)->Wait();
    return out;
  }

  // A response's "content" may be a list of lines (code reads better that way in a scenario
  // file); the server gets them joined with newlines.
  static Json JoinLines(Json script) {
    for (const char* key : {"responses"}) {
      if (!script.contains(key)) continue;
      for (auto& r : script[key]) {
        if (r.contains("content") && r["content"].is_array()) {
          std::string text;
          for (const auto& line : r["content"]) text += line.get<std::string>() + "\n";
          r["content"] = text;
        }
      }
    }
    if (script.contains("default") && script["default"].contains("content") &&
        script["default"]["content"].is_array()) {
      script["default"] = JoinLines(Json{{"responses", {script["default"]}}})["responses"][0];
    }
    return script;
  }

  void RunStep(const Json& step) {
    const Json& run = step["run"];
    auto server = testing::ScriptedLlmProcess::Start(
        ExpandAll(JoinLines(run.value("script", Json::object()))));
    ASSERT_TRUE(server) << server.error().ToString();
    RunOutput out = RunNeuronaut(run["args"], (*server)->url(), run.value("kill_after", Json()));
    auto requests = (*server)->Requests();
    const Json expect = run.value("expect", Json::object());
    std::string context = "run " + DumpJson(run["args"]) + "\nstderr:\n" + out.err;
    SCOPED_TRACE(context);

    if (out.killed) {
      EXPECT_EQ(out.status.signal, SIGKILL) << out.status.ToString();
    } else if (expect.contains("exit_code")) {
      EXPECT_EQ(out.status.exit_code, expect["exit_code"].get<int>()) << out.status.ToString();
    }
    int calls = static_cast<int>(requests.size());
    if (expect.contains("stderr_contains")) {
      EXPECT_NE(out.err.find(expect["stderr_contains"].get<std::string>()), std::string::npos)
          << "stderr lacks " << expect["stderr_contains"];
    }
    if (expect.contains("model_calls")) {
      EXPECT_EQ(calls, expect["model_calls"].get<int>());
    }
    if (expect.contains("model_calls_less_than")) {
      std::string name = expect["model_calls_less_than"];
      ASSERT_TRUE(counts_.count(name)) << "no model call count saved as '" << name << "'";
      EXPECT_LT(calls, counts_[name]) << "model calls of this run vs. run '" << name << "'";
    }
    if (run.contains("save_model_calls_as")) counts_[run["save_model_calls_as"]] = calls;
    if (expect.contains("events")) ExpectInOrder(expect["events"], out.events, "stdout events");
    for (const auto& c : expect.value("event_counts", Json::array())) {
      EXPECT_EQ(CountMatching(c["match"], out.events), c["count"].get<int>())
          << "events matching " << DumpJson(c["match"]);
    }
    for (const auto& p : expect.value("no_events", Json::array())) {
      EXPECT_EQ(CountMatching(p, out.events), 0) << "an event matches " << DumpJson(p);
    }
    for (const auto& r : expect.value("requests", Json::array())) {
      int index = r.value("index", 0);
      if (index < 0) index += calls;
      ASSERT_TRUE(index >= 0 && index < calls)
          << "no request " << r.value("index", 0) << " of " << calls;
      std::string body = DumpJson(requests[static_cast<size_t>(index)]["body"]);
      if (r.contains("contains")) {
        EXPECT_NE(body.find(r["contains"].get<std::string>()), std::string::npos)
            << "request " << index << " lacks " << r["contains"] << ": " << body.substr(0, 3000);
      }
      if (r.contains("not_contains")) {
        EXPECT_EQ(body.find(r["not_contains"].get<std::string>()), std::string::npos)
            << "request " << index << " has " << r["not_contains"];
      }
    }
    // The trace of the run: the same steps as the JSON events, on disk.
    if (expect.contains("trace_events")) {
      std::string run_id;
      for (const auto& e : out.events) {
        if (e.value("type", "") == "run_start") run_id = e.value("run_id", "");
      }
      ASSERT_FALSE(run_id.empty()) << "no run_start event";
      auto trace = ReadJsonLines(home_ / "runs" / run_id / "events.jsonl");
      ExpectInOrder(expect["trace_events"], trace, "runs/" + run_id + "/events.jsonl");
    }
  }

  void CheckStep(const Json& check) {
    auto progress = ReadFile(home_ / "PROGRESS.md").value_or("");
    for (const auto& id : check.value("progress_done", Json::array()))
      EXPECT_NE(progress.find("- [x] `" + id.get<std::string>() + "`"), std::string::npos)
          << id << " is not ticked in PROGRESS.md:\n"
          << progress;
    for (const auto& id : check.value("progress_not_done", Json::array()))
      EXPECT_NE(progress.find("- [ ] `" + id.get<std::string>() + "`"), std::string::npos)
          << id << " should be open in PROGRESS.md:\n"
          << progress;
    const Json counts = check.value("progress_count", Json::object());
    for (const auto& [text, n] : counts.items()) {
      int count = 0;
      for (size_t at = progress.find(text); at != std::string::npos;
           at = progress.find(text, at + 1))
        ++count;
      EXPECT_EQ(count, n.get<int>()) << "'" << text << "' in PROGRESS.md:\n" << progress;
    }
    if (check.contains("skill_files")) {
      std::vector<std::string> want, have;
      for (const auto& s : check["skill_files"]) want.push_back(s.get<std::string>() + ".py");
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(home_ / "skills", ec)) {
        if (e.path().extension() == ".py") have.push_back(e.path().filename().string());
      }
      std::sort(want.begin(), want.end());
      std::sort(have.begin(), have.end());
      EXPECT_EQ(have, want) << "skills/*.py";
    }
    for (const auto& f : check.value("files", Json::array())) {
      fs::path path = home_ / f["path"].get<std::string>();
      auto text = ReadFile(path);
      ASSERT_TRUE(text) << text.error().ToString();
      for (const auto& s : f.value("contains", Json::array()))
        EXPECT_NE(text->find(s.get<std::string>()), std::string::npos)
            << path << " lacks " << s << ":\n"
            << *text;
      for (const auto& s : f.value("not_contains", Json::array()))
        EXPECT_EQ(text->find(s.get<std::string>()), std::string::npos) << path << " has " << s;
      if (f.contains("pointer")) {
        auto j = Json::parse(*text, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << path << " is not JSON";
        Json::json_pointer p(f["pointer"].get<std::string>());
        ASSERT_TRUE(j.contains(p)) << path << " has no " << f["pointer"];
        if (f.contains("min")) {
          EXPECT_GE(j.at(p).get<double>(), f["min"].get<double>()) << path << f["pointer"];
        }
        if (f.contains("equals")) {
          EXPECT_EQ(j.at(p), f["equals"]) << path << f["pointer"];
        }
      }
    }
  }

  Json scenario_;
  fs::path work_, home_;
  std::map<std::string, int> counts_;
};

TEST_P(ScenarioTest, Runs) {
  for (const auto& step : scenario_["steps"]) {
    SCOPED_TRACE(DumpJson(step).substr(0, 200));
    if (step.contains("home")) UseHome(step["home"]);
    if (step.contains("cli")) CliStep(step);
    if (step.contains("run")) RunStep(step);
    if (step.contains("check")) CheckStep(step["check"]);
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(AgentScenario, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string name = info.param.stem().string();
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace naut

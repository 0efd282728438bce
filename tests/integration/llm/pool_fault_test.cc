// Faults in a real pool (label `model`): two real llama.cpp llama-servers on loopback, serving
// the smallest real model (SmolLM2-135M from ./models), one killed in the middle of a streamed
// answer and started again on its port, one stalled with SIGSTOP and resumed. What a user
// notices is asserted: `neuronaut llm ask` still gives the whole answer once, every request of
// several concurrent ones is answered exactly once, and `neuronaut llm status` shows what
// happened (the endpoints now, and the pool's journal of failures and recoveries).
//
// Bounded: two servers with one thread each, answers of at most 160 tokens, two faults per
// test. Skips without llama-server (bench/engine/llama_cpp.sh setup) or the model; fails
// instead with NAUT_TEST_MODEL=1.

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/mutex.h"
#include "core/net.h"
#include "core/subprocess.h"
#include "llm/endpoint_pool.h"
#include "llm/llama_server.h"
#include "llm/openai_backend.h"
#include "llm/pool_journal.h"

namespace naut::llm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kModel = fs::path(NAUT_SOURCE_DIR) / "models/SmolLM2-135M-Instruct-Q4_1.gguf";

bool ModelTestsRequired() {
  const char* v = std::getenv("NAUT_TEST_MODEL");
  return v != nullptr && std::string(v) == "1";
}

#define NAUT_SKIP_OR_FAIL(why)                                                          \
  do {                                                                                  \
    if (ModelTestsRequired()) FAIL() << (why) << " (NAUT_TEST_MODEL=1 asks for a run)"; \
    GTEST_SKIP() << (why);                                                              \
  } while (0)

// One llama-server as a user runs it, on a fixed port so that it can be started again there.
class RealServer {
 public:
  RealServer(fs::path binary, int port, fs::path log)
      : binary_(std::move(binary)), port_(port), log_(std::move(log)) {}

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return child_ ? child_->pid() : -1; }

  Status Start() {
    NAUT_ASSIGN_OR_RETURN(
        child_,
        Subprocess::Spawn({.argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >>\"$LOG\" 2>&1",
                                    binary_.string(), "--model", kModel.string(), "--host",
                                    "127.0.0.1", "--port", std::to_string(port_), "--ctx-size",
                                    "4096", "--parallel", "2", "--threads", "1", "--jinja"},
                           .env = {{"LOG", log_.string()}},
                           .pipe_stdin = false,
                           .pipe_stdout = false,
                           .pipe_stderr = false}));
    OpenAiBackend probe({.base_url = url(), .connect_timeout = 1000ms});
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto ended = child_->TryWait())
        return Unavailable("llama-server exited (" + ended->ToString() + "); see " + log_.string());
      if (probe.Health(2s).ok()) return Status::Ok();
      std::this_thread::sleep_for(100ms);
    }
    return Unavailable("llama-server at " + url() + " not ready in 120 s; see " + log_.string());
  }
  void Kill() {
    if (!child_) return;
    child_->Signal(SIGKILL);
    child_->Wait();
    child_.reset();
  }
  void Pause() { ::kill(pid(), SIGSTOP); }
  void Resume() { ::kill(pid(), SIGCONT); }
  bool Busy() const {
    OpenAiBackend b({.base_url = url()});
    auto slots = b.Slots(2s);
    return slots.ok() && slots->busy > 0;
  }
  ~RealServer() {
    if (child_) Resume();
    Kill();
  }

 private:
  fs::path binary_;
  int port_;
  fs::path log_;
  std::unique_ptr<Subprocess> child_;
};

ChatRequest Counting(int to) {
  ChatRequest r;
  r.messages = {Message::User("Count from 1 to " + std::to_string(to) + ", separated by commas.")};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 160;
  return r;
}

class PoolFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_regular_file(kModel)) {
      NAUT_SKIP_OR_FAIL("no " + kModel.filename().string() +
                        " in ./models; `bash scripts/models.sh smollm2-135m` fetches it");
    }
    auto binary =
        FindLlamaServer(std::string(NAUT_SOURCE_DIR "/") + kProjectLlamaCppBin + "/llama-server");
    if (!binary) binary = FindLlamaServer("llama-server");
    if (!binary) NAUT_SKIP_OR_FAIL("no llama-server: " + binary.error().message());
    root_ = fs::temp_directory_path() / ("naut-pool-fault-" + NewId());
    home_ = root_ / "home";
    fs::create_directories(home_);
    for (int i = 0; i < 2; ++i) {
      auto port = FreeTcpPort();
      ASSERT_TRUE(port) << port.error().ToString();
      servers_.push_back(std::make_unique<RealServer>(
          *binary, *port, root_ / ("llama-" + std::to_string(i) + ".log")));
    }
    std::vector<Status> started(2);
    std::thread other([&] { started[1] = servers_[1]->Start(); });
    started[0] = servers_[0]->Start();
    other.join();
    ASSERT_TRUE(started[0].ok()) << started[0].ToString();
    ASSERT_TRUE(started[1].ok()) << started[1].ToString();
    std::ofstream(home_ / "neuronaut.toml")
        << "[llm]\nendpoints = [\"" << servers_[0]->url() << "\", \"" << servers_[1]->url()
        << "\"]\ntimeout_s = 120\nmax_retries = 0\n";
  }

  void TearDown() override {
    servers_.clear();
    if (!HasFailure() && !root_.empty()) fs::remove_all(root_);  // kept, with the logs
  }

  // The greedy answer, asked of one server directly.
  std::string Reference(int to, size_t server = 0) {
    OpenAiBackend b({.base_url = servers_[server]->url(), .timeout = 120s});
    auto r = b.Chat(Counting(to), {});
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? r->content : "";
  }

  size_t Serving() const { return servers_[0]->Busy() ? 0 : 1; }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), NAUT_CLI);
    auto r = RunCommand({.argv = args, .env = {{"NEURONAUT_HOME", home_.string()}}}, "", 120s);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : CommandResult{};
  }

  fs::path root_, home_;
  std::vector<std::unique_ptr<RealServer>> servers_;
};

// Reads a child's stdout and stderr until both close or `deadline`; `on_out` sees stdout as it
// grows.
void Drain(Subprocess& p, std::string& out, std::string& err,
           const std::function<void(const std::string&)>& on_out,
           std::chrono::steady_clock::time_point deadline) {
  int fds[2] = {p.stdout_fd(), p.stderr_fd()};
  while ((fds[0] >= 0 || fds[1] >= 0) && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd[2];
    int n = 0;
    for (int fd : fds)
      if (fd >= 0) pfd[n++] = {fd, POLLIN, 0};
    if (poll(pfd, n, 200) <= 0) continue;
    for (int k = 0; k < n; ++k) {
      if (pfd[k].revents == 0) continue;
      char buf[4096];
      ssize_t got = read(pfd[k].fd, buf, sizeof buf);
      bool is_out = pfd[k].fd == fds[0];
      if (got <= 0) {
        (is_out ? fds[0] : fds[1]) = -1;
        continue;
      }
      (is_out ? out : err).append(buf, static_cast<size_t>(got));
      if (is_out) on_out(out);
    }
  }
}

// `neuronaut llm ask` streams an answer from the pool; the server writing it is killed after
// the first words. The answer is given again, whole, by the other server (the cut start is
// announced as withdrawn), and `llm status` shows the dead server down and the journal's
// account of it; started again, the server is counted up again.
TEST_F(PoolFaultTest, LlmAskGoesOnWhenItsServerIsKilledMidAnswer) {
  const std::string reference = Reference(60);
  ASSERT_GT(reference.size(), 60u);
  ASSERT_EQ(Reference(60, 1), reference) << "the two servers answer differently";

  auto ask =
      Subprocess::Spawn({.argv = {NAUT_CLI, "llm", "ask", "--temperature", "0", "--max-tokens",
                                  "160", "Count from 1 to 60, separated by commas."},
                         .env = {{"NEURONAUT_HOME", home_.string()}},
                         .pipe_stdin = false});
  ASSERT_TRUE(ask.ok()) << ask.error().ToString();
  std::string out, err;
  int killed = -1;
  Drain(
      **ask, out, err,
      [&](const std::string& so_far) {
        if (killed < 0 && so_far.size() >= 12) {
          killed = static_cast<int>(Serving());
          servers_[killed]->Kill();
        }
      },
      std::chrono::steady_clock::now() + 120s);
  ExitStatus status = (*ask)->Wait();
  ASSERT_GE(killed, 0) << "the answer never began: " << err;
  const std::string survivor = servers_[1 - killed]->url();
  EXPECT_EQ(status.exit_code, 0) << err;
  // On the terminal: the cut start, the notice on stderr, then the whole answer, once.
  EXPECT_EQ(err.find("answer restarted"), err.rfind("answer restarted")) << err;
  ASSERT_NE(err.find("answer restarted"), std::string::npos) << err;
  auto whole = out.find(reference);
  ASSERT_NE(whole, std::string::npos) << out;
  EXPECT_EQ(reference.substr(0, whole), out.substr(0, whole)) << "before the restart: " << out;
  EXPECT_EQ(out.find(reference, whole + 1), std::string::npos) << "answered twice: " << out;
  EXPECT_NE(out.find(", " + survivor + "]"), std::string::npos) << out;

  auto st = Cli({"llm", "status"});
  EXPECT_EQ(st.status.exit_code, 0) << st.out << st.err;
  EXPECT_NE(st.out.find("1 of 2 endpoint(s) up"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("recent pool events"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(servers_[killed]->url() + "  failed: "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("(cut mid-answer)"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(survivor + "  answered: after a failure on " + servers_[killed]->url()),
            std::string::npos)
      << st.out;

  ASSERT_TRUE(servers_[killed]->Start().ok());
  st = Cli({"llm", "status"});
  EXPECT_EQ(st.status.exit_code, 0) << st.out << st.err;
  EXPECT_NE(st.out.find("2 of 2 endpoint(s) up"), std::string::npos) << st.out;
}

// The pool the agent uses, under several concurrent conversations: the server answering one
// stream is stalled (SIGSTOP) and resumed, then one is killed while requests are under way and
// started again. Every request is answered exactly once, each whole; the stalled request moves
// on when the health probe finds its server silent, not after its two-minute timeout; and the
// journal that `llm status` shows tells all of it.
TEST_F(PoolFaultTest, ThePoolAnswersEveryRequestOnceThroughAStallAKillAndARestart) {
  const std::string reference = Reference(40);
  ASSERT_FALSE(reference.empty());
  PoolOptions o;
  for (const auto& s : servers_) o.endpoints.push_back({.base_url = s->url(), .timeout = 120s});
  o.health_interval = 500ms;
  o.journal = home_ / "logs" / kPoolJournalName;
  EndpointPool pool(o);

  // 1. A stall in the middle of a streamed answer.
  {
    std::atomic<int> deltas = 0;
    int stalled = -1;
    std::string shown;
    CallOptions opts;
    opts.on_delta = [&](const StreamDelta& d) {
      if (d.restart) shown.clear();
      shown += d.content;
      if (!d.content.empty() && ++deltas == 5) {
        auto st = pool.Status(/*probe=*/false);
        stalled = st[0].in_flight > 0 ? 0 : 1;
        servers_[stalled]->Pause();
      }
    };
    auto r = pool.Chat(Counting(40), opts);
    ASSERT_GE(stalled, 0);
    servers_[stalled]->Resume();
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->content, reference);
    EXPECT_EQ(shown, reference);
    EXPECT_EQ(r->endpoint, servers_[1 - stalled]->url());
    auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until &&
           pool.Status(/*probe=*/false)[stalled].state != "up")
      std::this_thread::sleep_for(100ms);
    ASSERT_EQ(pool.Status(/*probe=*/false)[stalled].state, "up") << "the resumed server";
  }
  const int64_t answered_before = pool.Status(false)[0].requests + pool.Status(false)[1].requests;

  // 2. A kill while four conversations stream, and a restart on the same port.
  constexpr int kWorkers = 4, kEach = 2;
  Mutex mu;
  std::vector<std::string> problems;
  std::atomic<int> answered = 0, total_deltas = 0;
  std::atomic<bool> killed = false;
  int victim = -1;
  std::vector<std::thread> workers;
  workers.reserve(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        std::string shown;
        CallOptions opts;
        opts.on_delta = [&](const StreamDelta& d) {
          if (d.restart) shown.clear();
          shown += d.content;
          if (++total_deltas == 30 && !killed.exchange(true)) {
            auto st = pool.Status(/*probe=*/false);
            victim = st[0].in_flight > 0 ? 0 : 1;
            servers_[victim]->Kill();
          }
        };
        auto r = pool.Chat(Counting(20 + w * kEach + i), opts);
        MutexLock lock(mu);
        if (!r.ok()) {
          problems.push_back(r.error().ToString());
        } else if (shown != r->content || r->content.empty()) {
          problems.push_back("streamed '" + shown + "' but answered '" + r->content + "'");
        } else {
          answered++;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  ASSERT_TRUE(killed.load()) << "no fault was injected";
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(answered.load(), kWorkers * kEach);
  auto st = pool.Status(/*probe=*/false);
  EXPECT_EQ(st[0].requests + st[1].requests - answered_before, kWorkers * kEach)
      << "a request was answered twice, or not counted";
  EXPECT_GE(st[victim].failures, 1);

  ASSERT_TRUE(servers_[victim]->Start().ok());
  auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until &&
         pool.Status(/*probe=*/false)[victim].state != "up")
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(pool.Status(/*probe=*/false)[victim].state, "up") << "the restarted server";

  // 3. What `llm status` shows: both up now, and the journal's account.
  auto status = Cli({"llm", "status"});
  std::cout << "neuronaut llm status:\n" << status.out;  // for the test log
  EXPECT_EQ(status.status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("2 of 2 endpoint(s) up"), std::string::npos) << status.out;
  for (const char* seen : {"stopped answering while it answered", "(cut mid-answer)",
                           "answered: after a failure on", "down: ", "up: healthy again"}) {
    EXPECT_NE(status.out.find(seen), std::string::npos) << seen << " in\n" << status.out;
  }
}

// The agent's own path: `neuronaut run` on the pool (its requests are not streamed). The
// server answering one of its model calls is killed; that call is answered by the other
// server, the run goes on to further rounds, every model call is in the trace once, and a
// SIGTERM then ends the run as stopped.
TEST_F(PoolFaultTest, AnAgentRunGoesOnWhenAServerDiesUnderIt) {
  auto run = Subprocess::Spawn({.argv = {NAUT_CLI, "run", "--env", "rpg", "--max-tasks", "1",
                                         "--max-minutes", "4", "--json"},
                                .env = {{"NEURONAUT_HOME", home_.string()}},
                                .pipe_stdin = false});
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  std::string out, err;
  std::vector<Json> events, calls;  // every event; the model_call ones
  std::atomic<size_t> calls_seen = 0;
  std::atomic<int> killed = -1;     // set by the killer thread
  std::atomic<size_t> at_kill = 0;  // model calls in the trace when it killed
  bool stopped = false;
  std::thread killer;
  std::atomic<bool> done = false;
  Drain(
      **run, out, err,
      [&](const std::string& so_far) {
        events.clear();
        calls.clear();
        size_t start = 0;
        for (size_t nl; (nl = so_far.find('\n', start)) != std::string::npos; start = nl + 1) {
          auto j = ParseJson(so_far.substr(start, nl - start), "event");
          if (!j.ok()) continue;
          events.push_back(*j);
          if (j->value("type", "") == "model_call") calls.push_back(*j);
        }
        calls_seen = calls.size();
        // After the first answer, kill whichever server takes a call next, while it works on
        // it (the previous call's event is in the trace by then).
        if (calls_seen >= 1 && !killer.joinable()) {
          killer = std::thread([&] {
            while (!done) {
              for (int i = 0; i < 2 && killed < 0; ++i) {
                if (servers_[i]->Busy()) {
                  at_kill = calls_seen.load();
                  servers_[i]->Kill();
                  killed = i;
                }
              }
              if (killed >= 0) return;
              std::this_thread::sleep_for(100ms);
            }
          });
        }
        // Two more model calls after the kill, then stop the run as systemd would.
        if (killed >= 0 && !stopped && calls_seen >= at_kill + 2) {
          stopped = true;
          (*run)->Signal(SIGTERM);
        }
      },
      std::chrono::steady_clock::now() + 300s);
  done = true;
  if (killer.joinable()) killer.join();
  ExitStatus status = (*run)->Wait();
  ASSERT_GE(killed, 0) << "no server was caught answering\n" << err;
  ASSERT_TRUE(stopped) << "the run did not go on after the kill:\n" << out << err;
  EXPECT_EQ(status.exit_code, 0) << err;

  const std::string dead = servers_[killed]->url(), survivor = servers_[1 - killed]->url();
  int last_round = 0;
  for (const auto& e : events) {
    if (e.value("type", "") == "round") {
      int round = e.value("round", 0);
      EXPECT_GT(round, last_round) << "a round was played twice";
      last_round = round;
    }
    EXPECT_NE(e.value("type", ""), "error") << DumpJson(e);
  }
  ASSERT_GT(calls.size(), at_kill.load());
  // The call the dead server was answering was answered by the other one, and so was every
  // later one; no model call failed for the fault. (A small model's context can still be too
  // short for a prompt, and the SIGTERM cancels the call under way: those are no fault's.)
  EXPECT_EQ(calls[at_kill].value("endpoint", ""), survivor) << DumpJson(calls[at_kill]);
  for (size_t i = 0; i < calls.size(); ++i) {
    std::string error = calls[i].value("error", "");
    if (error.empty()) {
      if (i >= at_kill) {
        EXPECT_EQ(calls[i].value("endpoint", ""), survivor) << DumpJson(calls[i]);
      }
      continue;
    }
    EXPECT_TRUE(error.find("context length exceeded") != std::string::npos ||
                error.find("cancelled") != std::string::npos)
        << "a model call failed: " << error;
  }
  ASSERT_FALSE(events.empty());
  const Json& end = events.back();
  EXPECT_EQ(end.value("type", ""), "run_end") << DumpJson(end);
  EXPECT_EQ(end.value("status", ""), "stopped") << DumpJson(end);
  // Every model call is in the trace once: the one cut by the kill is not counted twice.
  EXPECT_EQ(end.value("model_calls", 0), static_cast<int>(calls.size())) << DumpJson(end);

  auto st = Cli({"llm", "status"});
  std::cout << "neuronaut llm status:\n" << st.out;  // for the test log
  EXPECT_NE(st.out.find("1 of 2 endpoint(s) up"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(dead + "  failed: "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(survivor + "  answered: after a failure on " + dead), std::string::npos)
      << st.out;
  auto runs = Cli({"runs", "list"});
  EXPECT_NE(runs.out.find("stopped"), std::string::npos) << runs.out;
}

// The other side of a fault: the agent itself killed (SIGKILL, no clean stop) while a model
// answers it. `runs list` calls that run interrupted, the next `run` takes the home over and
// resumes the same task, and the servers, which saw a client vanish mid-answer, still serve.
TEST_F(PoolFaultTest, AnAgentKilledMidAnswerIsResumedByTheNextRun) {
  auto start_run = [&] {
    return Subprocess::Spawn({.argv = {NAUT_CLI, "run", "--env", "rpg", "--max-tasks", "1",
                                       "--max-minutes", "4", "--json"},
                              .env = {{"NEURONAUT_HOME", home_.string()}},
                              .pipe_stdin = false});
  };
  auto parse = [](const std::string& text) {
    std::vector<Json> events;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      auto j = ParseJson(text.substr(start, nl - start), "event");
      if (j.ok()) events.push_back(*j);
    }
    return events;
  };
  auto first = [](const std::vector<Json>& events, const std::string& type) {
    for (const auto& e : events)
      if (e.value("type", "") == type) return e;
    return Json();
  };

  // 1. Killed while a server is working on its second model call.
  auto run1 = start_run();
  ASSERT_TRUE(run1.ok()) << run1.error().ToString();
  std::string out1, err1;
  std::atomic<bool> killed = false;
  std::thread killer;
  Drain(
      **run1, out1, err1,
      [&](const std::string& so_far) {
        if (killer.joinable() || so_far.find("\"model_call\"") == std::string::npos) return;
        killer = std::thread([&] {
          auto until = std::chrono::steady_clock::now() + 120s;
          while (!killed && std::chrono::steady_clock::now() < until) {
            if (servers_[0]->Busy() || servers_[1]->Busy()) {
              (*run1)->Signal(SIGKILL);
              killed = true;
            }
            std::this_thread::sleep_for(100ms);
          }
        });
      },
      std::chrono::steady_clock::now() + 240s);
  if (killer.joinable()) killer.join();
  ASSERT_TRUE(killed.load()) << out1 << err1;
  EXPECT_EQ((*run1)->Wait().signal, SIGKILL);
  auto events1 = parse(out1);
  const Json start1 = first(events1, "run_start"), task1 = first(events1, "task_start");
  ASSERT_TRUE(task1.is_object()) << out1;
  const std::string run1_id = start1.value("run_id", "");
  EXPECT_FALSE(first(events1, "run_end").is_object()) << "a killed run cannot have ended";

  auto list = Cli({"runs", "list"});
  auto row = list.out.find("\n" + run1_id);
  ASSERT_NE(row, std::string::npos) << list.out;
  EXPECT_NE(list.out.substr(row, list.out.find('\n', row + 1) - row).find("interrupted"),
            std::string::npos)
      << list.out;

  // 2. The next run takes over and resumes the same task.
  auto run2 = start_run();
  ASSERT_TRUE(run2.ok()) << run2.error().ToString();
  std::string out2, err2;
  bool stopped = false;
  Drain(
      **run2, out2, err2,
      [&](const std::string& so_far) {
        if (!stopped && so_far.find("\"model_call\"") != std::string::npos) {
          stopped = true;
          (*run2)->Signal(SIGTERM);
        }
      },
      std::chrono::steady_clock::now() + 240s);
  EXPECT_EQ((*run2)->Wait().exit_code, 0) << err2;
  EXPECT_NE(err2.find(run1_id), std::string::npos) << err2;
  EXPECT_NE(err2.find("ended without stopping cleanly"), std::string::npos) << err2;
  auto events2 = parse(out2);
  const Json task2 = first(events2, "task_start");
  ASSERT_TRUE(task2.is_object()) << out2;
  EXPECT_EQ(task2.value("task_id", -1), task1.value("task_id", -2)) << "a new task, not resumed";
  EXPECT_EQ(task2.value("task", ""), task1.value("task", ""));
  EXPECT_EQ(first(events2, "run_end").value("status", ""), "stopped") << out2;

  auto st = Cli({"llm", "status"});
  EXPECT_NE(st.out.find("2 of 2 endpoint(s) up"), std::string::npos) << st.out;
}

}  // namespace
}  // namespace naut::llm

// The endpoint pool over three scripted servers, each a real child process.

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "core/ids.h"
#include "core/mutex.h"
#include "llm/endpoint_pool.h"
#include "llm/pool_journal.h"
#include "scripted_llm_process.h"

namespace naut::llm {
namespace {

using namespace std::chrono_literals;
using naut::testing::ScriptedLlmProcess;

std::vector<std::unique_ptr<ScriptedLlmProcess>> StartServers(const std::vector<Json>& scripts) {
  std::vector<std::unique_ptr<ScriptedLlmProcess>> out;
  for (const auto& s : scripts) {
    auto p = ScriptedLlmProcess::Start(s);
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    if (!p.ok()) return {};
    out.push_back(std::move(*p));
  }
  return out;
}

PoolOptions Options(const std::vector<std::unique_ptr<ScriptedLlmProcess>>& servers) {
  PoolOptions o;
  for (const auto& s : servers) {
    EndpointOptions e;
    e.base_url = s->url();
    e.timeout = 30s;
    o.endpoints.push_back(e);
  }
  o.health_interval = 0ms;
  o.breaker_initial = 200ms;
  return o;
}

ChatRequest Conversation(int id, int turns) {
  ChatRequest r;
  r.messages.push_back(Message::System("You play a text adventure. Be brief."));
  r.messages.push_back(Message::User("conversation " + std::to_string(id) + ": start"));
  for (int t = 1; t < turns; ++t) {
    r.messages.push_back(Message::Assistant("ok"));
    r.messages.push_back(Message::User("turn " + std::to_string(t)));
  }
  return r;
}

TEST(LlmPoolTest, AKilledEndpointLosesNoRequest) {
  Json script{{"default", {{"content", "ok"}, {"delay_ms", 30}}}};
  auto servers = StartServers({script, script, script});
  ASSERT_EQ(servers.size(), 3u);
  EndpointPool pool(Options(servers));
  std::atomic<int> done{0}, failed{0};
  std::vector<std::string> errors;
  Mutex mu;
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < 15; ++i) {
        auto r = pool.Chat(Conversation(w * 100 + i, 1), {});
        if (r.ok()) {
          done++;
        } else {
          failed++;
          MutexLock lock(mu);
          errors.push_back(r.error().ToString());
        }
      }
    });
  }
  while (done.load() < 12) std::this_thread::sleep_for(5ms);
  servers[0]->Kill();
  for (auto& t : workers) t.join();
  EXPECT_EQ(failed.load(), 0) << (errors.empty() ? "" : errors[0]);
  EXPECT_EQ(done.load(), 60);
  auto status = pool.Status(/*probe=*/true);
  EXPECT_EQ(status[0].state, "down");
  EXPECT_EQ(status[1].state, "up");
  // Every answered request was answered by someone; the two survivors took over.
  EXPECT_EQ(status[0].requests + status[1].requests + status[2].requests, 60);
  EXPECT_GT(status[1].requests + status[2].requests, 40);
}

TEST(LlmPoolTest, ASlowEndpointGetsLessWork) {
  Json fast{{"default", {{"content", "fast"}, {"delay_ms", 10}}}};
  Json slow{{"default", {{"content", "slow"}, {"delay_ms", 1500}}}};
  auto servers = StartServers({fast, slow, fast});
  ASSERT_EQ(servers.size(), 3u);
  EndpointPool pool(Options(servers));
  std::vector<std::thread> workers;
  workers.reserve(3);
  std::atomic<int> failed{0};
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < 12; ++i) {
        if (!pool.Chat(Conversation(w * 100 + i, 1), {}).ok()) failed++;
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(failed.load(), 0);
  size_t n_fast0 = servers[0]->Requests().size(), n_slow = servers[1]->Requests().size(),
         n_fast2 = servers[2]->Requests().size();
  EXPECT_EQ(n_fast0 + n_slow + n_fast2, 36u);
  EXPECT_LT(n_slow, n_fast0);
  EXPECT_LT(n_slow, n_fast2);
  EXPECT_LE(n_slow, 4u);
}

// Which server got each conversation's requests, read from the servers' request records.
std::map<int, std::set<int>> ServersPerConversation(
    const std::vector<std::unique_ptr<ScriptedLlmProcess>>& servers) {
  std::map<int, std::set<int>> out;
  for (size_t s = 0; s < servers.size(); ++s) {
    for (const auto& req : servers[s]->Requests()) {
      std::string first = req["body"]["messages"][1]["content"];
      int id = std::stoi(first.substr(std::string("conversation ").size()));
      out[id].insert(static_cast<int>(s));
    }
  }
  return out;
}

TEST(LlmPoolTest, PrefixAffinityKeepsEachConversationOnOneEndpoint) {
  Json script{{"default", {{"content", "ok"}}}};
  auto servers = StartServers({script, script, script});
  ASSERT_EQ(servers.size(), 3u);
  EndpointPool pool(Options(servers));
  for (int turn = 1; turn <= 4; ++turn) {
    for (int c = 0; c < 6; ++c) {
      auto r = pool.Chat(Conversation(c, turn), {});
      ASSERT_TRUE(r.ok()) << r.error().ToString();
    }
  }
  auto spread = ServersPerConversation(servers);
  ASSERT_EQ(spread.size(), 6u);
  std::set<int> used;
  for (const auto& [id, where] : spread) {
    EXPECT_EQ(where.size(), 1u) << "conversation " << id << " moved between endpoints";
    used.insert(where.begin(), where.end());
  }
  EXPECT_EQ(used.size(), 3u) << "new conversations should spread over the endpoints";
}

TEST(LlmPoolTest, RoundRobinScattersConversations) {
  Json script{{"default", {{"content", "ok"}}}};
  auto servers = StartServers({script, script, script});
  ASSERT_EQ(servers.size(), 3u);
  auto o = Options(servers);
  o.policy = RoutingPolicy::kRoundRobin;
  EndpointPool pool(o);
  for (int turn = 1; turn <= 3; ++turn) {
    for (int c = 0; c < 4; ++c) ASSERT_TRUE(pool.Chat(Conversation(c, turn), {}).ok());
  }
  int moved = 0;
  for (const auto& [id, where] : ServersPerConversation(servers)) moved += where.size() > 1;
  EXPECT_GT(moved, 0);
}

TEST(LlmPoolTest, BusySlotsMeanABoundedWaitThenRateLimited) {
  auto servers = StartServers({Json{{"responses", {{{"content", "slow"}, {"delay_ms", 2000}}}},
                                    {"default", {{"content", "ok"}}}}});
  ASSERT_EQ(servers.size(), 1u);
  auto o = Options(servers);
  o.slots_per_endpoint = 1;
  o.queue_timeout = 300ms;
  EndpointPool pool(o);
  std::thread first([&] { EXPECT_TRUE(pool.Chat(Conversation(1, 1), {}).ok()); });
  while (servers[0]->Requests().empty()) std::this_thread::sleep_for(5ms);
  auto r = pool.Chat(Conversation(2, 1), {});
  first.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kRateLimited);
  EXPECT_NE(r.error().message.find("busy"), std::string::npos);
  EXPECT_TRUE(pool.Chat(Conversation(3, 1), {}).ok());  // the slot is free again
}

TEST(LlmPoolTest, ContextOverflowIsNotRetriedElsewhere) {
  Json overflow{{"default",
                 {{"status", 400},
                  {"error", "context size exceeded"},
                  {"error_type", "exceed_context_size_error"}}}};
  auto servers = StartServers({overflow, overflow});
  ASSERT_EQ(servers.size(), 2u);
  EndpointPool pool(Options(servers));
  auto r = pool.Chat(Conversation(1, 1), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kContextLengthExceeded);
  EXPECT_EQ(servers[0]->Requests().size() + servers[1]->Requests().size(), 1u);
}

TEST(LlmPoolTest, EveryEndpointDownIsAClearError) {
  PoolOptions o;
  for (const char* url : {"http://127.0.0.1:1", "http://127.0.0.1:2"})
    o.endpoints.push_back({.base_url = url});
  o.health_interval = 0ms;
  o.breaker_initial = 50ms;
  EndpointPool pool(o);
  auto r = pool.Chat(Conversation(1, 1), {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().kind == LlmError::Kind::kNetwork ||
              r.error().kind == LlmError::Kind::kUnavailable)
      << r.error().ToString();
}

// A dead endpoint costs one failed request, not one per backoff: it stays out until a health
// probe finds it back, and then it gets work again.
TEST(LlmPoolTest, ADeadEndpointStaysOutUntilAProbeFindsItBack) {
  Json script{{"default", {{"content", "ok"}}}};
  auto servers = StartServers({script, script});
  ASSERT_EQ(servers.size(), 2u);
  PoolOptions o = Options(servers);
  o.policy = RoutingPolicy::kRoundRobin;
  o.breaker_initial = 20ms;  // without the probe rule, it would be tried again every few ms
  o.breaker_max = 40ms;
  o.health_interval = 400ms;
  EndpointPool pool(o);
  std::string url = servers[0]->url();
  int port = std::stoi(url.substr(url.rfind(':') + 1));
  servers[0]->Kill();

  auto until = std::chrono::steady_clock::now() + 1500ms;
  int answered = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto r = pool.Chat(Conversation(answered, 1), {});
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    answered++;
    std::this_thread::sleep_for(10ms);
  }
  auto status = pool.Status(/*probe=*/false);
  // One request found it dead, or none when a probe found it first.
  EXPECT_LE(status[0].failures, 1) << "the dead endpoint was tried by user requests again";
  EXPECT_EQ(status[0].state, "down");
  EXPECT_EQ(status[1].requests, answered);

  auto back = ScriptedLlmProcess::Start(script, NAUT_SCRIPTED_LLM, port);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until && (*back)->Requests().empty()) {
    ASSERT_TRUE(pool.Chat(Conversation(1000 + answered++, 1), {}).ok());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE((*back)->Requests().empty()) << "the endpoint that came back got no work";
  EXPECT_EQ(pool.Status(/*probe=*/false)[0].state, "up");
}

TEST(LlmPoolTest, StatusReportsHealthModelContextAndSlots) {
  auto servers =
      StartServers({Json{{"model", "mistral-small-3"}, {"context_size", 16384}, {"slots", 2}},
                    Json{{"health_status", 503}}});
  ASSERT_EQ(servers.size(), 2u);
  EndpointPool pool(Options(servers));
  auto status = pool.Status(/*probe=*/true);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].state, "up");
  EXPECT_EQ(status[0].model, "mistral-small-3");
  EXPECT_EQ(status[0].context_size, 16384);
  EXPECT_EQ(status[0].slots, 2);
  EXPECT_EQ(status[0].server_busy, 0);
  EXPECT_EQ(status[1].state, "loading");
}

TEST(LlmPoolTest, StreamingThroughThePool) {
  auto servers = StartServers(
      {Json{{"default", {{"content", "streamed through the pool"}, {"chunk_size", 4}}}}});
  ASSERT_EQ(servers.size(), 1u);
  EndpointPool pool(Options(servers));
  std::string seen;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) { seen += d.content; };
  auto r = pool.Chat(Conversation(1, 1), opts);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(seen, "streamed through the pool");
}

// What `llm status` shows afterwards comes from the pool's journal: an answer cut mid-stream on
// one endpoint and given whole by the other, then the probe seeing the first go down and come
// back.
TEST(LlmPoolTest, TheJournalTellsWhatHappened) {
  auto servers = StartServers(
      {Json{
           {"default",
            {{"content", "cut here, never finished"}, {"chunk_size", 4}, {"cut_after_chunks", 2}}}},
       Json{{"default", {{"content", "the whole answer"}, {"chunk_size", 4}}}}});
  ASSERT_EQ(servers.size(), 2u);
  auto journal =
      std::filesystem::temp_directory_path() / ("naut-journal-" + NewId()) / kPoolJournalName;
  PoolOptions o = Options(servers);
  o.policy = RoutingPolicy::kRoundRobin;  // the first request goes to the cutting server
  o.health_interval = 100ms;
  o.journal = journal;
  std::string url0 = servers[0]->url();
  int port0 = std::stoi(url0.substr(url0.rfind(':') + 1));
  {
    EndpointPool pool(o);
    std::string shown;
    int restarts = 0;
    CallOptions opts;
    opts.on_delta = [&](const StreamDelta& d) {
      if (d.restart) {
        restarts++;
        shown.clear();  // as a display does: the cut text is withdrawn
      }
      shown += d.content;
    };
    auto r = pool.Chat(Conversation(1, 1), opts);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->content, "the whole answer");
    EXPECT_EQ(shown, "the whole answer");
    EXPECT_EQ(restarts, 1);
    EXPECT_EQ(servers[1]->Requests().size(), 1u) << "answered twice";

    auto events_of = [&](const std::string& kind) {
      auto events = ReadPoolJournal(journal, 50);
      EXPECT_TRUE(events.ok());
      std::vector<PoolEvent> out;
      for (const auto& e : *events)
        if (e.event == kind) out.push_back(e);
      return out;
    };
    auto failed = events_of("failed");
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].endpoint, url0);
    EXPECT_NE(failed[0].detail.find("cut mid-answer"), std::string::npos) << failed[0].detail;
    auto answered = events_of("answered");
    ASSERT_EQ(answered.size(), 1u);
    EXPECT_EQ(answered[0].endpoint, servers[1]->url());
    EXPECT_NE(answered[0].detail.find(url0), std::string::npos) << answered[0].detail;
    EXPECT_NE(answered[0].detail.find("dropped"), std::string::npos) << answered[0].detail;

    // The probe brings the endpoint back after the failure ("up"); then it dies ("down") and
    // comes back again ("up"), each once.
    auto wait_for = [&](const std::string& kind, size_t n) {
      auto until = std::chrono::steady_clock::now() + 10s;
      while (events_of(kind).size() < n && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(20ms);
      return events_of(kind).size();
    };
    EXPECT_EQ(wait_for("up", 1), 1u);
    servers[0]->Kill();
    EXPECT_EQ(wait_for("down", 1), 1u);
    auto back = ScriptedLlmProcess::Start(Json{{"default", {{"content", "back"}}}},
                                          NAUT_SCRIPTED_LLM, port0);
    ASSERT_TRUE(back.ok()) << back.error().ToString();
    EXPECT_EQ(wait_for("up", 2), 2u);
    std::this_thread::sleep_for(300ms);  // a few more probes: no news, no lines
    EXPECT_EQ(events_of("up").size(), 2u);
    EXPECT_EQ(events_of("down").size(), 1u);
    EXPECT_EQ(events_of("down")[0].endpoint, url0);
  }
  std::filesystem::remove_all(journal.parent_path());
}

// A server that stops answering in the middle of an answer (SIGSTOP: a stalled or swapping
// machine) would hold the request until its timeout; the health probe notices, the request is
// given up there and answered by the other endpoint, and the stalled one is back once it
// answers again.
TEST(LlmPoolTest, AStalledEndpointsRequestMovesOnWithoutWaitingForItsTimeout) {
  auto servers =
      StartServers({Json{{"default",
                          {{"content", "a slow answer that the server never finishes giving"},
                           {"chunk_size", 4},
                           {"chunk_delay_ms", 100}}}},
                    Json{{"default", {{"content", "the whole answer"}, {"chunk_size", 4}}}}});
  ASSERT_EQ(servers.size(), 2u);
  auto journal =
      std::filesystem::temp_directory_path() / ("naut-journal-" + NewId()) / kPoolJournalName;
  PoolOptions o = Options(servers);  // each request may take 30 s
  o.policy = RoutingPolicy::kRoundRobin;
  o.health_interval = 200ms;
  o.journal = journal;
  EndpointPool pool(o);
  std::atomic<int> deltas = 0;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) {
    if (!d.content.empty() && ++deltas == 2) ::kill(servers[0]->pid(), SIGSTOP);
  };
  auto r = pool.Chat(Conversation(1, 1), opts);
  ::kill(servers[0]->pid(), SIGCONT);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->content, "the whole answer");
  EXPECT_EQ(r->endpoint, servers[1]->url());
  auto events = ReadPoolJournal(journal, 50);
  ASSERT_TRUE(events.ok());
  std::string all;
  for (const auto& e : *events) all += e.endpoint + " " + e.event + ": " + e.detail + "\n";
  EXPECT_NE(all.find(servers[0]->url() + " failed: "), std::string::npos) << all;
  EXPECT_NE(all.find("stopped answering"), std::string::npos) << all;
  EXPECT_NE(all.find(servers[0]->url() + " down: "), std::string::npos) << all;
  auto until = std::chrono::steady_clock::now() + 10s;
  while (pool.Status(/*probe=*/false)[0].state != "up" && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(pool.Status(/*probe=*/false)[0].state, "up");
  std::filesystem::remove_all(journal.parent_path());
}

// Every endpoint out after failed probes (both servers stalled for a moment, as a loaded
// machine's health checks time out): a request waits for the probes that find them back,
// instead of failing at once.
TEST(LlmPoolTest, ARequestWaitsForTheProbesWhenEveryEndpointIsOut) {
  Json script{{"default", {{"content", "back"}}}};
  auto servers = StartServers({script, script});
  ASSERT_EQ(servers.size(), 2u);
  PoolOptions o = Options(servers);
  o.health_interval = 200ms;
  EndpointPool pool(o);
  for (const auto& s : servers) ::kill(s->pid(), SIGSTOP);
  auto until = std::chrono::steady_clock::now() + 20s;
  auto both_down = [&] {
    auto st = pool.Status(/*probe=*/false);
    return st[0].state == "down" && st[1].state == "down";
  };
  while (!both_down() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(both_down());
  std::thread resume([&] {
    std::this_thread::sleep_for(300ms);
    for (const auto& s : servers) ::kill(s->pid(), SIGCONT);
  });
  auto r = pool.Chat(Conversation(1, 1), {});
  resume.join();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->content, "back");
}

// The journal is a file in the data home that anything may damage: lines that are not events
// are skipped, fields of the wrong type read as empty, and it stays bounded by moving aside.
TEST(PoolJournalTest, ReadsWhatItCanAndStaysBounded) {
  auto dir = std::filesystem::temp_directory_path() / ("naut-journal-" + NewId());
  auto file = dir / kPoolJournalName;
  PoolJournal journal(file, /*max_bytes=*/2000);
  journal.Append({.endpoint = "http://a:1", .event = "failed", .detail = "network"});
  {
    std::ofstream out(file, std::ios::app);
    out << "not json\n{\"event\": 5}\n[1,2]\n{\"event\": \"up\", \"pid\": \"x\", \"time\": 3}\n";
  }
  journal.Append({.endpoint = "http://b:2", .event = "answered", .detail = "after a failure"});
  auto events = ReadPoolJournal(file, 10);
  ASSERT_TRUE(events.ok()) << events.error().ToString();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].event, "failed");
  EXPECT_EQ((*events)[0].pid, ::getpid());
  EXPECT_FALSE((*events)[0].time.empty());
  EXPECT_EQ((*events)[1].event, "up");
  EXPECT_EQ((*events)[1].pid, 0);
  EXPECT_EQ((*events)[1].time, "");
  EXPECT_EQ((*events)[2].endpoint, "http://b:2");
  auto last = ReadPoolJournal(file, 1);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].event, "answered");

  for (int i = 0; i < 100; ++i) journal.Append({.endpoint = "http://c:3", .event = "down"});
  EXPECT_LT(std::filesystem::file_size(file), 2200u);
  EXPECT_TRUE(std::filesystem::exists(file.string() + ".1"));
  auto none = ReadPoolJournal(dir / "absent.jsonl", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace naut::llm

#include "mcp/stdio.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>

#include "mcp/protocol.h"

namespace naut::mcp {

std::optional<std::string> LineReader::Next(bool* too_long) {
  *too_long = false;
  bool discarding = false;
  for (;;) {
    size_t nl = buf_.find('\n', scan_);
    if (nl != std::string::npos) {
      if (discarding) {
        buf_.erase(0, nl + 1);
        scan_ = 0;
        *too_long = true;
        return std::string();
      }
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      scan_ = 0;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    scan_ = buf_.size();
    if (buf_.size() > max_bytes_) {
      // Keep reading to find the end of this line, without keeping it.
      if (!discarding) head_ = buf_.substr(0, kHeadBytes);
      discarding = true;
      buf_.clear();
      scan_ = 0;
    }
    if (eof_) {
      if (discarding) {
        *too_long = true;
        return std::string();
      }
      if (buf_.empty()) return std::nullopt;
      std::string line = std::move(buf_);
      buf_.clear();
      scan_ = 0;
      return line;
    }
    char chunk[65536];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

Status WriteLine(int fd, std::string_view text) {
  std::string data(text);
  data.push_back('\n');
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable(std::string("write to peer failed: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ServeStdio(Server& server, int in_fd, int out_fd) {
  struct Output {
    Mutex mu;
    bool broken GUARDED_BY(mu) = false;
  } out;
  Sink write = [&](const Json& message) {
    MutexLock lock(out.mu);
    if (out.broken) return;
    if (!WriteLine(out_fd, DumpJson(message)).ok()) out.broken = true;
  };
  auto session = server.CreateSession(write);

  // The tools/call threads still running; the end of the input waits for them.
  struct Workers {
    Mutex mu;
    std::condition_variable_any done;
    int running GUARDED_BY(mu) = 0;
  } workers;

  LineReader reader(in_fd);
  bool too_long = false;
  while (auto line = reader.Next(&too_long)) {
    if (too_long) {
      write(MakeError(nullptr, kParseError,
                      "Parse error: json-rpc message exceeds the limit of " +
                          std::to_string(kMaxMessageBytes) + " bytes"));
      continue;
    }
    if (line->find_first_not_of(" \t\r") == std::string::npos)
      continue;  // blank lines are not messages
    Decoded decoded = Decode(*line, session->batches_allowed());
    if (decoded.batch && !decoded.messages.empty()) {
      // A batch is answered with one array of responses; its requests run in order here.
      Json replies = Json::array();
      for (const Json& e : decoded.error_replies) replies.push_back(e);
      for (const Message& m : decoded.messages) {
        session->HandleMessage(m, [&](const Json& out) {
          if (out.contains("id") && (out.contains("result") || out.contains("error")) &&
              !out.contains("method")) {
            replies.push_back(out);
          } else {
            write(out);
          }
        });
      }
      if (!replies.empty()) write(replies);
      continue;
    }
    for (const Json& e : decoded.error_replies) write(e);
    for (const Message& m : decoded.messages) {
      if (m.is_request() && m.method == "tools/call") {
        {
          MutexLock lock(workers.mu);
          ++workers.running;
        }
        std::thread([&, session, m] {
          session->HandleMessage(m, write);
          MutexLock lock(workers.mu);
          --workers.running;
          workers.done.notify_all();
        }).detach();
      } else {
        session->HandleMessage(m, write);
      }
    }
  }
  session->Close();
  MutexLock lock(workers.mu);
  workers.done.wait(lock, [&]() REQUIRES(workers.mu) { return workers.running == 0; });
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

SpawnOptions SpawnOptionsFor(const McpServerConfig& config) {
  SpawnOptions o;
  o.argv.push_back(config.command);
  o.argv.insert(o.argv.end(), config.args.begin(), config.args.end());
  o.env = config.env;
  if (!config.cwd.empty()) o.cwd = config.cwd;
  return o;
}

StdioClientTransport::StdioClientTransport(std::string name, SpawnOptions options)
    : name_(std::move(name)), options_(std::move(options)) {
  options_.pipe_stdin = options_.pipe_stdout = options_.pipe_stderr = true;
  options_.new_process_group = true;
}

StdioClientTransport::~StdioClientTransport() { Close(); }

std::string StdioClientTransport::Describe() const {
  std::string s = "stdio:";
  for (const auto& a : options_.argv) s += " " + a;
  return s;
}

int StdioClientTransport::pid() const { return process_ ? process_->pid() : -1; }

Status StdioClientTransport::Start(std::function<void(const Json&)> on_message,
                                   std::function<void(const Status&)> on_closed) {
  auto process = Subprocess::Spawn(options_);
  if (!process) return process.error().WithContext("mcp server '" + name_ + "'");
  process_ = std::move(*process);
  on_message_ = std::move(on_message);
  on_closed_ = std::move(on_closed);
  stdout_thread_ = std::thread([this] { ReadStdout(); });
  stderr_thread_ = std::thread([this] { ReadStderr(); });
  return Status::Ok();
}

void StdioClientTransport::ReadStdout() {
  LineReader reader(process_->stdout_fd());
  bool too_long = false;
  const std::string what = "message from mcp server '" + name_ + "'";
  while (auto line = reader.Next(&too_long)) {
    if (too_long) {
      Refuse(reader.head(), ResourceExhausted(what + ": more than " +
                                              std::to_string(kMaxMessageBytes) + " bytes"));
      continue;
    }
    if (line->find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = ParseJson(*line, what, kMaxMessageBytes);
    if (!parsed && parsed.error().code() == Code::kResourceExhausted) {
      Refuse(*line, parsed.error());
      continue;
    }
    if (!parsed) {
      // Servers sometimes print banners to stdout; that must not end the session.
      spdlog::warn("mcp server '{}': {}", name_, parsed.error().message());
      continue;
    }
    if (parsed->is_array()) {
      for (const Json& m : *parsed) on_message_(m);
    } else {
      on_message_(*parsed);
    }
  }
  {
    MutexLock lock(write_mu_);
    if (closed_) return;
  }
  std::string how = "its output ended";
  // Give the process a moment to finish exiting so the reason can be reported.
  for (int i = 0; i < 50; ++i) {
    MutexLock lock(write_mu_);
    if (closed_) return;
    if (auto st = process_->TryWait()) {
      how = st->ToString();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  on_closed_(Unavailable("mcp server '" + name_ + "' exited (" + how + ")"));
}

void StdioClientTransport::Refuse(std::string_view text, const Status& why) {
  spdlog::warn("mcp: {}", why.message());  // the message names the server
  Refusal refusal = RefuseMessage(text, why);
  if (!refusal.to_server.is_null()) (void)Send(refusal.to_server);
  if (!refusal.to_client.is_null()) on_message_(refusal.to_client);
}

void StdioClientTransport::ReadStderr() {
  LineReader reader(process_->stderr_fd(), 64 * 1024);
  bool too_long = false;
  while (auto line = reader.Next(&too_long)) {
    if (!too_long && !line->empty()) spdlog::debug("[mcp:{}] {}", name_, *line);
  }
}

Status StdioClientTransport::Send(const Json& message) {
  MutexLock lock(write_mu_);
  if (closed_ || !process_ || process_->stdin_fd() < 0) {
    return Unavailable("mcp server '" + name_ + "' is not running");
  }
  Status st = WriteLine(process_->stdin_fd(), DumpJson(message));
  if (!st.ok()) return Unavailable("mcp server '" + name_ + "': " + st.message());
  return Status::Ok();
}

void StdioClientTransport::Close() {
  {
    MutexLock lock(write_mu_);
    if (closed_) return;
    closed_ = true;
    if (process_) {
      // Closing stdin asks the server to exit (the stdio shutdown the specification describes);
      // then SIGTERM, then SIGKILL.
      process_->CloseStdin();
      if (!process_->WaitFor(std::chrono::milliseconds(300)))
        process_->Terminate(std::chrono::milliseconds(1000));
    }
  }
  if (stdout_thread_.joinable()) stdout_thread_.join();
  if (stderr_thread_.joinable()) stderr_thread_.join();
}

}  // namespace naut::mcp

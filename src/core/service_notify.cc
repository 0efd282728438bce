#include "core/service_notify.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/mutex.h"
#include "core/unique_fd.h"

namespace naut {

namespace {

using Clock = std::chrono::steady_clock;

// The notification protocol of sd_notify(3), which systemd documents as a stable interface
// for programs that do not link libsystemd: one datagram on the AF_UNIX socket NOTIFY_SOCKET
// names (a leading '@' is the abstract namespace). Written here because libsystemd and the six
// libraries it loads cost every start of the binary (every built-in MCP server the agent
// spawns) about a millisecond of dynamic linking (bench/README.md, "Start-up"). A failed send
// must never stop the work it reports on, so errors are only logged.
void Send(const std::string& message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
    spdlog::debug("sd_notify: NOTIFY_SOCKET '{}' is not a unix socket path", path);
    return;
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid() || ::sendto(sock.get(), message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), addr_len) < 0) {
    spdlog::debug("sd_notify failed: {}", std::strerror(errno));
  }
}

std::string StatusLine(std::string_view status) {
  std::string line = "STATUS=";
  for (char c : status) line += (c == '\n' || c == '\r') ? ' ' : c;
  return line;
}

}  // namespace

bool SystemdRunning() {
  struct stat st {};
  return ::lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

bool ServiceNotifyEnabled() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && *socket != '\0';
}

void NotifyReady(std::string_view status) {
  if (ServiceNotifyEnabled()) Send("READY=1\n" + StatusLine(status));
}

void NotifyStatus(std::string_view status) {
  if (ServiceNotifyEnabled()) Send(StatusLine(status));
}

void NotifyStopping(std::string_view status) {
  if (ServiceNotifyEnabled()) Send("STOPPING=1\n" + StatusLine(status));
}

void NotifyWatchdog() {
  if (ServiceNotifyEnabled()) Send("WATCHDOG=1");
}

std::optional<std::chrono::microseconds> WatchdogInterval() {
  // sd_watchdog_enabled(3): WATCHDOG_USEC, for this process when WATCHDOG_PID names one.
  auto number = [](const char* text, uint64_t& out) {
    if (text == nullptr || *text == '\0') return false;
    const char* end = text + std::strlen(text);
    auto [ptr, ec] = std::from_chars(text, end, out);
    return ec == std::errc() && ptr == end;
  };
  uint64_t usec = 0;
  if (!number(std::getenv("WATCHDOG_USEC"), usec) || usec == 0) return std::nullopt;
  if (const char* pid_text = std::getenv("WATCHDOG_PID"); pid_text != nullptr) {
    uint64_t pid = 0;
    if (!number(pid_text, pid) || pid != static_cast<uint64_t>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(usec);
}

ServiceWatchdog::ServiceWatchdog(std::chrono::milliseconds stall)
    : stall_(stall), last_progress_(Clock::now().time_since_epoch().count()) {
  auto interval = WatchdogInterval();
  if (interval && ServiceNotifyEnabled()) {
    thread_ = std::jthread([this, i = *interval](std::stop_token stop) { Feed(stop, i); });
  }
}

ServiceWatchdog::~ServiceWatchdog() = default;  // the jthread asks the feeder to stop and joins

void ServiceWatchdog::Progress() { last_progress_ = Clock::now().time_since_epoch().count(); }

bool ServiceWatchdog::Alive() const {
  Clock::time_point last{Clock::duration(last_progress_.load())};
  return Clock::now() - last <= stall_;
}

void ServiceWatchdog::Feed(std::stop_token stop, std::chrono::microseconds interval) {
  Mutex mu;
  std::condition_variable_any wake;  // only woken by `stop`
  bool fed = true;
  while (!stop.stop_requested()) {
    if (Alive()) {
      NotifyWatchdog();
      fed = true;
    } else if (fed) {
      fed = false;
      spdlog::warn(
          "no progress for {:g} s: the service watchdog is no longer fed, so systemd will "
          "restart NeuroNaut and the run resumes",
          static_cast<double>(stall_.count()) / 1000);
    }
    MutexLock lock(mu);
    wake.wait_for(lock, stop, interval / 2, [] { return false; });
  }
}

}  // namespace naut

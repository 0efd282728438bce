#include "core/service_notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace naut {

namespace {

using Clock = std::chrono::steady_clock;

void Send(const std::string& message) {
  // Outside systemd sd_notify returns 0 and sends nothing; a failed send must never stop the
  // work it reports on, so errors are only logged.
  int r = sd_notify(0, message.c_str());
  if (r < 0) spdlog::debug("sd_notify failed: {}", std::strerror(-r));
}

std::string StatusLine(std::string_view status) {
  std::string line = "STATUS=";
  for (char c : status) line += (c == '\n' || c == '\r') ? ' ' : c;
  return line;
}

}  // namespace

bool SystemdRunning() { return sd_booted() > 0; }

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
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
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
  std::mutex mu;
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
    std::unique_lock lock(mu);
    wake.wait_for(lock, stop, interval / 2, [] { return false; });
  }
}

}  // namespace naut

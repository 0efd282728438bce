#pragma once
// Talking to systemd when NeuroNaut runs as its service (`Type=notify`, see `neuronaut service
// install`): readiness, a status line, stopping, and the watchdog, over the notification socket
// of sd_notify(3). When no service manager listens (NOTIFY_SOCKET unset) every call is a no-op,
// so callers never check first.
//
//   ServiceWatchdog watchdog(std::chrono::seconds(660));  // fed while the work shows progress
//   NotifyReady("running in environment 'rpg'");
//   ... on each step: watchdog.Progress(); NotifyStatus("task: ...");
//   ... on SIGTERM: NotifyStopping("stopping after the current step");
//
// Thread-safety: the free functions may be called from any thread (each sends one datagram and
// keeps no state). A ServiceWatchdog is created and destroyed by one thread; Progress() may be
// called from any thread.

#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>
#include <thread>

namespace naut {

// Whether systemd is the running service manager (/run/systemd/system exists; sd_booted(3)).
bool SystemdRunning();

// Whether a service manager listens for notifications (NOTIFY_SOCKET is set).
bool ServiceNotifyEnabled();

// READY=1 with a STATUS= line: start-up is over (systemd then reports the unit as active).
void NotifyReady(std::string_view status);
// STATUS= line shown by `systemctl status` (newlines become spaces).
void NotifyStatus(std::string_view status);
// STOPPING=1 with a STATUS= line: a stop was asked for and is under way.
void NotifyStopping(std::string_view status);
// WATCHDOG=1: the process is alive. ServiceWatchdog sends these; direct use is for tests.
void NotifyWatchdog();

// The interval within which systemd expects WATCHDOG=1 (WATCHDOG_USEC, when WATCHDOG_PID is
// unset or this process; sd_watchdog_enabled(3)), or nullopt when no watchdog is armed.
std::optional<std::chrono::microseconds> WatchdogInterval();

// Feeds systemd's watchdog from a thread of its own, every half WatchdogInterval(), but only
// while the work shows progress: a Progress() call (or the construction) within `stall`. Work
// that wedges stops the pings, so systemd kills the process after WatchdogSec= and Restart=
// brings it back. Without a watchdog no thread is started and Progress() only records the time.
class ServiceWatchdog {
 public:
  explicit ServiceWatchdog(std::chrono::milliseconds stall);
  ~ServiceWatchdog();  // stops the thread; sends nothing more
  ServiceWatchdog(const ServiceWatchdog&) = delete;
  ServiceWatchdog& operator=(const ServiceWatchdog&) = delete;

  void Progress();
  // Whether the last Progress() is within `stall` (what the next ping depends on).
  bool Alive() const;

 private:
  void Feed(std::stop_token stop, std::chrono::microseconds interval);

  const std::chrono::milliseconds stall_;
  std::atomic<std::chrono::steady_clock::rep> last_progress_;  // steady_clock ticks
  std::jthread thread_;  // last: started after the members it reads
};

}  // namespace naut

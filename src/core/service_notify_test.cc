#include "core/service_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/unique_fd.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A real notification socket, as systemd opens one for a Type=notify service: a unix datagram
// socket whose path goes into NOTIFY_SOCKET.
class ServiceNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-notify-" + NewId());
    fs::create_directories(dir_);
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(fd_.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (dir_ / "notify").string();
    ASSERT_LT(path.size(), sizeof(addr.sun_path));
    path.copy(addr.sun_path, path.size());
    ASSERT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    fs::remove_all(dir_);
  }

  // Every datagram that arrives within `wait`.
  std::vector<std::string> Receive(std::chrono::milliseconds wait) {
    std::vector<std::string> got;
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{fd_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) got.emplace_back(buf, static_cast<size_t>(n));
    }
    return got;
  }

  fs::path dir_;
  UniqueFd fd_;
};

TEST_F(ServiceNotifyTest, ReadyStatusAndStoppingReachTheSocket) {
  EXPECT_TRUE(ServiceNotifyEnabled());
  NotifyReady("running in environment 'rpg'");
  NotifyStatus("task: two\nlines");
  NotifyStopping("stopping after the current step");
  auto got = Receive(300ms);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "READY=1\nSTATUS=running in environment 'rpg'");
  EXPECT_EQ(got[1], "STATUS=task: two lines") << "a status is one line";
  EXPECT_EQ(got[2], "STOPPING=1\nSTATUS=stopping after the current step");
}

TEST_F(ServiceNotifyTest, WithoutNotifySocketNothingIsSentAndNothingFails) {
  ::unsetenv("NOTIFY_SOCKET");
  ::setenv("WATCHDOG_USEC", "100000", 1);
  EXPECT_FALSE(ServiceNotifyEnabled());
  NotifyReady("x");
  NotifyStatus("x");
  NotifyStopping("x");
  NotifyWatchdog();
  ServiceWatchdog watchdog(10s);
  watchdog.Progress();
  EXPECT_TRUE(Receive(300ms).empty());
}

TEST_F(ServiceNotifyTest, WatchdogIntervalFollowsWatchdogUsecAndPid) {
  EXPECT_FALSE(WatchdogInterval().has_value());
  ::setenv("WATCHDOG_USEC", "60000000", 1);
  ASSERT_TRUE(WatchdogInterval().has_value());
  EXPECT_EQ(*WatchdogInterval(), 60s);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_TRUE(WatchdogInterval().has_value());
  // Meant for another process (a child inherited the variables): not ours to feed.
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(WatchdogInterval().has_value());
}

TEST_F(ServiceNotifyTest, AnAbstractSocketIsReachedAndAnUnusableAddressIsOnlyLogged) {
  // systemd may name a socket in the abstract namespace: "@name".
  UniqueFd abstract(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(abstract.valid());
  std::string name = "naut-notify-" + NewId();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  name.copy(addr.sun_path + 1, name.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(::bind(abstract.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  NotifyStatus("abstract");
  fd_ = std::move(abstract);
  EXPECT_EQ(Receive(300ms), std::vector<std::string>{"STATUS=abstract"});

  // Neither a path nor an abstract name, or too long for a socket address: nothing is sent and
  // the work goes on.
  for (std::string bad : {std::string("relative/notify"), "/" + std::string(200, 'x')}) {
    ::setenv("NOTIFY_SOCKET", bad.c_str(), 1);
    NotifyReady("x");
  }
  EXPECT_TRUE(Receive(100ms).empty());
}

TEST_F(ServiceNotifyTest, AWatchdogIntervalThatIsNotANumberIsNoWatchdog) {
  for (const char* bad : {"", "60s", "-5", "0", "99999999999999999999999"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_FALSE(WatchdogInterval().has_value()) << bad;
  }
  ::setenv("WATCHDOG_USEC", "1000", 1);
  ::setenv("WATCHDOG_PID", "self", 1);
  EXPECT_FALSE(WatchdogInterval().has_value());
}

TEST_F(ServiceNotifyTest, PingsWhileProgressingAndStopsWhenWorkStalls) {
  ::setenv("WATCHDOG_USEC", "100000", 1);  // a ping every 50 ms
  {
    ServiceWatchdog watchdog(400ms);
    // Progress reported throughout: pings keep coming.
    std::vector<std::string> got;
    for (int i = 0; i < 6; ++i) {
      watchdog.Progress();
      auto some = Receive(100ms);
      got.insert(got.end(), some.begin(), some.end());
    }
    EXPECT_TRUE(watchdog.Alive());
    EXPECT_GE(got.size(), 3u);
    for (const auto& m : got) EXPECT_EQ(m, "WATCHDOG=1");

    // No progress: pings stop once `stall` has passed since the last one.
    (void)Receive(500ms);
    EXPECT_FALSE(watchdog.Alive());
    EXPECT_TRUE(Receive(400ms).empty()) << "a stalled process must not feed the watchdog";

    // Progress again: fed again.
    watchdog.Progress();
    auto again = Receive(300ms);
    EXPECT_FALSE(again.empty());
  }
  // Destroyed: nothing more.
  (void)Receive(100ms);
  EXPECT_TRUE(Receive(300ms).empty());
}

}  // namespace
}  // namespace naut

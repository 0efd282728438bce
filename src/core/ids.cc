#include "core/ids.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "core/mutex.h"

namespace naut {

namespace {
std::string FormatUtc(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}
}  // namespace

std::string NewId() {
  static Mutex mu;
  static std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  uint32_t suffix;
  {
    MutexLock lock(mu);
    suffix = static_cast<uint32_t>(rng());
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", suffix);
  return FormatUtc("%Y%m%dT%H%M%SZ-") + hex;
}

std::string NowIso8601() { return FormatUtc("%Y-%m-%dT%H:%M:%SZ"); }

int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace naut

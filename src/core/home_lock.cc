#include "core/home_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/json.h"

namespace naut {
namespace {

std::filesystem::path LockFile(const DataHome& home) { return home.root / "agent.lock"; }

// An open-file-description lock on the whole file: released when the last descriptor of this
// open goes (process exit included), never inherited by exec (close-on-exec), and testable
// without being taken (F_OFD_GETLK), so a status display never makes a starting run fail.
struct flock WholeFile(short type) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  return l;
}

// The holder as the file describes it; nullopt when the file is empty or not ours.
std::optional<HomeLockHolder> ReadHolder(int fd) {
  std::string text;
  char buf[512];
  ssize_t n;
  off_t at = 0;
  while (text.size() < 4096 && (n = pread(fd, buf, sizeof buf, at)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    at += n;
  }
  auto j = ParseJson(text, "agent.lock", 4096);
  if (!j || !j->is_object()) return std::nullopt;
  HomeLockHolder h;
  h.run_id = GetOptionalString(*j, "run_id").value_or("");
  h.what = GetOptionalString(*j, "what").value_or("");
  if (auto pid = GetInt(*j, "pid", "agent.lock"); pid.ok()) h.pid = static_cast<pid_t>(*pid);
  if (h.run_id.empty() && h.pid == 0) return std::nullopt;
  return h;
}

std::string Describe(const HomeLockHolder& h) {
  std::string s = "run " + (h.run_id.empty() ? std::string("(unnamed)") : h.run_id) + " (pid " +
                  std::to_string(h.pid);
  if (!h.what.empty()) s += ", " + h.what;
  return s + ")";
}

}  // namespace

Result<HomeLock> HomeLock::Acquire(const DataHome& home, const std::string& run_id,
                                   const std::string& what) {
  const auto path = LockFile(home);
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    return FailedPrecondition("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  struct flock l = WholeFile(F_WRLCK);
  if (fcntl(fd.get(), F_OFD_SETLK, &l) != 0) {
    if (errno != EAGAIN && errno != EACCES) {
      return FailedPrecondition("cannot lock " + path.string() + ": " + std::strerror(errno));
    }
    auto holder = ReadHolder(fd.get());
    return FailedPrecondition(
        "the data home " + home.root.string() + " is in use by " +
        (holder ? Describe(*holder) : std::string("another process")) +
        "; one agent plays per data home: wait for it, stop it (Ctrl-C or kill), or give this "
        "one another home with --home");
  }
  // Ours now. Whatever the file says was written by a holder that is gone.
  HomeLock lock;
  lock.fd_ = std::move(fd);
  lock.took_over_ = ReadHolder(lock.fd_.get());
  Json me{{"run_id", run_id}, {"pid", static_cast<int64_t>(getpid())}, {"what", what}};
  std::string text = DumpJson(me) + "\n";
  if (ftruncate(lock.fd_.get(), 0) != 0 ||
      pwrite(lock.fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return FailedPrecondition("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  return lock;
}

std::optional<HomeLockHolder> HomeLock::Holder(const DataHome& home) {
  UniqueFd fd(open(LockFile(home).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::nullopt;
  struct flock l = WholeFile(F_WRLCK);
  if (fcntl(fd.get(), F_OFD_GETLK, &l) != 0 || l.l_type == F_UNLCK) return std::nullopt;
  return ReadHolder(fd.get()).value_or(HomeLockHolder{});
}

HomeLock::~HomeLock() {
  // Emptied while still held, so the file never names a holder that has let go; the lock
  // itself goes with the descriptor.
  if (fd_.valid()) (void)ftruncate(fd_.get(), 0);
}

}  // namespace naut

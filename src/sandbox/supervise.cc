// Supervise: from a released child to what its run left (see run_steps.h).

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "sandbox/run_steps.h"

namespace naut::sandbox::internal {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kMiB = 1024 * 1024;
constexpr auto kDiskCheckEvery = std::chrono::milliseconds(100);
// Once stopped, only the kill has to land.
constexpr auto kPollWhileStopping = std::chrono::milliseconds(100);

// Drains what is readable now; false once the stream reached end of file.
bool Drain(int fd, CappedStream& stream) {
  std::array<char, 65536> buffer;
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      stream.Add(buffer.data(), static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// Writes as much of `data` as the pipe takes without raising SIGPIPE in this process.
// Returns false when the reader is gone.
bool FeedStdin(int fd, std::string_view data, size_t& offset) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  bool alive = true;
  while (offset < data.size()) {
    ssize_t n = ::write(fd, data.data() + offset, data.size() - offset);
    if (n > 0) {
      offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      timespec zero{0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);  // consume the pending SIGPIPE
      alive = false;
    }
    break;
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return alive;
}

// Wakes the poll loop from whichever thread requests the stop.
struct WakeEventfd {
  int fd;
  void operator()() const {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
  }
};

// The poll loop of one run; lives on the stack of Supervise.
class Supervisor {
 public:
  Supervisor(LaunchedChild& child, std::string_view stdin_data, const Limits& limits,
             const std::filesystem::path& workspace, std::stop_token cancel)
      : child_(child),
        stdin_data_(stdin_data),
        limits_(limits),
        workspace_(workspace),
        cancel_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        on_cancel_(std::move(cancel), WakeEventfd{cancel_fd_.get()}),
        deadline_(child.start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(limits.wall_s))),
        next_disk_check_(child.start) {
    const auto output_cap = static_cast<size_t>(limits.output_kb * 1024);
    raw_.out.cap = output_cap;
    raw_.err.cap = output_cap;
  }

  Result<RawOutcome> Run() {
    if (stdin_data_.empty() || !FeedStdin(child_.stdin_w.get(), stdin_data_, stdin_offset_) ||
        stdin_offset_ == stdin_data_.size()) {
      child_.stdin_w.Reset();
    }
    while (!exited_) {
      const auto now = Clock::now();
      if (stop_ == LimitHit::kNone) CheckLimits(now);
      NAUT_RETURN_IF_ERROR(PollOnce(now));
    }
    return Finish();
  }

 private:
  enum Slot { kPidfd, kCancel, kOut, kErr, kReport, kStdin, kSlotCount };

  void Stop(LimitHit hit) {
    stop_ = hit;
    child_.KillAll();
  }

  void CheckLimits(Clock::time_point now) {
    if (now >= deadline_) return Stop(LimitHit::kWallTime);
    if (!child_.disk_at_start.valid || now < next_disk_check_) return;
    next_disk_check_ = now + kDiskCheckEvery;
    const DiskUsage start = child_.disk_at_start;
    const DiskUsage d = MeasureDisk(workspace_);
    if (!d.valid) return;
    LimitHit hit = LimitHit::kNone;
    if (start.free_bytes - d.free_bytes > limits_.disk_mb * kMiB) hit = LimitHit::kDisk;
    if (start.free_inodes - d.free_inodes > limits_.max_new_files) hit = LimitHit::kFiles;
    if (hit != LimitHit::kNone) Stop(hit);
  }

  // One poll over whatever is still open, then the events in a fixed order: output, report,
  // stdin, cancellation, exit.
  Status PollOnce(Clock::time_point now) {
    pollfd fds[kSlotCount];
    Slot slot_of[kSlotCount];
    nfds_t n = 0;
    auto add = [&](Slot slot, int fd, short events) {
      slot_of[n] = slot;
      fds[n++] = {fd, events, 0};
    };
    add(kPidfd, child_.pidfd(), POLLIN);
    add(kCancel, cancel_fd_.get(), POLLIN);
    if (out_open_) add(kOut, child_.stdout_r.get(), POLLIN);
    if (err_open_) add(kErr, child_.stderr_r.get(), POLLIN);
    if (report_open_) add(kReport, child_.report_r.get(), POLLIN);
    if (child_.stdin_w.valid()) add(kStdin, child_.stdin_w.get(), POLLOUT);

    int64_t wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now).count() + 1;
    if (child_.disk_at_start.valid) wait_ms = std::min<int64_t>(wait_ms, kDiskCheckEvery.count());
    if (stop_ != LimitHit::kNone) wait_ms = kPollWhileStopping.count();
    int ready = ::poll(fds, n, static_cast<int>(std::max<int64_t>(wait_ms, 0)));
    if (ready < 0 && errno != EINTR)
      return Internal("sandbox: poll: " + std::string(std::strerror(errno)));
    if (ready <= 0) return Status::Ok();

    short revents[kSlotCount] = {};
    for (nfds_t i = 0; i < n; ++i) revents[slot_of[i]] = fds[i].revents;
    if (revents[kOut]) out_open_ = Drain(child_.stdout_r.get(), raw_.out);
    if (revents[kErr]) err_open_ = Drain(child_.stderr_r.get(), raw_.err);
    if (revents[kReport]) report_open_ = Drain(child_.report_r.get(), report_);
    if (revents[kStdin]) {
      if (!FeedStdin(child_.stdin_w.get(), stdin_data_, stdin_offset_) ||
          stdin_offset_ == stdin_data_.size() || (revents[kStdin] & (POLLERR | POLLHUP))) {
        child_.stdin_w.Reset();
      }
    }
    if (revents[kCancel] && stop_ == LimitHit::kNone) Stop(LimitHit::kCancelled);
    if (revents[kPidfd]) exited_ = true;
    return Status::Ok();
  }

  RawOutcome Finish() {
    rusage usage{};
    raw_.launched_status = child_.Reap(usage);
    raw_.wall_s = std::chrono::duration<double>(Clock::now() - child_.start).count();
    raw_.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    raw_.peak_memory_kb = usage.ru_maxrss;
    child_.stdin_w.Reset();
    // What is buffered is read once, without waiting for end of file: isolated, every writer
    // is gone with the namespace's init; unisolated, a leftover the session kill has not ended
    // yet (or one that left the session) may still hold a write end.
    if (out_open_) Drain(child_.stdout_r.get(), raw_.out);
    if (err_open_) Drain(child_.stderr_r.get(), raw_.err);
    if (report_open_) Drain(child_.report_r.get(), report_);
    raw_.stop = stop_;
    raw_.report = std::move(report_.text);
    return std::move(raw_);
  }

  LaunchedChild& child_;
  const std::string_view stdin_data_;
  const Limits& limits_;
  const std::filesystem::path& workspace_;
  UniqueFd cancel_fd_;
  std::stop_callback<WakeEventfd> on_cancel_;
  const Clock::time_point deadline_;
  Clock::time_point next_disk_check_;

  LimitHit stop_ = LimitHit::kNone;
  bool out_open_ = true, err_open_ = true, report_open_ = true, exited_ = false;
  size_t stdin_offset_ = 0;
  RawOutcome raw_;
  CappedStream report_{.cap = 64 * sizeof(ReportRecord)};
};

}  // namespace

std::string CappedStream::Finish() && {
  if (truncated()) {
    text += "\n[sandbox: output truncated, " +
            std::to_string(total - static_cast<int64_t>(text.size())) + " more bytes not shown]\n";
  }
  return std::move(text);
}

Result<RawOutcome> Supervise(LaunchedChild& child, std::string_view stdin_data,
                             const Limits& limits, const std::filesystem::path& workspace,
                             std::stop_token cancel) {
  Supervisor supervisor(child, stdin_data, limits, workspace, std::move(cancel));
  return supervisor.Run();
}

}  // namespace naut::sandbox::internal

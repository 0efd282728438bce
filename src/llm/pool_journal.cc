#include "llm/pool_journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <fstream>

#include "core/ids.h"
#include "core/json.h"

namespace naut::llm {

namespace fs = std::filesystem;

PoolJournal::PoolJournal(fs::path file, uintmax_t max_bytes)
    : file_(std::move(file)), max_bytes_(max_bytes) {}

void PoolJournal::Append(PoolEvent event) {
  static std::atomic<bool> warned = false;
  if (event.time.empty()) event.time = NowIso8601();
  if (event.pid == 0) event.pid = ::getpid();
  Json j = {{"time", event.time},
            {"pid", event.pid},
            {"endpoint", event.endpoint},
            {"event", event.event},
            {"detail", event.detail}};
  std::string line = j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  std::error_code ec;
  // The folder only (logs/), never the data home above it, which is made 0700 by its owner.
  fs::create_directory(file_.parent_path(), ec);
  if (fs::file_size(file_, ec) > max_bytes_ && !ec) {
    // Several processes may rotate at once; one rename wins and the others' lines go to the
    // new file, which is all that matters for a journal of recent events.
    fs::rename(file_, fs::path(file_.string() + ".1"), ec);
  }
  int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (fd >= 0) ::close(fd);
  if (!ok && !warned.exchange(true)) {
    spdlog::warn("llm pool: cannot write its journal {}; `llm status` will not show its events",
                 file_.string());
  }
}

Result<std::vector<PoolEvent>> ReadPoolJournal(const fs::path& file, size_t last) {
  std::ifstream in(file);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return std::vector<PoolEvent>{};
    return Unavailable("cannot read " + file.string());
  }
  std::deque<PoolEvent> kept;
  std::string line;
  while (std::getline(in, line)) {
    auto j = ParseJson(line, file.string());
    if (!j || !j->is_object()) continue;
    // A hand-edited or foreign line must not throw: fields of another type read as empty.
    auto text = [&](const char* key) {
      auto it = j->find(key);
      return it != j->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    PoolEvent e;
    e.time = text("time");
    auto pid = j->find("pid");
    e.pid = pid != j->end() && pid->is_number_integer() ? pid->get<int64_t>() : 0;
    e.endpoint = text("endpoint");
    e.event = text("event");
    e.detail = text("detail");
    if (e.event.empty()) continue;
    kept.push_back(std::move(e));
    if (kept.size() > last) kept.pop_front();
  }
  return std::vector<PoolEvent>(kept.begin(), kept.end());
}

}  // namespace naut::llm

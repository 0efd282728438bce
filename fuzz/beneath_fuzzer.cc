// libFuzzer target for path resolution beneath a root (core/beneath.h). A fixed tree is made
// once: a root with directories, files and symlinks of every kind (relative and absolute,
// inside and out, chains, loops, dangling, long names), beside a directory outside the root.
// Any byte string is used as a path under the root, with the final link kept or followed; the
// rule is that whatever is located lies within the root, by the walk's own account and by
// the kernel's account of the descriptor it returns.

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/beneath.h"

namespace {

std::string g_base;
std::vector<naut::RootDir>* g_roots = nullptr;

bool Within(const std::string& path, const std::string& root) {
  return path == root || path.rfind(root + "/", 0) == 0;
}

void Make(const std::string& rel, const char* kind, const std::string& target = {}) {
  const std::string p = g_base + "/" + rel;
  if (std::string(kind) == "dir") ::mkdir(p.c_str(), 0755);
  if (std::string(kind) == "file") ::close(::open(p.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  if (std::string(kind) == "link") [[maybe_unused]]
    int r = ::symlink(target.c_str(), p.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/naut-fuzz-beneath-XXXXXX";
  char* made = ::mkdtemp(tmpl);
  if (made == nullptr) std::abort();
  char real[PATH_MAX];
  if (::realpath(made, real) == nullptr) std::abort();
  g_base = real;
  for (const char* d : {"root", "root/a", "root/a/b", "root/c", "outside", "outside/in"})
    Make(d, "dir");
  for (const char* f : {"root/f", "root/a/g", "root/a/b/h", "outside/secret", "outside/in/x"})
    Make(f, "file");
  Make("root/l-in", "link", "a/b");
  Make("root/l-abs-in", "link", g_base + "/root/a");
  Make("root/l-up", "link", "..");
  Make("root/l-out", "link", "../outside");
  Make("root/l-abs-out", "link", g_base + "/outside/secret");
  Make("root/a/l-deep-out", "link", "../../outside/in");
  Make("root/a/l-back", "link", "../../root/c");
  Make("root/l-chain1", "link", "l-chain2");
  Make("root/l-chain2", "link", "a/l-back");
  Make("root/l-loop1", "link", "l-loop2");
  Make("root/l-loop2", "link", "l-loop1");
  Make("root/l-dangling", "link", "nowhere/at/all");
  Make("root/l-root", "link", "/");
  Make("root/l-proc", "link", "/proc/self/root");
  Make("root/" + std::string(250, 'n'), "link", std::string(250, 'n') + "/..");
  auto root = naut::OpenRootDir(g_base + "/root");
  if (!root.ok()) std::abort();
  g_roots = new std::vector<naut::RootDir>();
  g_roots->push_back(std::move(*root));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto final = data[0] & 1 ? naut::FinalLink::kKeep : naut::FinalLink::kFollow;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (char& c : rest) {
    if (c == '\0') c = '/';
  }
  const std::string root = g_base + "/root";
  auto at = naut::Locate(*g_roots, root + "/" + rest, final);
  if (!at.ok()) return 0;
  if (!Within(at->real, root)) std::abort();
  if (at->name.find('/') != std::string::npos || at->name == ".." || at->name.empty()) std::abort();
  char buf[PATH_MAX];
  ssize_t n =
      ::readlink(("/proc/self/fd/" + std::to_string(at->dir.get())).c_str(), buf, sizeof buf);
  if (n <= 0 || !Within(std::string(buf, static_cast<size_t>(n)), root)) std::abort();
  return 0;
}

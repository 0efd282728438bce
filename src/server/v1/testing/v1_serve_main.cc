// A stand-alone model server for benchmarks and manual tests until `neuronaut serve` mounts
// it: server_v1_serve MODEL.gguf [--port N] [--parallel N] [--ctx N] [--threads N]
// [--queue N]. Prints the address it listens on, serves until SIGINT or SIGTERM.

#include <httplib.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "server/v1/model_server.h"

namespace {

httplib::Server* g_http = nullptr;

void OnSignal(int) {
  if (g_http != nullptr) g_http->stop();
}

}  // namespace

int main(int argc, char** argv) {
  naut::server::ModelServerOptions o;
  int port = 8080;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--port") {
      port = next();
    } else if (a == "--parallel") {
      o.parallel = next();
    } else if (a == "--ctx") {
      o.context_size = next();
    } else if (a == "--threads") {
      o.threads = next();
    } else if (a == "--queue") {
      o.queue_size = next();
    } else if (!a.empty() && a[0] != '-' && o.model_path.empty()) {
      o.model_path = a;
    } else {
      std::fprintf(stderr,
                   "usage: server_v1_serve MODEL.gguf [--port N] [--parallel N] [--ctx N] "
                   "[--threads N] [--queue N]\n");
      return 2;
    }
  }
  const int workers = o.parallel + o.queue_size + 4;
  auto server = naut::server::ModelServer::Open(o);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.error().ToString().c_str());
    return 1;
  }
  httplib::Server http;
  http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  // A port a server just left (connections in TIME_WAIT) can be taken again at once.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  (*server)->Mount(http);
  if (!http.bind_to_port("127.0.0.1", port)) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  g_http = &http;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::printf("listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  http.listen_after_bind();
  (*server)->Stop();
  return 0;
}

#include "server/v1/model_server.h"

#include <filesystem>
#include <thread>

#include "core/json.h"
#include "core/mutex.h"
#include "engine/model.h"

namespace naut::server {

namespace {

void SendError(httplib::Response& res, int status, const std::string& type,
               const std::string& message) {
  Json body{{"error", {{"code", status}, {"message", message}, {"type", type}}}};
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

}  // namespace

class ModelServer::Impl {
 public:
  explicit Impl(ModelServerOptions o) : options_(std::move(o)) {}
  ~Impl() { Stop(); }

  void Start() {
    loader_ = std::thread([this] {
      auto m = engine::Model::Load(options_.model_path);
      MutexLock lock(mu_);
      if (m.ok()) {
        model_ = std::move(*m);
      } else {
        load_status_ = m.error();
      }
      loaded_ = true;
      cv_.notify_all();
    });
  }

  Status WaitLoaded() {
    MutexLock lock(mu_);
    while (!loaded_) cv_.wait(lock);
    return load_status_;
  }

  void Stop() {
    if (loader_.joinable()) loader_.join();
  }

  void Mount(httplib::Server& http) {
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      MutexLock lock(mu_);
      if (!loaded_) return SendError(res, 503, "unavailable_error", "Loading model");
      if (!load_status_.ok()) return SendError(res, 500, "server_error", load_status_.ToString());
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    auto todo = [](const httplib::Request& req, httplib::Response& res) {
      SendError(res, 501, "not_implemented_error", req.path + " is not implemented yet");
    };
    for (const char* path : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                             "/chat/completions", "/completions", "/embeddings"}) {
      http.Post(path, todo);
    }
    for (const char* path : {"/v1/models", "/models", "/props", "/slots", "/metrics"}) {
      http.Get(path, todo);
    }
  }

 private:
  const ModelServerOptions options_;
  Mutex mu_;
  std::condition_variable_any cv_;
  bool loaded_ GUARDED_BY(mu_) = false;
  Status load_status_ GUARDED_BY(mu_);
  std::unique_ptr<engine::Model> model_ GUARDED_BY(mu_);
  std::thread loader_;
};

ModelServer::ModelServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelServer::~ModelServer() { Stop(); }

Result<std::unique_ptr<ModelServer>> ModelServer::Open(ModelServerOptions options) {
  if (options.model_path.empty()) return InvalidArgument("model server: no model path given");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.model_path, ec)) {
    return NotFound("model server: " + options.model_path + " is not a file");
  }
  if (options.parallel < 1 || options.parallel > 64) {
    return InvalidArgument("model server: parallel must be 1..64, got " +
                           std::to_string(options.parallel));
  }
  if (options.queue_size < 0) return InvalidArgument("model server: queue_size must be >= 0");
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->Start();
  return std::unique_ptr<ModelServer>(new ModelServer(std::move(impl)));
}

Status ModelServer::WaitLoaded() { return impl_->WaitLoaded(); }
void ModelServer::Mount(httplib::Server& http) { impl_->Mount(http); }
void ModelServer::Stop() { impl_->Stop(); }

}  // namespace naut::server

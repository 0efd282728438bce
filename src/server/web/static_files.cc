#include "server/web/static_files.h"

#include "server/guard.h"
#include "server/openapi_data.h"
#include "server/web_assets_data.h"

namespace naut::server {

std::optional<WebAsset> FindWebAsset(std::string_view url_path) {
  if (url_path == "/") url_path = "/index.html";
  for (const auto& a : internal::kWebAssets) {
    if (a.path == url_path) return WebAsset{a.type, a.body};
  }
  return std::nullopt;
}

std::string_view OpenApiDocument() { return internal::kOpenApiAssets[0].body; }

void MountStaticFiles(httplib::Server& http) {
  http.Get(".*", [](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/api" || req.path.rfind("/api/", 0) == 0) {
      JsonError(res, 404, "Not Found: no API route " + req.path + " (see /api/openapi.json)");
      return;
    }
    std::optional<WebAsset> asset = FindWebAsset(req.path);
    if (!asset) {
      res.status = 404;
      res.set_content("Not Found\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(asset->body.data(), asset->body.size(), std::string(asset->type));
  });
}

}  // namespace naut::server

#pragma once
// The dashboard's files (web/) and the OpenAPI document (openapi/openapi.json), compiled into
// the binary. A URL path is only ever a key into that table: nothing under the URL reaches the
// filesystem, so no path (`/../`, `%2e%2e`, absolute) can read a file.
//
// Thread-safety: the table is immutable; everything here may be called from any thread.

#include <httplib.h>

#include <optional>
#include <string_view>

namespace naut::server {

struct WebAsset {
  std::string_view type;  // media type, with charset for text
  std::string_view body;
};

// The asset for an exact URL path ("/" is "/index.html"), or nothing.
std::optional<WebAsset> FindWebAsset(std::string_view url_path);

// The OpenAPI 3 document of /api, as JSON text.
std::string_view OpenApiDocument();

// GET and HEAD of every path not taken by an earlier route: the asset, else 404 (JSON under
// /api, text elsewhere). Register it after every other route.
void MountStaticFiles(httplib::Server& http);

}  // namespace naut::server

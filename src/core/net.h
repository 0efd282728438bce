#pragma once
// Small socket helpers shared by the parts that start local servers.

#include <string>

#include "core/status.h"

namespace naut {

// A TCP port nothing listens on right now at `host` ("0.0.0.0" for every interface, anything
// else for loopback), found by binding port 0 and asking the kernel which port it chose. The
// port is free when this returns; a server started on it a moment later normally gets it.
Result<int> FreeTcpPort(const std::string& host = "127.0.0.1");

}  // namespace naut

// Helper of the refusal test: asks the sandbox library whether it can isolate here.
// Exit 0 and "available", or exit 3 and the error.
#include <cstdio>

#include "sandbox/sandbox.h"

int main() {
  naut::Status status = naut::sandbox::CheckIsolationAvailable();
  if (status.ok()) {
    std::puts("available");
    return 0;
  }
  std::puts(status.ToString().c_str());
  return 3;
}

#pragma once
// A workspace's files as one JSON value, and a workspace put back from one: the exec server's
// save_state and load_state, with which the agent runs a new skill from the state its task
// started in (as the game's save_state / load_state do for the rpg).
//
// The state is {"format": "neuronaut-workspace", "version": 1, "dirs": [relative paths],
// "files": [{"path", "mode" (0644 or 0755), "base64"}]}. Build output is left out (directories
// named build, _build, CMakeFiles, __pycache__, .pytest_cache, *.egg-info, and the exec server's
// own .naut-exec), and so are symlinks and special files (code in the sandbox may have made
// them). A workspace larger than the limits is refused with a message rather than cut.
//
// Everything goes through descriptors beneath the workspace's (core/beneath.h): the sandboxed
// code that shares the directory cannot redirect a read or a write outside it. Loading checks
// the whole state first (paths relative, without "..", decodable, within the limits), then
// empties the workspace (build output included: it is rebuilt) and writes the state's files.

#include <cstddef>

#include "core/json.h"
#include "core/status.h"

namespace naut::envs::exec {

struct WorkspaceLimits {
  size_t max_bytes = 512 * 1024;  // of file contents, in all
  size_t max_files = 2000;
};

// Whether a directory named `name` holds build output, which a state leaves out.
bool IsBuildOutput(const std::string& name);

// The state of the workspace whose directory is `root` (an O_PATH or O_RDONLY descriptor).
Result<Json> SaveWorkspace(int root, const WorkspaceLimits& limits = {});
// Puts `state` back into the workspace `root`. Errors: kInvalidArgument for a state that is not
// one SaveWorkspace made (nothing touched), else what failed while writing.
Status LoadWorkspace(int root, const Json& state, const WorkspaceLimits& limits = {});

}  // namespace naut::envs::exec

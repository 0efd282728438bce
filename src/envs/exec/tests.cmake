# exec: the sandbox runs every tool call; RE2 reads compiler and test output.
target_link_libraries(naut_envs PUBLIC naut_sandbox PkgConfig::RE2)

naut_test(exec_diagnostics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/diagnostics_test.cc
  DEPS naut_envs LABELS unit)
# Starts sandboxed processes (python3, g++, cmake): integration.
naut_test(exec_server_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/exec_server_test.cc
  DEPS naut_envs LABELS integration)
naut_test(exec_workspace_state_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/workspace_state_test.cc
  DEPS naut_envs LABELS unit)

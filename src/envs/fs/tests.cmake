naut_test(fs_server_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs_server_test.cc ${CMAKE_CURRENT_LIST_DIR}/glob_diff_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_compat_test.cc
  DEPS naut_envs LABELS unit)

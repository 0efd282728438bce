# Tests of the rpg game and its tool surface (included from src/envs/CMakeLists.txt).
naut_test(rpg_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rpg/game_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/rpg/rpg_server_test.cc
  DEPS naut_envs naut_envs_testing)

# serve's API in-process on port 0, against the OpenAPI document route for route (a run is
# started as the real neuronaut binary).
naut_test(server_api_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/server_api_test.cc
  DEPS naut_server LABELS integration)
target_compile_definitions(server_api_test PRIVATE
  NAUT_OPENAPI_FILE="${PROJECT_SOURCE_DIR}/openapi/openapi.json"
  NAUT_CLI="$<TARGET_FILE:neuronaut>")
add_dependencies(server_api_test neuronaut)

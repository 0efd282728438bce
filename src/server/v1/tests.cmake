# The OpenAI-compatible model server (v1/): real HTTP over loopback with the tiny models of
# ../shared/conformance (skipped when absent), and with the real models of ./models under the
# `model` label.
naut_test(server_v1_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_server_test.cc
  DEPS naut_server naut_llm
  LABELS integration)
naut_test(server_v1_model_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_server_model_test.cc
  DEPS naut_server
  LABELS model
  TIMEOUT 1800)

# naut_library(<module> SOURCES ... [DEPS ...]) -> static library naut_<module>
# naut_test(<name> SOURCES ... [DEPS ...] [LABELS ...]) -> a GoogleTest executable registered with CTest
set(NAUT_WARNINGS -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(NAUT_WERROR)
  list(APPEND NAUT_WARNINGS -Werror)
endif()

function(naut_library module)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(naut_${module} STATIC ${ARG_SOURCES})
  target_include_directories(naut_${module} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(naut_${module} PRIVATE ${NAUT_WARNINGS})
  target_link_libraries(naut_${module} PUBLIC ${ARG_DEPS})
endfunction()

function(naut_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT NAUT_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${NAUT_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    NAUT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    NAUT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
  if("unit" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY NAUT_UNIT_TESTS ${name})
  endif()
endfunction()

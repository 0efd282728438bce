# Every third-party library comes from a Debian 12 package; scripts/setup.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(ICU_UC REQUIRED IMPORTED_TARGET icu-uc)
# Start-up: every shared library the binary loads costs the dynamic loader symbol lookups at each
# start (neuronaut starts for every `mcp call` and every built-in server the agent spawns), so
# the libraries Debian also ships as static archives are linked from those (bench/README.md,
# "Start-up"). naut_link_static(<target> <archive>... [DEPS <link item>...]) points an imported
# target at the archives; a missing archive leaves the shared library in place.
function(naut_link_static target)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  set(archives)
  foreach(name ${ARG_UNPARSED_ARGUMENTS})
    find_library(NAUT_STATIC_${name} NAMES lib${name}.a)
    if(NOT NAUT_STATIC_${name})
      return()
    endif()
    list(APPEND archives ${NAUT_STATIC_${name}})
  endforeach()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${archives};${ARG_DEPS}")
  else()
    list(POP_FRONT archives first)
    set_target_properties(${target} PROPERTIES IMPORTED_LOCATION ${first}
      INTERFACE_LINK_LIBRARIES "${archives};${ARG_DEPS}")
  endif()
endfunction()
naut_link_static(PkgConfig::RE2 re2 DEPS Threads::Threads)
naut_link_static(PkgConfig::ICU_UC icuuc icudata DEPS Threads::Threads ${CMAKE_DL_LIBS} m)
naut_link_static(PkgConfig::SECCOMP seccomp)
naut_link_static(SQLite::SQLite3 sqlite3 DEPS Threads::Threads ${CMAKE_DL_LIBS} m)
# spdlog and fmt: Debian ships them as shared libraries only, which cost more at start-up than
# all the rest of our code (spdlog alone binds 1,200 symbols). naut_spdlog compiles their
# compiled parts from Debian's headers (cmake/static/) into a static archive and carries the
# same definitions as spdlog::spdlog and fmt::fmt; on Linux SPDLOG_SHARED_LIB and FMT_SHARED
# only mark symbols visible, so every compile line stays as it was.
add_library(naut_spdlog STATIC ${CMAKE_CURRENT_LIST_DIR}/static/spdlog.cc
                               ${CMAKE_CURRENT_LIST_DIR}/static/fmt_format.cc)
target_compile_definitions(naut_spdlog PUBLIC FMT_SHARED SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL
                                              SPDLOG_SHARED_LIB)
target_link_libraries(naut_spdlog PUBLIC Threads::Threads)
find_path(HNSWLIB_INCLUDE_DIR hnswlib/hnswlib.h REQUIRED)
add_library(naut_hnswlib INTERFACE)
target_include_directories(naut_hnswlib SYSTEM INTERFACE ${HNSWLIB_INCLUDE_DIR})
if(NAUT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(NAUT_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

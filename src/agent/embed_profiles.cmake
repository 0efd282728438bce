# cmake -DOUT=<file.h> -DDIR=<examples/profiles> -DNAMES=rpg,pkg -P embed_profiles.cmake
# Writes a header with each built-in profile (<DIR>/<name>.toml) as a raw string literal, in the
# order given, so the built-in profiles are the example files a user reads.
string(REPLACE "," ";" names "${NAMES}")
set(body "#pragma once\n// Generated from examples/profiles/*.toml by src/agent/embed_profiles.cmake; do not edit.\n#include <string_view>\n#include <utility>\nnamespace naut::agent::internal {\ninline constexpr std::pair<std::string_view, std::string_view> kBuiltinProfiles[] = {\n")
foreach(name ${names})
  set(f ${DIR}/${name}.toml)
  file(READ ${f} text)
  string(FIND "${text}" ")naut_profile\"" bad)
  if(NOT bad EQUAL -1)
    message(FATAL_ERROR "${f} contains the delimiter )naut_profile\"")
  endif()
  string(APPEND body "  {\"${name}\", R\"naut_profile(${text})naut_profile\"},\n")
endforeach()
string(APPEND body "};\n}  // namespace naut::agent::internal\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)

# Writes the CLI's version header (version.h.in) with the commit the build is made from; run at
# every build by the naut_version target. configure_file leaves the file alone when nothing
# changed, so the binary is relinked only when the commit (or a local change to it) is new.
#   cmake -DSOURCE_DIR=... -DVERSION=... -DIN=version.h.in -DOUT=.../version.h -P version.cmake
execute_process(COMMAND git rev-parse --short HEAD
  WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE NAUT_GIT_REV
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT NAUT_GIT_REV)
  set(NAUT_GIT_REV "unknown")
else()
  # Tracked files changed since that commit: the binary is not exactly the commit.
  execute_process(COMMAND git status --porcelain --untracked-files=no
    WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE changes
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND NAUT_GIT_REV "+changes")
  endif()
endif()
set(PROJECT_VERSION ${VERSION})
configure_file(${IN} ${OUT} @ONLY)

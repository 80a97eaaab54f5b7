# Finds NCCL's header (nccl.h) for a build that loads libnccl.so.2 at run time, so no NCCL library is
# needed to link. Looks in NCCL_ROOT, .deps/nccl (scripts/fetch-nccl.sh), the CUDA toolkit and the
# system.
#
# Defines NCCL_FOUND, NCCL_VERSION (nccl.h's), NCCL_INCLUDE_DIR and NCCL_LIBRARY_DIR (a folder holding
# libnccl.so.2 beside the header, if any: the run-time loader tries it after the system's search path).
set(_nccl_hints ${NCCL_ROOT} $ENV{NCCL_ROOT} "${PROJECT_SOURCE_DIR}/.deps/nccl" ${CUDAToolkit_LIBRARY_ROOT})
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
find_path(NCCL_LIBRARY_DIR libnccl.so.2 HINTS ${_nccl_hints} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64 NO_CACHE)

if(NCCL_INCLUDE_DIR)
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_lines REGEX "#define NCCL_(MAJOR|MINOR|PATCH) ")
  set(_nccl_parts)
  foreach(_name MAJOR MINOR PATCH)
    string(REGEX MATCH "#define NCCL_${_name} +([0-9]+)" _match "${_nccl_lines}")
    list(APPEND _nccl_parts ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN _nccl_parts "." NCCL_VERSION)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)
mark_as_advanced(NCCL_INCLUDE_DIR)

# Finds the cudnn-frontend C++ headers and cuDNN's own headers (cudnn.h) for a build that loads
# libcudnn at run time (the frontend's dynamic-loading mode), so no cuDNN library is needed to link.
# Looks in CUDNN_ROOT, .deps/cudnn (scripts/fetch-cudnn.sh), the CUDA toolkit and the system.
#
# Defines CUDNNFrontend_FOUND, CUDNNFrontend_VERSION (the frontend's), CUDNNFrontend_CUDNN_VERSION
# (cudnn_version.h's), CUDNNFrontend_LIBRARY_DIR (a folder holding libcudnn.so.9 beside the headers,
# if any) and the imported target CUDNN::frontend.
set(_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} "${PROJECT_SOURCE_DIR}/.deps/cudnn" ${CUDAToolkit_LIBRARY_ROOT})
find_path(CUDNNFrontend_INCLUDE_DIR cudnn_frontend.h HINTS ${_cudnn_hints} PATH_SUFFIXES include)
find_path(CUDNNFrontend_CUDNN_INCLUDE_DIR cudnn_version.h HINTS ${_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
          PATH_SUFFIXES include)
find_path(CUDNNFrontend_LIBRARY_DIR libcudnn.so.9 HINTS ${_cudnn_hints} ${CUDAToolkit_LIBRARY_DIR}
          PATH_SUFFIXES lib lib64 NO_CACHE)

# "MAJOR.MINOR.PATCH" from the #defines PREFIX_{MAJOR,MINOR,PATCH...} of `header`.
function(_cudnn_header_version header major minor patch out)
  file(STRINGS "${header}" _lines REGEX "#define (${major}|${minor}|${patch}) ")
  set(_parts)
  foreach(_name ${major} ${minor} ${patch})
    string(REGEX MATCH "#define ${_name} +([0-9]+)" _match "${_lines}")
    list(APPEND _parts ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN _parts "." _version)
  set(${out} "${_version}" PARENT_SCOPE)
endfunction()

if(CUDNNFrontend_INCLUDE_DIR AND EXISTS "${CUDNNFrontend_INCLUDE_DIR}/cudnn_frontend_version.h")
  _cudnn_header_version("${CUDNNFrontend_INCLUDE_DIR}/cudnn_frontend_version.h" CUDNN_FRONTEND_MAJOR_VERSION
                        CUDNN_FRONTEND_MINOR_VERSION CUDNN_FRONTEND_PATCH_VERSION CUDNNFrontend_VERSION)
endif()
if(CUDNNFrontend_CUDNN_INCLUDE_DIR)
  _cudnn_header_version("${CUDNNFrontend_CUDNN_INCLUDE_DIR}/cudnn_version.h" CUDNN_MAJOR CUDNN_MINOR
                        CUDNN_PATCHLEVEL CUDNNFrontend_CUDNN_VERSION)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNNFrontend
  REQUIRED_VARS CUDNNFrontend_INCLUDE_DIR CUDNNFrontend_CUDNN_INCLUDE_DIR
  VERSION_VAR CUDNNFrontend_VERSION)

if(CUDNNFrontend_FOUND AND NOT TARGET CUDNN::frontend)
  add_library(CUDNN::frontend INTERFACE IMPORTED)
  # Imported include folders are SYSTEM: the frontend does not build with attnbench's -Werror set.
  # Dynamic loading: the frontend resolves every cuDNN entry point through dlsym on a handle the
  # caller opens, so the binary runs (and reports cuDNN missing) where no libcudnn is installed.
  set_target_properties(CUDNN::frontend PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CUDNNFrontend_INCLUDE_DIR};${CUDNNFrontend_CUDNN_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING;CUDNN_FRONTEND_SKIP_JSON_LIB"
    INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
endif()
mark_as_advanced(CUDNNFrontend_INCLUDE_DIR CUDNNFrontend_CUDNN_INCLUDE_DIR)

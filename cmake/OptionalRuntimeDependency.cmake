# attnbench_optional_runtime_dependency(<NAME> PACKAGE <find_package name> DOC <cache doc>
#                                        FOUND <summary> MISSING <summary>)
#
# A dependency of the CUDA backend that is built against its headers only and whose library is loaded
# at run time (cuDNN, NCCL): the cache option ATTNBENCH_<NAME> = AUTO (on where the package's headers
# are found), ON (an error where they are not) or OFF. Sets ATTNBENCH_WITH_<NAME> and prints what the
# build has and why. FOUND and MISSING may name the package's variables as @VAR@ (expanded after
# find_package). A macro, so that what find_package defines stays visible to the caller.
macro(attnbench_optional_runtime_dependency name)
  cmake_parse_arguments(_dep "" "PACKAGE;DOC;FOUND;MISSING" "" ${ARGN})
  set(ATTNBENCH_${name} AUTO CACHE STRING "${_dep_DOC}: AUTO (where its headers are found), ON or OFF")
  set_property(CACHE ATTNBENCH_${name} PROPERTY STRINGS AUTO ON OFF)
  set(ATTNBENCH_WITH_${name} OFF)
  if(ATTNBENCH_${name} STREQUAL "OFF")
    set(_dep_summary "off (ATTNBENCH_${name}=OFF)")
  elseif(NOT ATTNBENCH_CUDA)
    set(_dep_summary "off (needs the CUDA backend)")
  else()
    find_package(${_dep_PACKAGE} QUIET)
    if(${_dep_PACKAGE}_FOUND)
      set(ATTNBENCH_WITH_${name} ON)
      string(CONFIGURE "${_dep_FOUND}" _dep_summary @ONLY)
    else()
      string(CONFIGURE "${_dep_MISSING}" _dep_summary @ONLY)
    endif()
    if(ATTNBENCH_${name} STREQUAL "ON" AND NOT ATTNBENCH_WITH_${name})
      message(FATAL_ERROR "ATTNBENCH_${name}=ON but ${_dep_DOC} is ${_dep_summary}")
    endif()
  endif()
  message(STATUS "attnbench: ${_dep_DOC} ${_dep_summary}")
endmacro()

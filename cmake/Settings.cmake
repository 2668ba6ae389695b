set(CMAKE_CXX_STANDARD 23)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "" FORCE)
endif()
# Debug info is large and slows linking of static binaries; keep it minimal.
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2 -g1 -DNDEBUG")
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O2 -g1 -DNDEBUG")

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
set(K3A_TEST_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# Shipped binaries link everything statically (see docs/ARCHITECTURE.md).
option(K3A_STATIC "link shipped binaries statically" ON)

# Repository root for tests that read tests/data.
add_compile_definitions(K3A_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
include_directories(${CMAKE_SOURCE_DIR})

# k3a_test(NAME SOURCES... LIBS ... [LABELS ...]): one GoogleTest binary per component.
function(k3a_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${K3A_TEST_OUTPUT_DIRECTORY})
  target_link_libraries(${name} PRIVATE ${T_LIBS} test_support GTest::gtest_main)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()

# k3a_shipped_binary(TARGET): a binary that goes into bundles. Stripped at link time so that
# what users carry across the gap is small; tests and debugging use the unstripped objects.
option(K3A_STRIP "strip shipped binaries" ON)
function(k3a_shipped_binary target)
  if(K3A_STRIP)
    target_link_options(${target} PRIVATE -Wl,--strip-all)
  endif()
endfunction()

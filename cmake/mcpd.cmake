# Project-wide build helpers. Warnings are errors in our code only: Boost and other system
# headers come in through -isystem and are not checked.

# Compile definitions every TU that touches Asio, Beast, JSON or URL must agree on: the
# libraries are compiled once, in src/core/*_impl.cpp, instead of in every TU that includes them.
# Coroutine frames come from the global allocator (jemalloc), not Asio's per-thread recycling
# cache: that cache keeps a block's size in one byte of 4-byte chunks (frames over 1,020 bytes
# are never kept) and hands out the first block big enough, evicting one on a miss, so the ~11
# frames of a request of mixed sizes missed it ~90% of the time and paid for the search, the
# eviction and an aligned_alloc. Without it: ~7% fewer instructions per request (JSON), ~10% (SSE).
add_library(mcpd_build_settings INTERFACE)
target_compile_definitions(mcpd_build_settings INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_JSON_NO_LIB
  BOOST_URL_NO_LIB
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16
  BOOST_ASIO_DISABLE_AWAITABLE_FRAME_RECYCLING)
# Sanitizer and profile flags are this build's own ($<BUILD_INTERFACE>): a program built against
# an installed mcpd gets only the definitions above, which it must share with the libraries.
if(MCPD_SANITIZE STREQUAL "thread")
  # ThreadSanitizer: the tsan preset, and tests/threads' tsan.build in the suite. GCC warns that
  # TSan does not model std::atomic_thread_fence (libstdc++ and Asio use one); a race it then
  # reports would be a false one, and none is reported today.
  set(flags -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  target_compile_options(mcpd_build_settings INTERFACE "$<BUILD_INTERFACE:${flags}>")
  target_link_options(mcpd_build_settings INTERFACE "$<BUILD_INTERFACE:-fsanitize=thread>")
elseif(MCPD_SANITIZE)
  set(flags -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(mcpd_build_settings INTERFACE "$<BUILD_INTERFACE:${flags}>")
  target_link_options(mcpd_build_settings INTERFACE
    "$<BUILD_INTERFACE:-fsanitize=address,undefined>")
endif()

# Profile-guided optimization (scripts/build-pgo, the build the benchmarks measure). "generate"
# builds binaries that count, as they run, which branches and calls are taken; scripts/pgo-train
# runs them under the benchmarks' kinds of load; "use" compiles again with those counts, so that
# GCC lays the hot path out straight and inlines and devirtualizes along it. On the request path
# that is ~13% fewer instructions, and fewer instruction-cache misses and mispredicted branches.
# The two builds live in different directories: -fprofile-prefix-path names each one's root, so
# that a profile is found by the object's path inside its build tree. Code the training never
# ran is compiled as without a profile (-fprofile-partial-training), not for size.
set(MCPD_PGO "" CACHE STRING "Profile-guided optimization: empty, generate or use")
set_property(CACHE MCPD_PGO PROPERTY STRINGS "" generate use)
set(MCPD_PGO_DIR "${PROJECT_SOURCE_DIR}/build/pgo-profile" CACHE PATH
    "Where the profile is written (generate) and read (use)")
if(MCPD_PGO STREQUAL "generate")
  set(flags -fprofile-generate=${MCPD_PGO_DIR} -fprofile-prefix-path=${PROJECT_BINARY_DIR}
    # Counters stay exact when a process has threads (the SQLite and PostgreSQL workers).
    -fprofile-update=prefer-atomic)
  target_compile_options(mcpd_build_settings INTERFACE "$<BUILD_INTERFACE:${flags}>")
  target_link_options(mcpd_build_settings INTERFACE
    "$<BUILD_INTERFACE:-fprofile-generate=${MCPD_PGO_DIR}>")
elseif(MCPD_PGO STREQUAL "use")
  set(flags -fprofile-use=${MCPD_PGO_DIR} -fprofile-prefix-path=${PROJECT_BINARY_DIR}
    -fprofile-partial-training -Wno-missing-profile
    # GCC fails on a function whose source changed since the training; compile it without its
    # counts and say so (scripts/build-pgo retrains every time).
    -Wno-error=coverage-mismatch)
  target_compile_options(mcpd_build_settings INTERFACE "$<BUILD_INTERFACE:${flags}>")
elseif(NOT MCPD_PGO STREQUAL "")
  message(FATAL_ERROR "MCPD_PGO must be empty, generate or use (not \"${MCPD_PGO}\")")
endif()

# The fuzz build (tests/fuzz/run_fuzz.sh) turns this off: it compiles with clang, whose extra
# warnings should not stop the fuzzers; so does the pgo preset (below).
option(MCPD_WARNINGS_AS_ERRORS "Treat warnings in our code as errors" ON)
# The profile-guided build shows its warnings without failing on them: they depend on the
# profile's state, not only on the code (a source edited since the training no longer matches
# its counts, and the profile changes what GCC inlines, so its flow analysis can report an
# overflow in Boost.JSON's string code on a path that cannot run). The same code is built with
# warnings as errors in every other preset.
if(MCPD_PGO STREQUAL "use")
  set(MCPD_WARNINGS_AS_ERRORS OFF)
endif()

# mcpd_warnings(<target>): the warning set for code we write.
function(mcpd_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
    -Wcast-align -Wimplicit-fallthrough $<$<BOOL:${MCPD_WARNINGS_AS_ERRORS}>:-Werror>
    # GCC 12 flags designated initializers that leave members to their defaults, which is
    # how options structs are meant to be written: {.timeout = 50ms}.
    -Wno-missing-field-initializers)
  # GCC at -O2 pairs an Asio allocation's aligned_alloc (its recycling allocator, still used
  # for handlers) with the class operator delete that frees through that same allocator, and
  # reports a mismatch that is not there (GCC bug 109224; docs/rough_edges.md). What it flags
  # depends on inlining.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
endfunction()

# mcpd/version.hpp, from project(VERSION): a generated public header.
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.hpp.in ${PROJECT_BINARY_DIR}/include/mcpd/version.hpp
  @ONLY)

# mcpd_library(<name> SOURCES ... DEPS ... PRIVATE_DEPS ...): one layer's library (static, or
# shared with BUILD_SHARED_LIBS), installed as mcpd::<name without mcpd_> (cmake/install.cmake).
# DEPS are what its public headers need (lower layers, Boost); PRIVATE_DEPS what only its
# sources use (OpenSSL, SQLite, libpq, spdlog, fmt): a consumer links them, but never includes
# them. include/ (the public headers) is its public include directory; src/ is private to the
# libraries and to this repository's daemon, tests and benchmarks (through mcpd_internals, below);
# examples/ build as a user's program would.
function(mcpd_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} ${ARG_SOURCES})
  string(REGEX REPLACE "^mcpd_" "" export_name ${name})
  add_library(mcpd::${export_name} ALIAS ${name})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${export_name}
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  target_include_directories(${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
           $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC mcpd_build_settings ${ARG_DEPS}
                                PRIVATE ${ARG_PRIVATE_DEPS})
  mcpd_warnings(${name})
  set_property(GLOBAL APPEND PROPERTY MCPD_LIBRARIES ${name})
endfunction()

# What this repository's own programs and tests may use beyond the public surface: the private
# headers (src/) and the libraries behind them. Never installed.
add_library(mcpd_internals INTERFACE)
target_include_directories(mcpd_internals INTERFACE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(mcpd_internals INTERFACE spdlog::spdlog fmt::fmt OpenSSL::SSL OpenSSL::Crypto
  SQLite::SQLite3 PkgConfig::LIBPQ Threads::Threads)

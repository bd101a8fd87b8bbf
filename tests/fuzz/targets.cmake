# tests/fuzz/targets.cmake — the fuzz targets. Included by the top-level CMakeLists.txt only in
# the fuzz build that run_fuzz.sh configures (MCPD_FUZZ_ENGINE=libfuzzer with clang++, or driver
# with any compiler); the sanitizer flags come from that configuration's CMAKE_CXX_FLAGS, so the
# libraries under test are instrumented as well as the targets.
set(MCPD_FUZZ_DIR ${PROJECT_SOURCE_DIR}/tests/fuzz)

# mcpd_fuzz_target(<name> SOURCES ... DEPS ...): an executable with libFuzzer's main, or with
# fuzz_driver.cpp standing in for it.
function(mcpd_fuzz_target name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  if(MCPD_FUZZ_ENGINE STREQUAL "libfuzzer")
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${name} PRIVATE ${MCPD_FUZZ_DIR}/fuzz_driver.cpp)
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_libraries(${name} PRIVATE mcpd_internals)
  mcpd_warnings(${name})
endfunction()

mcpd_fuzz_target(resp_parser_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/resp_parser_fuzz.cpp
  DEPS mcpd_redis_proto)
mcpd_fuzz_target(jsonrpc_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/jsonrpc_fuzz.cpp
  DEPS mcpd_protocol)
# The SSE reader the MCP client parses servers' streams with (and the writer, for the round trip).
mcpd_fuzz_target(sse_parser_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/sse_parser_fuzz.cpp
  DEPS mcpd_http)
# The whole HTTP request path with the tools `mcpd serve --conformance` offers.
mcpd_fuzz_target(http_request_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/http_request_fuzz.cpp
    ${PROJECT_SOURCE_DIR}/apps/mcpd/conformance_fixtures.cpp
    ${PROJECT_SOURCE_DIR}/apps/mcpd/demo_tools.cpp
  DEPS mcpd_server)
# What the OAuth client reads from servers: challenges, token answers, RFC 9728 / RFC 8414
# metadata.
mcpd_fuzz_target(oauth_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/oauth_fuzz.cpp
  DEPS mcpd_client)
# A stored session record read back (both readers) and its sealed fields opened.
mcpd_fuzz_target(session_record_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/session_record_fuzz.cpp
  DEPS mcpd_store)
# The browser's RPC to the gateway, over a real manager on the memory store.
mcpd_fuzz_target(gateway_rpc_fuzz
  SOURCES ${MCPD_FUZZ_DIR}/gateway_rpc_fuzz.cpp
  DEPS mcpd_gateway)

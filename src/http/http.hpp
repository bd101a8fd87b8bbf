// http/ — HTTP/1.1 server and client on Beast, SSE writer and reader, Origin/Host policy
// (layer 2; includes core/ only). Both sides parse untrusted input: requests from the network
// (server.hpp) and responses and SSE streams from servers we connect to (client.hpp,
// sse_parser.hpp). Beast is compiled once, in beast_impl.cpp.
#pragma once

#include "http/client.hpp"
#include "http/policy.hpp"
#include "http/server.hpp"
#include "http/sse.hpp"
#include "http/sse_event.hpp"
#include "http/sse_parser.hpp"

// http/ — HTTP/1.1 server and client on Beast, SSE writer and reader, Origin/Host policy
// (layer 2; includes core/ only). It will parse untrusted input (requests from the network).
//
// Today it holds only beast_impl.cpp, the translation unit that compiles Beast once; the server,
// the client and SSE arrive with the MCP server (issue: MCP server, transports, `mcpd serve`).
#pragma once

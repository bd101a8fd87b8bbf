// mcpd/store.hpp — session storage shared with @mcp-ts/sdk (the store layer; it uses core/ and
// redis/).
//
// What it is for: the MCP client gateway's connection sessions (server URL, OAuth tokens, …)
// live here, so they survive restarts and are seen by every instance. Records are JSON objects
// (session.hpp) behind one interface (session_store.hpp) with interchangeable backends, chosen
// from the environment by select.hpp's choose_store() and opened by open_store():
//   memory    this process only, with TTLs (memory_store.hpp)
//   redis     @mcp-ts/sdk's Redis layout, atomic scripts
//   sqlite    @mcp-ts/sdk's SQLite table, WAL, off the I/O threads
//   file      @mcp-ts/sdk's JSON file, atomic writes, flock between processes
//   postgres  @mcp-ts/sdk's Supabase table, libpq's async API on the Asio loop
// and an encrypting wrapper around any of them that seals secrets at rest (secret_box.hpp).
// The backends' own headers are private (src/store/): open_store() hands out the interface.
// It parses untrusted input: records read back from a backend another program may have
// written (parse_record rejects what is not a JSON object).
//
// Extending: see session_store.hpp ("Adding a backend").
#pragma once

#include "mcpd/store/error.hpp"
#include "mcpd/store/memory_store.hpp"
#include "mcpd/store/secret_box.hpp"
#include "mcpd/store/select.hpp"
#include "mcpd/store/session.hpp"
#include "mcpd/store/session_record.hpp"
#include "mcpd/store/session_store.hpp"

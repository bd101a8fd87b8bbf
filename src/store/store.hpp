// store/ — session storage shared with @mcp-ts/sdk (layer 2; includes core/ and redis/).
//
// What it is for: the MCP client gateway's connection sessions (server URL, OAuth tokens, …)
// live here, so they survive restarts and are seen by every instance. Records are JSON objects
// (session.hpp) behind one interface (session_store.hpp) with interchangeable backends:
//   memory_store.hpp   this process only, with TTLs
//   redis_store.hpp    @mcp-ts/sdk's Redis layout, atomic scripts
//   sqlite_store.hpp   @mcp-ts/sdk's SQLite table, WAL, off the I/O threads
//   file_store.hpp     @mcp-ts/sdk's JSON file, atomic writes, flock between processes
//   postgres_store.hpp @mcp-ts/sdk's Supabase table, libpq's async API on the Asio loop
// and encrypting_store.hpp, which wraps any of them to seal secrets at rest (secret_box.hpp).
// It parses untrusted input: records read back from a backend another program may have
// written (parse_record rejects what is not a JSON object).
//
// Extending: see session_store.hpp ("Adding a backend").
#pragma once

#include "store/encrypting_store.hpp"
#include "store/error.hpp"
#include "store/file_store.hpp"
#include "store/memory_store.hpp"
#include "store/postgres_store.hpp"
#include "store/redis_store.hpp"
#include "store/select.hpp"
#include "store/session.hpp"
#include "store/session_store.hpp"
#include "store/sqlite_store.hpp"

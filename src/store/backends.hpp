// store/backends.hpp — every storage backend's own header, for the code that builds one
// directly (open_store(), tests, benchmarks); users open them through mcpd/store.hpp.
#pragma once

#include "mcpd/store.hpp"
#include "store/encrypting_store.hpp"
#include "store/file_store.hpp"
#include "store/instrumented_store.hpp"
#include "store/postgres_store.hpp"
#include "store/redis_store.hpp"
#include "store/sqlite_store.hpp"

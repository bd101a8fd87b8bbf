// tests/integration/store_backends.hpp — every session store backend, ready for a test: memory,
// redis against a real redis-server and against a real Redis Cluster, sqlite and file in a
// temporary directory, postgres against a real PostgreSQL, and each behind an encrypting_store
// with a key. The store suite
// (store_test.cpp) runs on all of them; suites that keep state in a store for later objects (the
// OAuth client's, oauth_test.cpp) run on the persistent ones.
#pragma once

#include "postgres_server.hpp"
#include "redis_cluster.hpp"
#include "redis_server.hpp"

#include "mcpd/store/session_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace mcpd::test {

// A temporary directory, removed with everything in it.
struct temp_dir {
    std::string path;
    temp_dir();
    ~temp_dir();
    temp_dir(temp_dir const&) = delete;
    temp_dir& operator=(temp_dir const&) = delete;
};

// A backend under test, and whatever server or directory it needs.
struct backend {
    std::unique_ptr<redis_server> server;
    std::unique_ptr<temp_dir> dir;
    std::unique_ptr<store::session_store> store;
    // Declared last, so stopped first: the test has closed the store by then.
    std::unique_ptr<postgres_server> postgres;
};

struct backend_kind {
    std::string name;
    std::function<boost::asio::awaitable<backend>(boost::asio::any_io_executor)> make;
    // gtest prints a parameter in test listings; the name says it all, the bytes say nothing.
    friend void PrintTo(backend_kind const& kind, std::ostream* os) { *os << kind.name; }
};

// The same backend behind an encrypting_store with a key: a suite's results must not change.
backend_kind encrypted(backend_kind plain);

// A 3-master, 3-replica Redis Cluster started on first use and shared by every test of the
// process that needs one (it takes seconds to make); tests leave it as they found it.
redis_cluster& shared_cluster();

// Every backend, plain then encrypted.
std::vector<backend_kind> const& backends();
// The same without memory (state that must outlive the objects using it).
std::vector<backend_kind> const& persistent_backends();

} // namespace mcpd::test

// tests/unit/store_postgres_client_test.cpp — the PostgreSQL client's pure parts: SQLSTATE error
// codes, and connection strings described for logs without their password.
#include "store/postgres_client.hpp"

#include <gtest/gtest.h>

using namespace mcpd::store;

TEST(store_postgres_client, sqlstates_are_error_codes_that_read_back) {
    for (char const* state : {"42501", "23505", "57P01", "XX000", "0A000", "ZZZZZ"}) {
        auto code = pg::sqlstate_error(state);
        EXPECT_TRUE(code) << state; // never the "no error" value
        EXPECT_EQ(pg::sqlstate_of(code), state);
        EXPECT_EQ(code.message(), std::string("PostgreSQL error ") + state);
    }
    EXPECT_TRUE(pg::sqlstate_error("00000")); // even success's SQLSTATE is a distinct code
    EXPECT_NE(pg::sqlstate_error("42501"), pg::sqlstate_error("42502"));
    EXPECT_EQ(pg::sqlstate_of(make_error_code(pg::client_errc::timeout)), "");
}

TEST(store_postgres_client, connection_strings_are_described_without_their_password) {
    EXPECT_EQ(pg::describe_conninfo("postgresql://app:s3cret@db.example.com:6543/main"),
              "postgresql://app@db.example.com:6543/main");
    EXPECT_EQ(pg::describe_conninfo("host=10.0.0.5 port=5432 dbname=x user=u password=s3cret"),
              "postgresql://u@10.0.0.5:5432/x");
    auto bad = pg::describe_conninfo("postgresql://[oops");
    EXPECT_EQ(bad.find("oops"), std::string::npos);
    EXPECT_NE(bad.find("invalid"), std::string::npos);
}

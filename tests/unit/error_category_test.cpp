// tests/unit/error_category_test.cpp — every error category of mcpd, declared the one way
// (core/error_category.hpp): a unique name, a message for each code it defines, and a readable
// message for a code it does not.
#include "core/error_category.hpp"
#include "mcpd/client/error.hpp"
#include "mcpd/gateway/error.hpp"
#include "mcpd/guard/error.hpp"
#include "mcpd/http/error.hpp"
#include "mcpd/protocol/error.hpp"
#include "mcpd/redis/error.hpp"
#include "mcpd/server/error.hpp"
#include "mcpd/store/error.hpp"
#include "store/postgres_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

using category_fn = boost::system::error_category const& (*)() noexcept;

// Every category and the highest code its enum defines (codes run from 1).
struct category_case {
    category_fn category;
    int last_code; // 0: the category is not an enum's (JSON-RPC, HTTP status, SQLite, SQLSTATE)
};

std::vector<category_case> const& every_category() {
    static std::vector<category_case> const all = {
        {&mcpd::protocol::rpc_category, 0},
        {&mcpd::redis::client_category, static_cast<int>(mcpd::redis::client_errc::no_master)},
        {&mcpd::redis::server_category, static_cast<int>(mcpd::redis::server_errc::other)},
        {&mcpd::http::client_category, static_cast<int>(mcpd::http::client_errc::address_refused)},
        {&mcpd::http::request_category, static_cast<int>(mcpd::http::request_errc::bad_chunk_size)},
        {&mcpd::http::status_category, 0},
        {&mcpd::store::store_category, static_cast<int>(mcpd::store::store_errc::decrypt_failed)},
        {&mcpd::store::sqlite_category, 0},
        {&mcpd::store::pg::client_category,
         static_cast<int>(mcpd::store::pg::client_errc::unexpected_result)},
        {&mcpd::store::pg::server_category, 0},
        {&mcpd::guard::guard_category, static_cast<int>(mcpd::guard::errc::invalid_spec)},
        {&mcpd::server::client_category,
         static_cast<int>(mcpd::server::client_errc::limit_reached)},
        {&mcpd::client::client_category,
         static_cast<int>(mcpd::client::errc::transport_unavailable)},
        {&mcpd::client::oauth::oauth_category,
         static_cast<int>(mcpd::client::oauth::errc::invalid_record)},
        {&mcpd::gateway::gateway_category, static_cast<int>(mcpd::gateway::errc::limit_reached)},
    };
    return all;
}

TEST(error_categories, every_name_is_unique_and_says_its_layer) {
    std::set<std::string> names;
    for (auto const& c : every_category()) {
        std::string name = c.category().name();
        EXPECT_TRUE(name.starts_with("mcpd.")) << name;
        EXPECT_TRUE(names.insert(name).second) << name << " is declared twice";
    }
    // Nothing else in the process declared a category with one of these names either.
    auto declared = mcpd::declared_category_names();
    std::sort(declared.begin(), declared.end());
    EXPECT_EQ(std::adjacent_find(declared.begin(), declared.end()), declared.end());
    for (auto const& name : names)
        EXPECT_TRUE(std::binary_search(declared.begin(), declared.end(), name)) << name;
}

TEST(error_categories, every_code_an_enum_defines_has_its_own_message) {
    for (auto const& c : every_category()) {
        auto const& cat = c.category();
        for (int code = 1; code <= c.last_code; ++code) {
            auto text = cat.message(code);
            EXPECT_FALSE(text.empty()) << cat.name() << " " << code;
            EXPECT_NE(text,
                      "unknown " + std::string(cat.name()) + " error " + std::to_string(code));
        }
    }
}

TEST(error_categories, a_code_outside_the_enum_still_reads_as_its_category_and_number) {
    for (auto const& c : every_category()) {
        if (c.last_code == 0)
            continue;
        auto const& cat = c.category();
        EXPECT_EQ(cat.message(c.last_code + 1), "unknown " + std::string(cat.name()) + " error " +
                                                    std::to_string(c.last_code + 1));
    }
}

TEST(error_categories, the_same_category_object_answers_every_call) {
    for (auto const& c : every_category())
        EXPECT_EQ(&c.category(), &c.category());
    EXPECT_EQ(boost::system::error_code(mcpd::store::store_errc::conflict).category(),
              mcpd::store::store_category());
}

} // namespace

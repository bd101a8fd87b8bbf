// tests/interop/interop_test.cpp — mcpd's session stores against the real @mcp-ts/sdk from npm,
// on one shared backend: Redis (a redis-server started here), a Redis Cluster (3 masters + 3
// replicas, one for the whole process), SQLite and the JSON file (in a temp dir).
//
// The Node side is tests/interop/mcp_ts_store.cjs, run with `node` as a subprocess against the
// sdk that scripts/node-tools installed (tests/interop/check.sh, a CTest fixture); the mcpd side is
// opened in-process with open_store() from the same environment variables, as mcpd itself opens it.
// Records written by either side are read by the other field for field; updates, removes and
// duplicate creates cross over; with STORAGE_ENCRYPTION_KEY, what each side can read of the
// other's records is pinned down (the sdk encrypts only in its Supabase backend: see
// docs/mcp-ts-compat.md, "Secrets at rest with mcpd").
//
// On the cluster, mcpd opens it from REDIS_CLUSTER_NODES and the sdk's Redis backend runs on an
// ioredis Cluster (MCP_TS_REDIS_CLUSTER_NODES, see mcp_ts_store.cjs). Every operation of the sdk
// that touches one key at a time works there and crosses over as on one Redis; its two scans do
// not: getAllSessionIds, clearAll and cleanupExpiredSessions SCAN a single master (ioredis sends
// a command without a key to a random master), and clearAll's DEL of what it found fails with
// CROSSSLOT, which the sdk logs and swallows. mcp_ts_on_a_cluster pins that down.
#include "async_test.hpp"
#include "redis_cluster.hpp"
#include "redis_server.hpp"

#include "store/backends.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sys/wait.h>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using store::store_errc;

namespace {

std::string const node_modules = MCPD_INTEROP_NODE_MODULES;
std::string const node_script = MCPD_INTEROP_SCRIPT;

constexpr char const* key_a = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char const* key_b = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// ':' in identities is what the Redis key layout must survive; '/' and '@' are escaped by the
// sdk's Redis update script (cjson), non-ASCII text passes through it.
std::string const identity = "org:team/alice@example.com";

using env_map = std::map<std::string, std::string>;

std::string shell_quote(std::string const& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string read_text(std::string const& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A session as an app on @mcp-ts/sdk stores one after OAuth, plus a field neither side knows.
json::object session(std::string const& id) {
    auto o = json::parse(R"({
        "serverId": "srv-1", "serverName": "Example MCP",
        "serverUrl": "https://mcp.example.com/mcp", "transportType": "streamable_http",
        "callbackUrl": "https://app.example.com/oauth/callback", "createdAt": 1732000000123,
        "headers": {"X-Org": "acme", "Authorization": "Bearer header-secret"},
        "clientInformation": {"client_id": "cid-1", "client_secret": "client-secret",
                              "redirect_uris": ["https://app.example.com/oauth/callback"],
                              "client_id_issued_at": 1732000000},
        "tokens": {"access_token": "access-secret", "token_type": "Bearer", "expires_in": 3600,
                   "refresh_token": "refresh-secret", "scope": "read write"},
        "codeVerifier": "verifier-123", "clientId": "cid-1", "active": true,
        "futureField": {"nested": {"ratio": 1.5, "flag": false, "text": "h\u00e9llo \u2713"}}})")
                 .as_object();
    o["identity"] = identity;
    o["sessionId"] = id;
    return o;
}

json::object obj(char const* text) {
    return json::parse(text).as_object();
}

// One operation for mcp_ts_store.cjs: {"op": name, …fields}.
json::object op(char const* name, json::object fields) {
    fields["op"] = name;
    return fields;
}

// Records sorted by sessionId, for comparing listings.
std::vector<json::object> sorted(std::vector<json::object> v) {
    std::sort(v.begin(), v.end(), [](auto const& a, auto const& b) {
        return store::record_session_id(a) < store::record_session_id(b);
    });
    return v;
}

std::vector<json::object> objects(json::value const& v) {
    std::vector<json::object> out;
    for (auto const& e : v.as_array())
        out.push_back(e.as_object());
    return out;
}

std::vector<std::string> strings(json::value const& v) {
    std::vector<std::string> out;
    for (auto const& e : v.as_array())
        out.emplace_back(e.as_string());
    std::sort(out.begin(), out.end());
    return out;
}

struct backend_param {
    std::string name;  // redis | redis_cluster | sqlite | file
    std::string store; // MCP_TS_STORAGE_TYPE for both sides, and mcpd's backend_name()
};

void PrintTo(backend_param const& p, std::ostream* os) {
    *os << p.name;
}

// One Redis Cluster for every test of the process (it takes seconds to make), emptied before
// each test.
redis_cluster& shared_cluster() {
    static redis_cluster cluster;
    return cluster;
}

// The layout both sides share (store/redis_store.hpp), spelled out here as the contract.
std::string session_key(std::string const& identity_name, std::string const& id) {
    return "mcp:session:" + identity_name + ":" + id;
}

std::string identity_key(std::string const& identity_name) {
    return "mcp:identity:" + identity_name + ":sessions";
}

// The master of the shared cluster that holds `key` (its slot from CLUSTER KEYSLOT).
std::size_t master_of_key(std::string const& key) {
    auto& cluster = shared_cluster();
    auto slot = std::stoi(cluster.cli(0, {"CLUSTER", "KEYSLOT", key}));
    return cluster.master_of_slot(static_cast<std::uint16_t>(slot));
}

// `names` grouped by the master holding key_of(name): one sorted group per master of the shared
// cluster, empty ones included.
template <class KeyOf>
std::vector<std::vector<std::string>> by_master(std::vector<std::string> const& names,
                                                KeyOf key_of) {
    std::map<std::size_t, std::vector<std::string>> groups;
    for (std::size_t m : shared_cluster().masters())
        groups[m];
    for (auto const& n : names)
        groups[master_of_key(key_of(n))].push_back(n);
    std::vector<std::vector<std::string>> out;
    for (auto& [master, group] : groups) {
        std::sort(group.begin(), group.end());
        out.push_back(std::move(group));
    }
    return out;
}

// The session ids of `identity`, grouped by the master holding their records.
std::vector<std::vector<std::string>> ids_by_master(std::vector<std::string> const& ids) {
    return by_master(ids, [](std::string const& id) { return session_key(identity, id); });
}

bool is_one_of(std::vector<std::string> const& got,
               std::vector<std::vector<std::string>> const& groups) {
    return std::find(groups.begin(), groups.end(), got) != groups.end();
}

std::string text(std::vector<std::vector<std::string>> const& groups) {
    std::string out;
    for (auto const& g : groups) {
        out += "[";
        for (auto const& n : g)
            out += (out.back() == '[' ? "" : " ") + n;
        out += "] ";
    }
    return out;
}

class mcp_ts_interop : public ::testing::TestWithParam<backend_param> {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/mcpd-interop-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        auto const& name = GetParam().name;
        env_["MCP_TS_STORAGE_TYPE"] = GetParam().store;
        env_["MCP_TS_STORAGE_REQUIRED"] = "1"; // mcpd: never fall back to memory
        if (name == "redis") {
            server_ = std::make_unique<redis_server>();
            env_["REDIS_URL"] = server_->url();
        } else if (name == "redis_cluster") {
            auto& cluster = shared_cluster();
            for (std::size_t m : cluster.masters())
                ASSERT_EQ(cluster.cli(m, {"FLUSHALL"}), "OK\n") << "master " << m;
            env_["REDIS_CLUSTER_NODES"] = cluster.seed_list();        // mcpd
            env_["MCP_TS_REDIS_CLUSTER_NODES"] = cluster.seed_list(); // mcp_ts_store.cjs
        } else if (name == "sqlite") {
            env_["MCP_TS_STORAGE_SQLITE_PATH"] = dir_ + "/sessions.db";
        } else {
            env_["MCP_TS_STORAGE_FILE"] = dir_ + "/sessions.json";
        }
    }
    void TearDown() override {
        server_.reset();
        std::filesystem::remove_all(dir_);
    }

    [[nodiscard]] bool is_file() const { return GetParam().name == "file"; }
    [[nodiscard]] bool is_cluster() const { return GetParam().name == "redis_cluster"; }

    // The environment of both sides, plus `extra` (e.g. a key).
    [[nodiscard]] env_map env(env_map const& extra = {}) const {
        auto e = env_;
        for (auto const& [k, v] : extra)
            e[k] = v;
        return e;
    }

    // Runs `ops` through @mcp-ts/sdk's storage in a node process; the results, one per op.
    // A failed run (node missing, the sdk not opening its backend) fails the test.
    std::vector<json::object> node(json::array const& ops, env_map const& extra = {}) {
        std::string ops_file = dir_ + "/ops.json";
        std::ofstream(ops_file) << json::serialize(ops);
        std::string log_file = dir_ + "/node.log";
        // Nothing from the test's own environment decides which backend or key Node uses.
        std::string cmd = "env -u REDIS_URL -u STORAGE_ENCRYPTION_KEY -u MCP_TS_STORAGE_FILE "
                          "-u MCP_TS_STORAGE_SQLITE_PATH -u MCP_TS_STORAGE_TYPE "
                          "-u REDIS_CLUSTER_NODES -u MCP_TS_REDIS_CLUSTER_NODES "
                          "NODE_PATH=" +
                          shell_quote(node_modules);
        for (auto const& [k, v] : env(extra))
            cmd += " " + k + "=" + shell_quote(v);
        cmd += " node " + shell_quote(node_script) + " " + shell_quote(ops_file) + " 2>" +
               shell_quote(log_file);
        FILE* p = ::popen(cmd.c_str(), "r");
        std::string out;
        if (p) {
            std::array<char, 4096> buf{};
            std::size_t n = 0;
            while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
                out.append(buf.data(), n);
        }
        int status = p ? ::pclose(p) : -1;
        std::vector<json::object> results;
        boost::system::error_code ec;
        auto parsed = json::parse(out, ec);
        if (status != 0 || ec || !parsed.is_array() || parsed.as_array().size() != ops.size()) {
            ADD_FAILURE() << "node " << node_script << " failed (status " << status
                          << "); stdout:\n"
                          << out << "\nstderr:\n"
                          << read_text(log_file);
            results.resize(ops.size());
            return results;
        }
        for (auto const& r : parsed.as_array())
            results.push_back(r.as_object());
        return results;
    }

    // What the last node() run logged on stderr (the sdk logs the errors it swallows).
    [[nodiscard]] std::string node_log() const { return read_text(dir_ + "/node.log"); }

    // The value of a result, failing the test if the sdk threw.
    static json::value value(json::object const& r) {
        auto const* ok = r.if_contains("ok");
        if (!ok || !ok->is_bool() || !ok->get_bool()) {
            ADD_FAILURE() << "@mcp-ts/sdk failed: " << json::serialize(r);
            return nullptr;
        }
        return r.at("value");
    }

    // mcpd's store from the same environment, as `mcpd` opens it.
    asio::awaitable<std::unique_ptr<store::session_store>> mcpd(env_map const& extra = {}) {
        auto vars = std::make_shared<env_map>(env(extra));
        store::getenv_fn getenv = [vars](char const* name) -> char const* {
            auto it = vars->find(name);
            return it == vars->end() ? nullptr : it->second.c_str();
        };
        auto choice = store::choose_store(getenv, store::store_type::memory);
        if (!choice)
            throw mcpd::exception(choice.error());
        auto opened =
            co_await store::open_store(co_await asio::this_coro::executor, *choice, {}, getenv);
        if (!opened)
            throw mcpd::exception(opened.error());
        EXPECT_EQ(opened->store->backend_name(), GetParam().store);
        co_return std::move(opened->store);
    }

    // A record as the sdk returns it from mcpd's file: the file keeps mcpd's expiry in a field
    // of its own, which the sdk (reading the array as it is) hands out with the record.
    json::object as_node_sees_mcpd(json::object r) const {
        if (is_file()) {
            EXPECT_TRUE(r.contains(store::file_store::expiry_field)) << json::serialize(r);
            r.erase(store::file_store::expiry_field);
        }
        return r;
    }

    std::string dir_;
    env_map env_;
    std::unique_ptr<redis_server> server_;
};

} // namespace

TEST_P(mcp_ts_interop, records_the_sdk_writes_are_read_by_mcpd_field_for_field) {
    auto a = session("NodeWroteA01");
    auto b = session("NodeWroteB02");
    auto b_patch = obj(R"({"active": false, "codeVerifier": "verifier-2",
                           "tokens": {"access_token": "access-2", "token_type": "Bearer"}})");
    json::array ops{
        op("create", {{"session", a}, {"ttl", 600}}),
        op("create", {{"session", b}}),
        op("update", {{"identity", identity}, {"sessionId", "NodeWroteB02"}, {"data", b_patch}}),
        op("get", {{"identity", identity}, {"sessionId", "NodeWroteA01"}}),
        op("get", {{"identity", identity}, {"sessionId", "NodeWroteB02"}}),
        op("list", {{"identity", identity}})};
    auto r = node(ops);
    for (std::size_t i = 0; i < 3; ++i)
        value(r[i]);
    auto node_a = value(r[3]);
    auto node_b = value(r[4]);
    auto b_merged = b;
    for (auto const& [k, v] : b_patch)
        b_merged[k] = v;
    // What the sdk itself reads back is what it was given (its own round trip) …
    EXPECT_EQ(node_a, a);
    EXPECT_EQ(node_b, b_merged);

    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        // … and mcpd reads exactly that.
        auto got_a = co_await s->get_session(identity, "NodeWroteA01");
        CO_ASSERT(got_a && got_a->has_value());
        EXPECT_EQ(json::value(**got_a), node_a);
        auto got_b = co_await s->get_session(identity, "NodeWroteB02");
        CO_ASSERT(got_b && got_b->has_value());
        EXPECT_EQ(json::value(**got_b), node_b);
        auto listed = co_await s->get_identity_sessions_data(identity);
        CO_ASSERT(listed.has_value());
        std::vector<json::object> listed_objects;
        for (auto const& rec : *listed)
            listed_objects.push_back(rec.object());
        EXPECT_EQ(sorted(listed_objects), sorted(objects(value(r[5]))));
        auto ids = co_await s->get_identity_session_ids(identity);
        CO_ASSERT(ids.has_value());
        std::sort(ids->begin(), ids->end());
        EXPECT_EQ(*ids, (std::vector<std::string>{"NodeWroteA01", "NodeWroteB02"}));
        auto all = co_await s->get_all_session_ids();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(*all, (std::vector<std::string>{identity + ":NodeWroteA01",
                                                  identity + ":NodeWroteB02"}));
        co_await s->close();
    });
}

TEST_P(mcp_ts_interop, records_mcpd_writes_are_read_by_the_sdk_field_for_field) {
    auto a = session("McpdWroteA01");
    auto b = session("McpdWroteB02");
    auto b_patch = obj(R"({"active": false, "headers": null,
                           "tokens": {"access_token": "access-2", "token_type": "Bearer"}})");
    auto b_merged = b;
    b_merged["active"] = false;
    b_merged.erase("headers"); // null removes the field (the sdk cannot clear fields: mcpd can)
    b_merged["tokens"] = b_patch.at("tokens");
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        CO_ASSERT(co_await s->create_session(a, duration(600'000)));
        CO_ASSERT(co_await s->create_session(b, {}));
        CO_ASSERT(co_await s->update_session(identity, "McpdWroteB02", b_patch, {}));
        co_await s->close();
    });
    json::array ops{op("get", {{"identity", identity}, {"sessionId", "McpdWroteA01"}}),
                    op("get", {{"identity", identity}, {"sessionId", "McpdWroteB02"}}),
                    op("list", {{"identity", identity}}), op("ids", {{"identity", identity}}),
                    op("all", {})};
    auto r = node(ops);
    EXPECT_EQ(as_node_sees_mcpd(value(r[0]).as_object()), a);
    EXPECT_EQ(as_node_sees_mcpd(value(r[1]).as_object()), b_merged);
    std::vector<json::object> listed;
    for (auto& rec : objects(value(r[2])))
        listed.push_back(as_node_sees_mcpd(rec));
    EXPECT_EQ(sorted(listed), sorted({a, b_merged}));
    std::vector<std::string> ids{"McpdWroteA01", "McpdWroteB02"};
    EXPECT_EQ(strings(value(r[3])), ids);
    if (!is_cluster()) {
        EXPECT_EQ(strings(value(r[4])), ids); // the sdk lists bare ids
    } else {
        // The sdk's getAllSessionIds SCANs one master of a cluster: it names the ids whose
        // records are there, not every id (mcp_ts_on_a_cluster pins that down).
        auto groups = ids_by_master(ids);
        EXPECT_TRUE(is_one_of(strings(value(r[4])), groups))
            << json::serialize(r[4]) << " is not what one master holds: " << text(groups);
    }
}

TEST_P(mcp_ts_interop, updates_removes_and_duplicate_creates_cross_over) {
    auto x = session("CrossOverX01");
    auto y = session("CrossOverY02");
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        CO_ASSERT(co_await s->create_session(x, {}));
        co_await s->close();
    });
    // The sdk updates mcpd's record, refuses to create over it, and creates its own.
    auto node_patch = obj(R"({"serverName": "Renamed by Node", "tokens": {"access_token": "n"}})");
    auto r =
        node({op("update",
                 {{"identity", identity}, {"sessionId", "CrossOverX01"}, {"data", node_patch}}),
              op("create", {{"session", x}}), op("create", {{"session", y}})});
    value(r[0]);
    EXPECT_FALSE(r[1].at("ok").as_bool()) << json::serialize(r[1]);
    EXPECT_NE(json::serialize(r[1]).find("already exists"), std::string::npos);
    value(r[2]);
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        auto got = **co_await s->get_session(identity, "CrossOverX01");
        EXPECT_EQ(got.at("serverName"), "Renamed by Node");
        EXPECT_EQ(got.at("tokens"), node_patch.at("tokens"));
        EXPECT_EQ(got.at("futureField"), x.at("futureField"));
        // mcpd refuses to create over the sdk's record, updates it, and removes it.
        auto dup = co_await s->create_session(y, {});
        CO_ASSERT(!dup);
        EXPECT_EQ(dup.error().code, store_errc::session_exists);
        auto mcpd_patch = obj(R"({"serverName": "Renamed by mcpd"})");
        CO_ASSERT(co_await s->update_session(identity, "CrossOverX01", mcpd_patch, {}));
        CO_ASSERT(co_await s->remove_session(identity, "CrossOverY02"));
        co_await s->close();
    });
    r = node({op("get", {{"identity", identity}, {"sessionId", "CrossOverX01"}}),
              op("get", {{"identity", identity}, {"sessionId", "CrossOverY02"}}),
              op("remove", {{"identity", identity}, {"sessionId", "CrossOverX01"}}),
              op("ids", {{"identity", identity}})});
    EXPECT_EQ(value(r[0]).at("serverName"), "Renamed by mcpd");
    EXPECT_TRUE(value(r[1]).is_null()) << json::serialize(r[1]);
    value(r[2]);
    EXPECT_TRUE(value(r[3]).as_array().empty()) << json::serialize(r[3]);
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        EXPECT_FALSE((co_await s->get_session(identity, "CrossOverX01"))->has_value());
        EXPECT_TRUE((co_await s->get_identity_sessions_data(identity))->empty());
        co_await s->close();
    });
}

TEST_P(mcp_ts_interop, with_a_key_mcpd_seals_and_the_sdk_sees_enc1_strings_its_crypto_opens) {
    env_map keyed{{"STORAGE_ENCRYPTION_KEY", key_a}};
    auto rec = session("SealedByMcpd");
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd(keyed);
        CO_ASSERT(co_await s->create_session(rec, {}));
        co_await s->close();
    });
    auto r = node({op("get", {{"identity", identity}, {"sessionId", "SealedByMcpd"}})}, keyed);
    auto seen = as_node_sees_mcpd(value(r[0]).as_object());
    // The sdk decrypts only in its Supabase backend: on this one its app gets the sealed strings.
    json::array open_ops;
    for (char const* field : {"headers", "tokens", "clientInformation"}) {
        EXPECT_TRUE(seen.at(field).is_string() &&
                    std::string_view(seen.at(field).as_string()).starts_with("enc:1:"))
            << field << ": " << json::serialize(seen.at(field));
        open_ops.push_back(op("open", {{"value", seen.at(field)}}));
        seen.erase(field);
    }
    auto plain_rest = rec;
    for (char const* field : {"headers", "tokens", "clientInformation"})
        plain_rest.erase(field);
    EXPECT_EQ(seen, plain_rest); // every other field as written
    // The sdk's own decryptObject (its Supabase path) opens what mcpd sealed.
    auto opened = node(open_ops, keyed);
    EXPECT_EQ(value(opened[0]), rec.at("headers"));
    EXPECT_EQ(value(opened[1]), rec.at("tokens"));
    EXPECT_EQ(value(opened[2]), rec.at("clientInformation"));
}

TEST_P(mcp_ts_interop, with_a_key_the_sdks_records_and_sealed_values_read_in_mcpd) {
    env_map keyed{{"STORAGE_ENCRYPTION_KEY", key_a}};
    // The sdk stores plain text on this backend even with a key set; its encryptObject seals
    // values the way its Supabase backend stores them.
    auto plain = session("NodePlain001");
    auto sealed_by_node = session("NodeSealed02");
    auto seals = node({op("seal", {{"value", sealed_by_node.at("tokens")}}),
                       op("seal", {{"value", sealed_by_node.at("headers")}})},
                      keyed);
    auto sealed_tokens = value(seals[0]);
    auto sealed_headers = value(seals[1]);
    ASSERT_TRUE(sealed_tokens.is_string() &&
                std::string_view(sealed_tokens.as_string()).starts_with("enc:1:"))
        << json::serialize(sealed_tokens);
    auto stored = sealed_by_node;
    stored["tokens"] = sealed_tokens;
    stored["headers"] = sealed_headers;
    auto r = node({op("create", {{"session", plain}}), op("create", {{"session", stored}}),
                   op("get", {{"identity", identity}, {"sessionId", "NodePlain001"}})},
                  keyed);
    value(r[0]);
    value(r[1]);
    EXPECT_EQ(value(r[2]), plain) << "the sdk encrypted on a backend where it is not known to";
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd(keyed);
        EXPECT_EQ(**co_await s->get_session(identity, "NodePlain001"), plain);
        EXPECT_EQ(**co_await s->get_session(identity, "NodeSealed02"), sealed_by_node);
        co_await s->close();
        // Another key: a clear error, never the ciphertext (the sdk would log and hand it out).
        env_map other_key{{"STORAGE_ENCRYPTION_KEY", key_b}}; // named: docs/rough_edges.md
        auto other = co_await mcpd(other_key);
        auto wrong = co_await other->get_session(identity, "NodeSealed02");
        CO_ASSERT(!wrong);
        EXPECT_EQ(wrong.error().code, store_errc::decrypt_failed);
        co_await other->close();
    });
}

INSTANTIATE_TEST_SUITE_P(backends, mcp_ts_interop,
                         ::testing::Values(backend_param{"redis", "redis"},
                                           backend_param{"redis_cluster", "redis"},
                                           backend_param{"sqlite", "sqlite"},
                                           backend_param{"file", "file"}),
                         [](auto const& param_info) { return param_info.param.name; });

// What @mcp-ts/sdk's Redis backend cannot do on a Redis Cluster, where mcpd's store can: each
// of its scans (SCAN … MATCH, COUNT 100) reaches one master, picked at random for each call by
// ioredis (a command without a key), so it sees only the keys there. These tests pin that down,
// so that an sdk that learns to scan every master (or stops swallowing the error) is noticed.
class mcp_ts_on_a_cluster : public mcp_ts_interop {};

// Records spread over the masters: `count` sessions of `identity` written by mcpd; their ids.
std::vector<std::string> spread_ids(int count) {
    std::vector<std::string> ids;
    for (int n = 0; n < count; ++n) {
        auto id = std::to_string(n);
        ids.push_back("Spread" + std::string(6 - id.size(), '0') + id);
    }
    return ids;
}

TEST_P(mcp_ts_on_a_cluster, the_sdks_get_all_session_ids_lists_one_masters_records) {
    auto ids = spread_ids(12);
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        for (auto const& id : ids)
            CO_ASSERT(co_await s->create_session(session(id), {}));
        co_await s->close();
    });
    auto groups = ids_by_master(ids);
    ASSERT_GE(std::count_if(groups.begin(), groups.end(), [](auto const& g) { return !g.empty(); }),
              2)
        << "the records should be on more than one master: " << text(groups);
    json::array ops;
    for (int n = 0; n < 6; ++n)
        ops.push_back(op("all", {}));
    ops.push_back(op("ids", {{"identity", identity}}));
    auto r = node(ops);
    for (std::size_t n = 0; n + 1 < r.size(); ++n) {
        auto got = strings(value(r[n]));
        EXPECT_NE(got, ids) << "the sdk listed every id: it scans every master now";
        EXPECT_TRUE(is_one_of(got, groups))
            << json::serialize(r[n]) << " is not what one master holds: " << text(groups);
    }
    EXPECT_EQ(strings(value(r.back())), ids); // an identity's listing reads its set: all there
}

TEST_P(mcp_ts_on_a_cluster, the_sdks_clear_all_fails_with_crossslot_and_says_it_succeeded) {
    auto ids = spread_ids(24);
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        for (auto const& id : ids)
            CO_ASSERT(co_await s->create_session(session(id), {}));
        co_await s->close();
    });
    // Whichever master its scan reaches, the sdk finds keys of two slots or more there, and its
    // one DEL of them all is refused.
    auto groups = ids_by_master(ids);
    for (auto const& g : groups)
        ASSERT_GE(g.size(), 2U) << "every master should hold two records: " << text(groups);
    auto r = node({op("clear", {})});
    value(r[0]); // the sdk logs the error and returns as if it had cleared
    EXPECT_NE(node_log().find("CROSSSLOT"), std::string::npos) << node_log();
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        auto left = co_await s->get_identity_session_ids(identity);
        CO_ASSERT(left.has_value());
        std::sort(left->begin(), left->end());
        EXPECT_EQ(*left, ids);
        auto all = co_await s->get_all_session_ids();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), ids.size());
        // mcpd's clear_all reaches every master.
        CO_ASSERT(co_await s->clear_all());
        EXPECT_TRUE((co_await s->get_all_session_ids())->empty());
        co_await s->close();
    });
}

TEST_P(mcp_ts_on_a_cluster, the_sdks_cleanup_prunes_the_identity_sets_of_one_master) {
    // Identities whose sets hold only the id of a record that is gone, on every master.
    std::vector<std::string> identities;
    identities.reserve(12);
    for (int n = 0; n < 12; ++n)
        identities.push_back("cleanup-" + std::to_string(n));
    std::sort(identities.begin(), identities.end());
    auto& cluster = shared_cluster();
    for (auto const& who : identities)
        ASSERT_EQ(
            cluster.cli(master_of_key(identity_key(who)), {"SADD", identity_key(who), "Gone"}),
            "1\n");
    auto groups = by_master(identities, identity_key);
    for (auto const& g : groups)
        ASSERT_FALSE(g.empty()) << "every master should hold a set: " << text(groups);
    // Which sets still exist.
    auto sets_left = [&] {
        std::vector<std::string> left;
        for (auto const& who : identities)
            if (cluster.cli(master_of_key(identity_key(who)), {"EXISTS", identity_key(who)}) ==
                "1\n")
                left.push_back(who);
        std::sort(left.begin(), left.end());
        return left;
    };
    auto r = node({op("cleanup", {})});
    value(r[0]);
    auto left = sets_left();
    std::vector<std::string> pruned;
    std::set_difference(identities.begin(), identities.end(), left.begin(), left.end(),
                        std::back_inserter(pruned));
    EXPECT_TRUE(is_one_of(pruned, groups)) << "the sdk pruned the sets of " << text({pruned})
                                           << "not those of one master: " << text(groups);
    EXPECT_FALSE(left.empty()) << "the sdk pruned every set: it scans every master now";
    // mcpd's cleanup reaches every master.
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await mcpd();
        CO_ASSERT(co_await s->cleanup_expired_sessions());
        co_await s->close();
    });
    EXPECT_TRUE(sets_left().empty());
}

INSTANTIATE_TEST_SUITE_P(backends, mcp_ts_on_a_cluster,
                         ::testing::Values(backend_param{"redis_cluster", "redis"}),
                         [](auto const& param_info) { return param_info.param.name; });

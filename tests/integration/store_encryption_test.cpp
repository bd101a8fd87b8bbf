// tests/integration/store_encryption_test.cpp — secrets at rest through encrypting_store: what
// each real backend holds (enc:1 strings, never the secrets), updates that seal and nulls that
// remove, plain records still readable, the reference's own sealed value opened, and the clear
// errors for another key, no key and a malformed key. (The behavioural suite in store_test.cpp
// also runs on every backend with encryption on.)
#include "async_test.hpp"
#include "redis_test_util.hpp"

#include "store/backends.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sqlite3.h>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using store::store_errc;

namespace {

constexpr char const* key_a = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char const* key_b = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

store::secret_box box_of(char const* key) {
    return store::secret_box::from_key_text(key).value();
}

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/mcpd-enc-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

// Secrets that must never appear in what a backend holds.
json::object secret_record(std::string const& identity, std::string const& id) {
    auto o = json::parse(R"({
        "serverUrl": "https://mcp.example.com/mcp", "transportType": "sse",
        "callbackUrl": "https://app.example.com/cb", "createdAt": 1732000000123,
        "headers": {"Authorization": "Bearer header-secret-1"},
        "tokens": {"access_token": "token-secret-2", "token_type": "Bearer"},
        "clientInformation": {"client_id": "cid", "client_secret": "client-secret-3"},
        "codeVerifier": "verifier", "active": true})")
                 .as_object();
    o["identity"] = identity;
    o["sessionId"] = id;
    return o;
}

// What a backend holds, as text: enc:1 strings for the three secret fields, the rest plain.
void expect_sealed_at_rest(std::string const& raw) {
    for (char const* secret : {"header-secret-1", "token-secret-2", "client-secret-3"})
        EXPECT_EQ(raw.find(secret), std::string::npos) << secret << " in plain text: " << raw;
    auto stored = json::parse(raw);
    json::object const* rec = stored.is_object() ? &stored.as_object() : nullptr;
    if (stored.is_array()) // the file backend: an array of records
        rec = &stored.as_array().at(0).as_object();
    ASSERT_NE(rec, nullptr) << raw;
    for (char const* field : {"headers", "tokens", "clientInformation"}) {
        ASSERT_TRUE(rec->at(field).is_string()) << field << ": " << raw;
        EXPECT_TRUE(std::string_view(rec->at(field).as_string()).starts_with("enc:1:")) << raw;
    }
    EXPECT_EQ(rec->at("serverUrl"), "https://mcp.example.com/mcp");
    EXPECT_EQ(rec->at("codeVerifier"), "verifier"); // not a secret field (as in the reference)
}

std::string sqlite_data(std::string const& path, std::string const& session_id) {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, "SELECT data FROM mcp_sessions WHERE sessionId = ?", -1, &st,
                           nullptr);
        sqlite3_bind_text(st, 1, session_id.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            out = reinterpret_cast<char const*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

std::string file_text(std::string const& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Creates a record with secrets through `s` (encrypting with key_a), updates its tokens, and
// checks what the backend holds after each step with `raw()`.
asio::awaitable<void> seal_create_and_update(store::session_store& s,
                                             std::function<asio::awaitable<std::string>()> raw) {
    auto rec = secret_record("alice", "SealedSess01");
    CO_ASSERT(co_await s.create_session(rec, {}));
    auto text = co_await raw();
    expect_sealed_at_rest(text);
    auto got = co_await s.get_session("alice", "SealedSess01");
    CO_ASSERT(got && got->has_value());
    EXPECT_EQ(**got, rec);

    // A partial with secrets is sealed before the backend merges it; null removes the field.
    auto patch = json::parse(R"({"tokens":{"access_token":"token-secret-2","token_type":"DPoP"},
                                  "headers":null,"active":false})")
                     .as_object();
    CO_ASSERT(co_await s.update_session("alice", "SealedSess01", patch, {}));
    text = co_await raw();
    EXPECT_EQ(text.find("token-secret-2"), std::string::npos) << text;
    EXPECT_EQ(text.find("\"headers\""), std::string::npos) << text;
    auto after = **co_await s.get_session("alice", "SealedSess01");
    EXPECT_EQ(after.at("tokens").at("token_type"), "DPoP");
    EXPECT_FALSE(after.contains("headers"));
    EXPECT_EQ(after.at("clientInformation"), rec.at("clientInformation"));
    EXPECT_EQ(after.at("active"), false);
    auto listed = co_await s.get_identity_sessions_data("alice");
    CO_ASSERT(listed && listed->size() == 1u);
    EXPECT_EQ(listed->front().object(), after);
}

std::unique_ptr<store::session_store> sealed(std::unique_ptr<store::session_store> backend,
                                             char const* key = key_a) {
    return std::make_unique<store::encrypting_store>(std::move(backend), box_of(key));
}

} // namespace

TEST(store_encryption, memory_holds_sealed_secrets) {
    run_async([&]() -> asio::awaitable<void> {
        store::encrypting_store s(std::make_unique<store::memory_store>(), box_of(key_a));
        co_await seal_create_and_update(s, [&]() -> asio::awaitable<std::string> {
            auto raw = co_await s.inner().get_session("alice", "SealedSess01");
            co_return raw&&* raw ? json::serialize(**raw) : std::string("missing");
        });
    });
}

TEST(store_encryption, redis_holds_sealed_secrets) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto s = sealed(std::make_unique<store::redis_store>(ex, test_config(server)));
        redis::client raw(ex, test_config(server));
        co_await seal_create_and_update(*s, [&]() -> asio::awaitable<std::string> {
            auto v = co_await raw.exec(redis::command("GET", "mcp:session:alice:SealedSess01"));
            co_return text(v);
        });
        co_await s->close();
        co_await raw.quit();
    });
}

TEST(store_encryption, sqlite_holds_sealed_secrets) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.db";
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::sqlite_store::open(path);
        CO_ASSERT(opened.has_value());
        auto s = sealed(std::move(*opened));
        co_await seal_create_and_update(*s, [&]() -> asio::awaitable<std::string> {
            co_return sqlite_data(path, "SealedSess01");
        });
        co_await s->close();
    });
}

TEST(store_encryption, file_holds_sealed_secrets) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.json";
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::file_store::open(path);
        CO_ASSERT(opened.has_value());
        auto s = sealed(std::move(*opened));
        co_await seal_create_and_update(
            *s, [&]() -> asio::awaitable<std::string> { co_return file_text(path); });
        co_await s->close();
    });
}

TEST(store_encryption, plain_records_stay_readable_and_the_references_sealed_value_opens) {
    run_async([&]() -> asio::awaitable<void> {
        store::encrypting_store s(std::make_unique<store::memory_store>(), box_of(key_a));
        // Written before the key was set (or by a program that does not encrypt).
        auto plain = secret_record("bob", "PlainSess001");
        CO_ASSERT(co_await s.inner().create_session(plain, {}));
        EXPECT_EQ(**co_await s.get_session("bob", "PlainSess001"), plain);
        // The tokens of @mcp-ts/sdk's test vector (docs/mcp-ts-compat.md §7), sealed by its code.
        auto from_node = secret_record("bob", "NodeSealed01");
        from_node["tokens"] =
            "enc:1:000102030405060708090a0b:622e4119e1cab5f73e19569c5ea82ad2:"
            "6d3ad455232cbec5964f009754bb46154c54c51dd92859eb564924a27b96534787e68f48a08ab055ff24"
            "c4fc";
        CO_ASSERT(co_await s.inner().create_session(from_node, {}));
        auto got = **co_await s.get_session("bob", "NodeSealed01");
        EXPECT_EQ(got.at("tokens"), json::parse(R"({"access_token":"abc","token_type":"Bearer"})"));
        auto all = co_await s.get_identity_sessions_data("bob");
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), 2u);
    });
}

TEST(store_encryption, another_key_or_no_key_is_a_clear_error_never_the_ciphertext) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto writer = sealed(std::make_unique<store::redis_store>(ex, test_config(server)), key_a);
        CO_ASSERT(co_await writer->create_session(secret_record("carol", "KeyASess0001"), {}));

        auto other_key =
            sealed(std::make_unique<store::redis_store>(ex, test_config(server)), key_b);
        auto got = co_await other_key->get_session("carol", "KeyASess0001");
        CO_ASSERT(!got);
        EXPECT_EQ(got.error().code, store_errc::decrypt_failed);
        auto msg = got.error().message();
        EXPECT_NE(msg.find("carol:KeyASess0001"), std::string::npos) << msg;
        EXPECT_NE(msg.find("field 'headers'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("another key"), std::string::npos) << msg;
        auto listed = co_await other_key->get_identity_sessions_data("carol");
        CO_ASSERT(!listed);
        EXPECT_EQ(listed.error().code, store_errc::decrypt_failed);
        // Ids need no decryption.
        auto ids = co_await other_key->get_identity_session_ids("carol");
        CO_ASSERT(ids && ids->size() == 1u);
        EXPECT_EQ(ids->front(), "KeyASess0001");

        store::encrypting_store no_key(
            std::make_unique<store::redis_store>(ex, test_config(server)), std::nullopt);
        EXPECT_FALSE(no_key.encrypts());
        auto unkeyed = co_await no_key.get_session("carol", "KeyASess0001");
        CO_ASSERT(!unkeyed);
        EXPECT_EQ(unkeyed.error().code, store_errc::decrypt_failed);
        EXPECT_NE(unkeyed.error().message().find("STORAGE_ENCRYPTION_KEY is not set"),
                  std::string::npos)
            << unkeyed.error().message();
        // Without a key, writes are plain text.
        CO_ASSERT(co_await no_key.create_session(secret_record("carol", "PlainSess002"), {}));
        redis::client raw(ex, test_config(server));
        auto stored = co_await raw.exec(redis::command("GET", "mcp:session:carol:PlainSess002"));
        EXPECT_NE(text(stored).find("token-secret-2"), std::string::npos) << text(stored);
        co_await raw.quit();
        co_await writer->close();
        co_await other_key->close();
        co_await no_key.close();
    });
}

TEST(store_encryption, secret_fields_of_the_wrong_type_are_refused_before_sealing) {
    run_async([&]() -> asio::awaitable<void> {
        store::encrypting_store s(std::make_unique<store::memory_store>(), box_of(key_a));
        auto rec = secret_record("dave", "TypedSess001");
        rec["tokens"] = 42;
        EXPECT_EQ((co_await s.create_session(rec, {})).error().code, store_errc::invalid_record);
        CO_ASSERT(co_await s.create_session(secret_record("dave", "TypedSess001"), {}));
        auto patch = json::parse(R"({"clientInformation":[1,2]})").as_object();
        auto r = co_await s.update_session("dave", "TypedSess001", patch, {});
        CO_ASSERT(!r);
        EXPECT_EQ(r.error().code, store_errc::invalid_record);
    });
}

namespace {

store::getenv_fn env_of(std::map<std::string, std::string> vars) {
    auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
    return [shared](char const* name) -> char const* {
        auto it = shared->find(name);
        return it == shared->end() ? nullptr : it->second.c_str();
    };
}

} // namespace

TEST(store_encryption, open_store_seals_with_the_key_from_the_environment) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.db";
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto env =
            env_of({{"MCP_TS_STORAGE_SQLITE_PATH", path}, {"STORAGE_ENCRYPTION_KEY", key_a}});
        auto choice = store::choose_store(env, store::store_type::memory);
        CO_ASSERT(choice.has_value());
        auto opened = co_await store::open_store(ex, *choice, {}, env);
        CO_ASSERT(opened.has_value());
        EXPECT_EQ(opened->store->backend_name(), "sqlite");
        auto rec = secret_record("erin", "EnvKeySess01");
        CO_ASSERT(co_await opened->store->create_session(rec, {}));
        expect_sealed_at_rest(sqlite_data(path, "EnvKeySess01"));
        EXPECT_EQ(**co_await opened->store->get_session("erin", "EnvKeySess01"), rec);
        co_await opened->store->close();

        // A passphrase works too (as the reference: its bytes, zero-padded); it is another key.
        auto pass_env = env_of({{"MCP_TS_STORAGE_SQLITE_PATH", path},
                                {"STORAGE_ENCRYPTION_KEY", "correct horse battery staple"}});
        auto with_pass = co_await store::open_store(ex, *choice, {}, pass_env);
        CO_ASSERT(with_pass.has_value());
        auto wrong = co_await with_pass->store->get_session("erin", "EnvKeySess01");
        EXPECT_EQ(wrong.error().code, store_errc::decrypt_failed);
        co_await with_pass->store->close();
    });
}

TEST(store_encryption, a_malformed_key_stops_open_store_with_a_clear_error) {
    temp_dir dir;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::string not_hex(64, 'z');
        auto env = env_of({{"MCP_TS_STORAGE_SQLITE_PATH", dir.path + "/sessions.db"},
                           {"STORAGE_ENCRYPTION_KEY", not_hex}});
        auto choice = store::choose_store(env, store::store_type::memory);
        CO_ASSERT(choice.has_value());
        auto opened = co_await store::open_store(ex, *choice, {}, env);
        CO_ASSERT(!opened);
        EXPECT_NE(opened.error().message().find("STORAGE_ENCRYPTION_KEY"), std::string::npos)
            << opened.error().message();
        EXPECT_FALSE(std::filesystem::exists(dir.path + "/sessions.db")) << "opened anyway";
        // Empty is unset, as in the reference: plain text.
        auto empty = env_of({{"STORAGE_ENCRYPTION_KEY", ""}});
        store::store_choice memory{store::store_type::memory, {}, "test"};
        auto plain = co_await store::open_store(ex, memory, {}, empty);
        CO_ASSERT(plain.has_value());
        auto rec = secret_record("frank", "PlainSess003");
        CO_ASSERT(co_await plain->store->create_session(rec, {}));
        auto* wrapper = dynamic_cast<store::encrypting_store*>(plain->store.get());
        CO_ASSERT(wrapper != nullptr);
        EXPECT_FALSE(wrapper->encrypts());
        EXPECT_EQ(**co_await wrapper->inner().get_session("frank", "PlainSess003"), rec);
    });
}

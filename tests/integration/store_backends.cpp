// tests/integration/store_backends.cpp — the session store backends for tests. See
// store_backends.hpp.
#include "store_backends.hpp"

#include "redis_test_util.hpp"

#include "store/backends.hpp"

#include <filesystem>

namespace mcpd::test {

namespace asio = boost::asio;

temp_dir::temp_dir() {
    char tmpl[] = "/tmp/mcpd-store-XXXXXX";
    path = ::mkdtemp(tmpl);
}

temp_dir::~temp_dir() {
    std::filesystem::remove_all(path);
}

backend_kind encrypted(backend_kind plain) {
    auto make = plain.make;
    return {plain.name + "_encrypted",
            [make](asio::any_io_executor ex) -> asio::awaitable<backend> {
                auto b = co_await make(ex);
                auto box = store::secret_box::from_key_text(std::string(64, 'a')).value();
                b.store = std::make_unique<store::encrypting_store>(std::move(b.store), box);
                co_return b;
            }};
}

redis_cluster& shared_cluster() {
    static redis_cluster cluster;
    return cluster;
}

std::vector<backend_kind> const& backends() {
    static std::vector<backend_kind> const all = [] {
        std::vector<backend_kind> plain = {
            {"memory",
             [](asio::any_io_executor) -> asio::awaitable<backend> {
                 co_return backend{nullptr, nullptr, std::make_unique<store::memory_store>()};
             }},
            {"redis",
             [](asio::any_io_executor ex) -> asio::awaitable<backend> {
                 auto server = std::make_unique<redis_server>();
                 auto cfg = test_config(*server);
                 auto s = std::make_unique<store::redis_store>(ex, cfg);
                 co_return backend{std::move(server), nullptr, std::move(s)};
             }},
            {"redis_cluster",
             [](asio::any_io_executor ex) -> asio::awaitable<backend> {
                 // One cluster for every test (it takes seconds to make), emptied for each.
                 auto cfg = redis::config_from_url(shared_cluster().url()).value();
                 cfg.connect_timeout = std::chrono::seconds(2);
                 cfg.command_timeout = std::chrono::seconds(5);
                 auto s = std::make_unique<store::redis_store>(ex, cfg);
                 if (auto cleared = co_await s->clear_all(); !cleared)
                     throw mcpd::exception(cleared.error());
                 co_return backend{nullptr, nullptr, std::move(s)};
             }},
            {"sqlite",
             [](asio::any_io_executor) -> asio::awaitable<backend> {
                 auto dir = std::make_unique<temp_dir>();
                 auto s = co_await store::sqlite_store::open(dir->path + "/sessions.db");
                 if (!s)
                     throw mcpd::exception(s.error());
                 co_return backend{nullptr, std::move(dir), std::move(*s)};
             }},
            {"file",
             [](asio::any_io_executor) -> asio::awaitable<backend> {
                 auto dir = std::make_unique<temp_dir>();
                 auto s = co_await store::file_store::open(dir->path + "/sessions.json");
                 if (!s)
                     throw mcpd::exception(s.error());
                 co_return backend{nullptr, std::move(dir), std::move(*s)};
             }},
            {"postgres",
             [](asio::any_io_executor ex) -> asio::awaitable<backend> {
                 auto server = std::make_unique<postgres_server>();
                 auto url = server->url();
                 store::postgres_options opts;
                 auto s = co_await store::postgres_store::open(ex, url, opts);
                 if (!s)
                     throw mcpd::exception(s.error());
                 co_return backend{nullptr, nullptr, std::move(*s), std::move(server)};
             }},
        };
        auto with_encryption = plain;
        for (auto const& kind : plain)
            with_encryption.push_back(encrypted(kind));
        return with_encryption;
    }();
    return all;
}

std::vector<backend_kind> const& persistent_backends() {
    static std::vector<backend_kind> const all = [] {
        std::vector<backend_kind> out;
        for (auto const& kind : backends())
            if (kind.name.rfind("memory", 0) != 0)
                out.push_back(kind);
        return out;
    }();
    return all;
}

} // namespace mcpd::test

// store/file_store.hpp — sessions in one JSON file, @mcp-ts/sdk's format, safe between processes.
//
// The file is a JSON array of session records, as the reference writes it, so either program
// can read the other's file. Each record mcpd writes carries its expiry as an extra field,
// "_mcpdExpiresAt" (ms since the epoch), which the reference keeps as an unknown field and which
// callers never see; a record without it (as Node writes them) never expires.
//
// Every operation takes an flock on "<file>.lock" (shared to read, exclusive to write), reads
// the file afresh (another process may have changed it), and a write replaces the file
// atomically: a temporary file in the same directory, fsync, rename, fsync of the directory.
// Files are created 0600 (they hold OAuth tokens). A file that is not a JSON array of objects
// is an error, never an empty store. All of it runs on a private thread, off the I/O threads.
#pragma once

#include "core/blocking_pool.hpp"
#include "mcpd/store/session_store.hpp"

#include <boost/json/array.hpp>

#include <functional>
#include <string>

namespace mcpd::store {

class file_store final : public session_store {
public:
    // The field that holds a record's expiry in the file.
    static constexpr std::string_view expiry_field = "_mcpdExpiresAt";

    // Opens `path`, creating an empty store (and the lock file) if it does not exist.
    static boost::asio::awaitable<result<std::unique_ptr<file_store>>> open(std::string path);
    ~file_store() override;

    [[nodiscard]] std::string_view backend_name() const noexcept override { return "file"; }
    boost::asio::awaitable<result<void>> create_session(boost::json::object record,
                                                        std::optional<duration> ttl) override;
    boost::asio::awaitable<result<void>> update_session(std::string identity,
                                                        std::string session_id,
                                                        boost::json::object partial,
                                                        std::optional<duration> ttl) override;
    boost::asio::awaitable<result<std::optional<boost::json::object>>>
    get_session(std::string identity, std::string session_id) override;
    boost::asio::awaitable<result<std::vector<session_record>>>
    get_identity_sessions_data(std::string identity) override;
    boost::asio::awaitable<result<void>> remove_session(std::string identity,
                                                        std::string session_id) override;
    boost::asio::awaitable<result<std::vector<std::string>>> get_all_session_ids() override;
    boost::asio::awaitable<result<void>> clear_all() override;
    boost::asio::awaitable<result<std::size_t>> cleanup_expired_sessions() override;
    boost::asio::awaitable<result<void>> ping() override;
    boost::asio::awaitable<void> close() override;

private:
    explicit file_store(std::string path);

    // Runs `change` on the file's records under the lock; with `write`, saves them afterwards
    // if `change` returned true. Runs on pool_'s thread.
    using change_fn = std::function<result<bool>(boost::json::array& records)>;
    result<void> with_records(bool write, change_fn const& change);

    std::string path_;
    blocking_pool pool_{1};
};

} // namespace mcpd::store

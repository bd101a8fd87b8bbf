// store/memory_store.hpp — sessions in this process only (lost on restart), with TTLs.
//
// For tests and for a single process that needs nothing to survive. Expired records are
// invisible from the moment they expire and are swept on writes and by
// cleanup_expired_sessions(). Safe to use from several threads (one mutex).
#pragma once

#include "mcpd/store/session_store.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <mutex>

namespace mcpd::store {

class memory_store final : public session_store {
public:
    using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

    // `now` is injectable so TTL tests need not sleep.
    explicit memory_store(clock_fn now = &std::chrono::steady_clock::now);

    [[nodiscard]] std::string_view backend_name() const noexcept override { return "memory"; }
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
    struct entry {
        boost::json::object record;
        std::chrono::steady_clock::time_point expires;
    };
    // (identity, session id) → entry; ordered so one identity's sessions are a contiguous range.
    using key = std::pair<std::string, std::string>;

    std::size_t sweep_locked(std::chrono::steady_clock::time_point now);

    clock_fn now_;
    std::mutex mutex_;
    std::map<key, entry> sessions_;
};

} // namespace mcpd::store

// store/instrumented_store.hpp — a session_store that times every operation of the store it
// wraps, for /metrics:
//
//   mcpd_storage_operations_total{backend,op,outcome}      outcome: ok | refused | error
//   mcpd_storage_operation_duration_seconds{backend,op}
//
// `op` is the operation's name (create, update, get, list, list_ids, remove, all_ids, clear,
// cleanup, ping); `refused` is the store's own answer (the session exists, is not there, or the
// input is invalid: store_errc), `error` a failure of the backend. Timed on the caller's executor
// from call to resumption, so a backend that works on a blocking pool (SQLite, file) is timed as
// the caller waits for it, queueing included. Everything else is passed through.
#pragma once

#include "mcpd/core/metrics.hpp"
#include "mcpd/store/session_store.hpp"

#include <array>
#include <memory>

namespace mcpd::store {

class instrumented_store final : public session_store {
public:
    instrumented_store(std::shared_ptr<session_store> inner, metrics::registry& reg);

    [[nodiscard]] std::string_view backend_name() const noexcept override {
        return inner_->backend_name();
    }
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
    boost::asio::awaitable<result<std::vector<std::string>>>
    get_identity_session_ids(std::string identity) override;
    boost::asio::awaitable<result<void>> remove_session(std::string identity,
                                                        std::string session_id) override;
    boost::asio::awaitable<result<std::vector<std::string>>> get_all_session_ids() override;
    boost::asio::awaitable<result<void>> clear_all() override;
    boost::asio::awaitable<result<std::size_t>> cleanup_expired_sessions() override;
    boost::asio::awaitable<result<void>> ping() override;
    boost::asio::awaitable<void> close() override;

    [[nodiscard]] session_store& inner() noexcept { return *inner_; }

    enum op : std::size_t {
        create,
        update,
        get,
        list,
        list_ids,
        remove,
        all_ids,
        clear,
        cleanup,
        ping_op,
        op_count
    };

private:
    void note(op o, error const* e, metrics::stopwatch const& w) noexcept;
    template <class R>
    void note_result(op o, R const& r, metrics::stopwatch const& w) noexcept {
        if (r) {
            note(o, nullptr, w);
        } else {
            auto e = r.error(); // result::error() returns a copy
            note(o, &e, w);
        }
    }

    std::shared_ptr<session_store> inner_;
    // Resolved once: the hot path touches two atomics per operation and takes no lock.
    struct op_metrics {
        metrics::counter* ok = nullptr;
        metrics::counter* refused = nullptr;
        metrics::counter* failed = nullptr;
        metrics::histogram* seconds = nullptr;
    };
    std::array<op_metrics, op_count> ops_{};
};

} // namespace mcpd::store

// store/instrumented_store.cpp — see instrumented_store.hpp.
#include "store/instrumented_store.hpp"

#include "mcpd/store/error.hpp"

namespace mcpd::store {

using boost::asio::awaitable;
namespace json = boost::json;

namespace {
constexpr std::array<char const*, instrumented_store::op_count> op_names = {
    "create", "update", "get", "list", "list_ids", "remove", "all_ids", "clear", "cleanup", "ping"};
}

instrumented_store::instrumented_store(std::shared_ptr<session_store> inner, metrics::registry& reg)
    : inner_(std::move(inner)) {
    auto& total = reg.counter("mcpd_storage_operations_total",
                              "Session storage operations, by backend, operation and outcome",
                              {"backend", "op", "outcome"});
    auto& seconds = reg.histogram("mcpd_storage_operation_duration_seconds",
                                  "Session storage operation latency, by backend and operation",
                                  {"backend", "op"});
    std::string backend(inner_->backend_name());
    for (std::size_t i = 0; i < op_count; ++i) {
        ops_[i].ok = &total.with({backend, op_names[i], "ok"});
        ops_[i].refused = &total.with({backend, op_names[i], "refused"});
        ops_[i].failed = &total.with({backend, op_names[i], "error"});
        ops_[i].seconds = &seconds.with({backend, op_names[i]});
    }
}

void instrumented_store::note(op o, error const* e, metrics::stopwatch const& w) noexcept {
    auto& m = ops_[o];
    if (e == nullptr)
        m.ok->inc();
    else if (e->code.category() == store_category())
        m.refused->inc();
    else
        m.failed->inc();
    m.seconds->observe(w.elapsed());
}

awaitable<result<void>> instrumented_store::create_session(json::object record,
                                                           std::optional<duration> ttl) {
    metrics::stopwatch w;
    auto r = co_await inner_->create_session(std::move(record), ttl);
    note_result(create, r, w);
    co_return r;
}

awaitable<result<void>> instrumented_store::update_session(std::string identity,
                                                           std::string session_id,
                                                           json::object partial,
                                                           std::optional<duration> ttl) {
    metrics::stopwatch w;
    auto r = co_await inner_->update_session(std::move(identity), std::move(session_id),
                                             std::move(partial), ttl);
    note_result(update, r, w);
    co_return r;
}

awaitable<result<std::optional<json::object>>>
instrumented_store::get_session(std::string identity, std::string session_id) {
    metrics::stopwatch w;
    auto r = co_await inner_->get_session(std::move(identity), std::move(session_id));
    note_result(get, r, w);
    co_return r;
}

awaitable<result<std::vector<session_record>>>
instrumented_store::get_identity_sessions_data(std::string identity) {
    metrics::stopwatch w;
    auto r = co_await inner_->get_identity_sessions_data(std::move(identity));
    note_result(list, r, w);
    co_return r;
}

awaitable<result<std::vector<std::string>>>
instrumented_store::get_identity_session_ids(std::string identity) {
    metrics::stopwatch w;
    auto r = co_await inner_->get_identity_session_ids(std::move(identity));
    note_result(list_ids, r, w);
    co_return r;
}

awaitable<result<void>> instrumented_store::remove_session(std::string identity,
                                                           std::string session_id) {
    metrics::stopwatch w;
    auto r = co_await inner_->remove_session(std::move(identity), std::move(session_id));
    note_result(remove, r, w);
    co_return r;
}

awaitable<result<std::vector<std::string>>> instrumented_store::get_all_session_ids() {
    metrics::stopwatch w;
    auto r = co_await inner_->get_all_session_ids();
    note_result(all_ids, r, w);
    co_return r;
}

awaitable<result<void>> instrumented_store::clear_all() {
    metrics::stopwatch w;
    auto r = co_await inner_->clear_all();
    note_result(clear, r, w);
    co_return r;
}

awaitable<result<std::size_t>> instrumented_store::cleanup_expired_sessions() {
    metrics::stopwatch w;
    auto r = co_await inner_->cleanup_expired_sessions();
    note_result(cleanup, r, w);
    co_return r;
}

awaitable<result<void>> instrumented_store::ping() {
    metrics::stopwatch w;
    auto r = co_await inner_->ping();
    note_result(ping_op, r, w);
    co_return r;
}

awaitable<void> instrumented_store::close() {
    co_await inner_->close();
}

} // namespace mcpd::store

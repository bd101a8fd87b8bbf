// store/memory_store.cpp — the in-process backend.
#include "mcpd/store/memory_store.hpp"

#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

#include <algorithm>

namespace mcpd::store {

namespace json = boost::json;
using boost::asio::awaitable;

memory_store::memory_store(clock_fn now)
    : now_(std::move(now)) {}

std::size_t memory_store::sweep_locked(std::chrono::steady_clock::time_point now) {
    return std::erase_if(sessions_, [&](auto const& kv) { return kv.second.expires <= now; });
}

awaitable<result<void>> memory_store::create_session(json::object record,
                                                     std::optional<duration> ttl) {
    if (auto ok = validate_record(record); !ok)
        co_return ok.error();
    std::lock_guard lock(mutex_);
    auto now = now_();
    sweep_locked(now);
    key k{std::string(record_identity(record)), std::string(record_session_id(record))};
    if (sessions_.contains(k))
        co_return error(store_errc::session_exists, k.first + ":" + k.second);
    sessions_.emplace(std::move(k),
                      entry{std::move(record), now + ttl.value_or(default_session_ttl)});
    co_return result<void>();
}

awaitable<result<void>> memory_store::update_session(std::string identity, std::string session_id,
                                                     json::object partial,
                                                     std::optional<duration> ttl) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::lock_guard lock(mutex_);
    auto now = now_();
    auto it = sessions_.find(key{identity, session_id});
    if (it == sessions_.end() || it->second.expires <= now)
        co_return error(store_errc::session_not_found, identity + ":" + session_id);
    json::object merged = it->second.record; // all or nothing: merge a copy
    if (auto ok = merge_into(merged, partial); !ok)
        co_return ok.error();
    it->second.record = std::move(merged);
    if (ttl)
        it->second.expires = now + *ttl;
    co_return result<void>();
}

awaitable<result<std::optional<json::object>>> memory_store::get_session(std::string identity,
                                                                         std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(key{identity, session_id});
    if (it == sessions_.end() || it->second.expires <= now_())
        co_return std::optional<json::object>();
    co_return std::optional<json::object>(it->second.record);
}

awaitable<result<std::vector<session_record>>>
memory_store::get_identity_sessions_data(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    std::lock_guard lock(mutex_);
    auto now = now_();
    std::vector<session_record> out;
    for (auto it = sessions_.lower_bound(key{identity, ""});
         it != sessions_.end() && it->first.first == identity; ++it)
        if (it->second.expires > now)
            out.emplace_back(it->second.record);
    co_return out;
}

awaitable<result<void>> memory_store::remove_session(std::string identity, std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::lock_guard lock(mutex_);
    sessions_.erase(key{identity, session_id});
    co_return result<void>();
}

awaitable<result<std::vector<std::string>>> memory_store::get_all_session_ids() {
    std::lock_guard lock(mutex_);
    auto now = now_();
    std::vector<std::string> out;
    for (auto const& [k, e] : sessions_)
        if (e.expires > now)
            out.push_back(k.first + ":" + k.second);
    std::sort(out.begin(), out.end());
    co_return out;
}

awaitable<result<void>> memory_store::clear_all() {
    std::lock_guard lock(mutex_);
    sessions_.clear();
    co_return result<void>();
}

awaitable<result<std::size_t>> memory_store::cleanup_expired_sessions() {
    std::lock_guard lock(mutex_);
    co_return sweep_locked(now_());
}

awaitable<result<void>> memory_store::ping() {
    co_return result<void>();
}

awaitable<void> memory_store::close() {
    co_return;
}

} // namespace mcpd::store

// store/encrypting_store.cpp — sealing on the way in, opening on the way out.
#include "store/encrypting_store.hpp"

#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

namespace mcpd::store {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

// A secret field must be an object (or a string, or null), as validate_record() has it.
// Checked before sealing: once sealed, any value is a string and would pass the backend's
// own check.
result<void> check_secret_fields(json::object const& partial) {
    for (auto field : secret_fields)
        if (auto const* v = partial.if_contains(field);
            v && !v->is_object() && !v->is_string() && !v->is_null())
            return error(store_errc::invalid_record,
                         "field '" + std::string(field) + "' must be an object");
    return {};
}

} // namespace

encrypting_store::encrypting_store(std::unique_ptr<session_store> inner,
                                   std::optional<secret_box> box,
                                   std::span<std::string_view const> sealed)
    : inner_(std::move(inner))
    , box_(std::move(box))
    , sealed_(sealed) {}

result<void> encrypting_store::open(json::object& record) const {
    auto opened = open_record(record, box_ ? &*box_ : nullptr);
    if (opened)
        return opened;
    auto e = opened.error(); // a copy
    e.detail = "session " + std::string(record_identity(record)) + ":" +
               std::string(record_session_id(record)) + ": " + e.detail;
    return e;
}

awaitable<result<void>> encrypting_store::create_session(json::object record,
                                                         std::optional<duration> ttl) {
    if (box_) {
        if (auto ok = validate_record(record); !ok)
            co_return ok.error();
        seal_record(record, *box_, sealed_);
    }
    co_return co_await inner_->create_session(std::move(record), ttl);
}

awaitable<result<void>> encrypting_store::update_session(std::string identity,
                                                         std::string session_id,
                                                         json::object partial,
                                                         std::optional<duration> ttl) {
    if (box_) {
        if (auto ok = check_secret_fields(partial); !ok)
            co_return ok.error();
        seal_record(partial, *box_,
                    sealed_); // nulls stay null: the backend's merge removes the field
    }
    co_return co_await inner_->update_session(std::move(identity), std::move(session_id),
                                              std::move(partial), ttl);
}

awaitable<result<std::optional<json::object>>>
encrypting_store::get_session(std::string identity, std::string session_id) {
    auto got = co_await inner_->get_session(std::move(identity), std::move(session_id));
    if (got && *got)
        if (auto ok = open(**got); !ok)
            co_return ok.error();
    co_return got;
}

awaitable<result<std::vector<session_record>>>
encrypting_store::get_identity_sessions_data(std::string identity) {
    auto data = co_await inner_->get_identity_sessions_data(std::move(identity));
    if (data)
        for (auto& record : *data) {
            if (!record.has_sealed_secret())
                continue; // nothing to open (and a plain record needs no key)
            auto opened = record.object();
            if (auto ok = open(opened); !ok)
                co_return ok.error();
            record = session_record(std::move(opened));
        }
    co_return data;
}

awaitable<result<std::vector<std::string>>>
encrypting_store::get_identity_session_ids(std::string identity) {
    return inner_->get_identity_session_ids(std::move(identity));
}

awaitable<result<void>> encrypting_store::remove_session(std::string identity,
                                                         std::string session_id) {
    return inner_->remove_session(std::move(identity), std::move(session_id));
}

awaitable<result<std::vector<std::string>>> encrypting_store::get_all_session_ids() {
    return inner_->get_all_session_ids();
}

awaitable<result<void>> encrypting_store::clear_all() {
    return inner_->clear_all();
}

awaitable<result<std::size_t>> encrypting_store::cleanup_expired_sessions() {
    return inner_->cleanup_expired_sessions();
}

awaitable<result<void>> encrypting_store::ping() {
    return inner_->ping();
}

awaitable<void> encrypting_store::close() {
    return inner_->close();
}

} // namespace mcpd::store

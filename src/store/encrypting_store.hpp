// store/encrypting_store.hpp — secrets at rest for every backend: a session_store that wraps
// another one and seals the secret fields (headers, tokens, clientInformation) on the way in
// and opens them on the way out, so backends never know about encryption.
//
// With a key (STORAGE_ENCRYPTION_KEY; see secret_box.hpp), each non-null secret field of a
// created record or of an update's partial is stored as an "enc:1:…" string, @mcp-ts/sdk's
// format; a null in a partial still removes the field (it is passed through unsealed). Reads
// open sealed fields and pass plain ones through, so records written before the key was set
// (or by a program that does not encrypt) stay readable. Without a key, writes are plain and a
// sealed field on read is an error (decrypt_failed) rather than a ciphertext handed out where
// an object belongs; so is a field sealed under another key or tampered with. Errors name the
// session (identity:sessionId) and the field.
//
// open_store() (select.hpp) wraps every backend it opens in one of these.
#pragma once

#include "mcpd/store/secret_box.hpp"
#include "mcpd/store/session_store.hpp"

#include <memory>
#include <optional>

namespace mcpd::store {

class encrypting_store final : public session_store {
public:
    // `box`: the key to seal with, or nullopt to store plain text (and refuse sealed fields).
    // `sealed`: which fields are sealed on write (reads open any sealed secret field).
    encrypting_store(std::unique_ptr<session_store> inner, std::optional<secret_box> box,
                     std::span<std::string_view const> sealed = secret_fields);

    [[nodiscard]] std::string_view backend_name() const noexcept override {
        return inner_->backend_name();
    }
    [[nodiscard]] bool encrypts() const noexcept { return box_.has_value(); }
    // The wrapped backend (tests read raw contents through it).
    [[nodiscard]] session_store& inner() noexcept { return *inner_; }

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

private:
    // Opens the record's sealed fields in place; the error names the session.
    result<void> open(boost::json::object& record) const;

    std::unique_ptr<session_store> inner_;
    std::optional<secret_box> box_;
    std::span<std::string_view const> sealed_;
};

} // namespace mcpd::store

// gateway/oauth_authorizer.cpp — the gateway's OAuth seam (authorizer.hpp) bound to
// client::oauth::session_auth.
#include "mcpd/gateway/authorizer.hpp"

#include "mcpd/client/oauth.hpp"
#include "mcpd/guard/keys.hpp"
#include "mcpd/guard/lock.hpp"
#include "mcpd/store/session_store.hpp"

namespace mcpd::gateway {

namespace {

class oauth_authorizer final : public session_authorizer {
public:
    explicit oauth_authorizer(std::shared_ptr<client::oauth::session_auth> auth)
        : auth_(std::move(auth)) {}

    std::shared_ptr<client::auth_provider> provider() override { return auth_; }
    [[nodiscard]] std::optional<std::string> authorization_url() const override {
        return auth_->authorization_url();
    }
    [[nodiscard]] std::optional<error> last_error() const override { return auth_->last_error(); }
    boost::asio::awaitable<result<void>> finish(std::string code, std::string state,
                                                std::string iss) override {
        if (iss.empty())
            co_return co_await auth_->finish(std::move(code), std::move(state));
        co_return co_await auth_->finish(std::move(code), std::move(state), std::move(iss));
    }

private:
    std::shared_ptr<client::oauth::session_auth> auth_;
};

class stored_record final : public client::oauth::oauth_record {
public:
    stored_record(std::shared_ptr<store::session_store> store, std::string identity,
                  std::string session_id)
        : store_(std::move(store))
        , identity_(std::move(identity))
        , session_id_(std::move(session_id)) {}
    boost::asio::awaitable<result<std::optional<boost::json::object>>> read() override {
        co_return co_await store_->get_session(identity_, session_id_);
    }
    boost::asio::awaitable<result<void>> update(boost::json::object partial) override {
        co_return co_await store_->update_session(identity_, session_id_, std::move(partial));
    }

private:
    std::shared_ptr<store::session_store> store_;
    std::string identity_;
    std::string session_id_;
};

class guarded_lock final : public client::oauth::oauth_lock {
public:
    explicit guarded_lock(std::shared_ptr<guard::lock_service> locks)
        : locks_(std::move(locks)) {}
    boost::asio::awaitable<result<void>> run(std::string key, duration ttl, duration wait,
                                             body_fn body) override {
        guard::lock_request lr;
        lr.key = guard::key_space().lock_key(key);
        lr.ttl = ttl;
        lr.when_busy = guard::lock_wait::wait;
        lr.wait_timeout = wait;
        lr.on_unavailable = guard::lock_failure::proceed;
        guard::lock_service::body_fn section = [&body](guard::lock_lease const&) { return body(); };
        try {
            co_await locks_->run(std::move(lr), std::move(section));
        } catch (guard::lock_busy const& e) {
            co_return error{boost::system::errc::make_error_code(boost::system::errc::timed_out),
                            e.what()};
        }
        co_return result<void>();
    }

private:
    std::shared_ptr<guard::lock_service> locks_;
};

} // namespace

std::shared_ptr<client::oauth::oauth_record>
stored_oauth_record(std::shared_ptr<store::session_store> store, std::string identity,
                    std::string session_id) {
    return std::make_shared<stored_record>(std::move(store), std::move(identity),
                                           std::move(session_id));
}

std::shared_ptr<client::oauth::oauth_lock>
guarded_oauth_lock(std::shared_ptr<guard::lock_service> locks) {
    return std::make_shared<guarded_lock>(std::move(locks));
}

authorizer_factory oauth_authorizers(boost::asio::any_io_executor ex,
                                     std::shared_ptr<store::session_store> store,
                                     oauth_settings settings) {
    authorizer_factory f;
    f.make = [ex, store, settings](std::string identity, std::string session_id,
                                   std::string callback_url) {
        client::oauth::session_auth_options o;
        o.client.redirect_url = std::move(callback_url);
        o.client.client_name = settings.client_name;
        o.client.client_uri = settings.client_uri;
        o.client.scope = settings.scope;
        o.client.client_id = settings.client_id;
        o.client.client_secret = settings.client_secret;
        if (settings.locks)
            o.lock = guarded_oauth_lock(settings.locks);
        o.http = settings.http;
        auto auth = std::make_shared<client::oauth::session_auth>(
            ex, stored_oauth_record(store, identity, session_id), std::move(identity),
            std::move(session_id), o);
        return std::make_shared<oauth_authorizer>(std::move(auth));
    };
    f.session_of_state = [](std::string_view state) -> std::optional<std::string> {
        auto id = client::oauth::state_session_id(state);
        if (!id)
            return std::nullopt;
        return std::string(*id);
    };
    return f;
}

} // namespace mcpd::gateway

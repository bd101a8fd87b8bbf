// gateway/oauth_authorizer.cpp — the gateway's OAuth seam (authorizer.hpp) bound to
// client::oauth::session_auth.
#include "gateway/authorizer.hpp"

#include "client/oauth.hpp"
#include "store/session_store.hpp"

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

} // namespace

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
        o.locks = settings.locks;
        o.http = settings.http;
        auto auth = std::make_shared<client::oauth::session_auth>(ex, store, std::move(identity),
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

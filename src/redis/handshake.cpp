// redis/handshake.cpp — the connection set-up sequence (see the header).
#include "redis/handshake.hpp"

#include "mcpd/redis/error.hpp"

namespace mcpd::redis {

handshake::handshake(config const& cfg, bool readonly_replica)
    : cfg_(cfg)
    , readonly_replica_(readonly_replica) {}

void handshake::append_checks() {
    if (!cfg_.sentinel.sentinels.empty())
        commands_.emplace_back("ROLE");
    if (readonly_replica_)
        commands_.emplace_back("READONLY");
}

handshake::action handshake::start() {
    if (cfg_.protocol == protocol_version::resp2)
        return start_resp2();
    phase_ = phase::hello;
    commands_.clear();
    command hello("HELLO", "3");
    if (!cfg_.password.empty())
        hello.arg("AUTH").arg(cfg_.username.empty() ? "default" : cfg_.username).arg(cfg_.password);
    if (!cfg_.client_name.empty())
        hello.arg("SETNAME").arg(cfg_.client_name);
    commands_.push_back(std::move(hello));
    if (cfg_.db != 0)
        commands_.emplace_back("SELECT", cfg_.db);
    append_checks();
    return action::send;
}

handshake::action handshake::start_resp2() {
    phase_ = phase::resp2;
    protocol_ = 2;
    commands_.clear();
    if (!cfg_.password.empty()) {
        command auth("AUTH");
        if (!cfg_.username.empty())
            auth.arg(cfg_.username);
        auth.arg(cfg_.password);
        commands_.push_back(std::move(auth));
    }
    if (!cfg_.client_name.empty())
        commands_.emplace_back("CLIENT", "SETNAME", cfg_.client_name);
    if (cfg_.db != 0)
        commands_.emplace_back("SELECT", cfg_.db);
    append_checks();
    return commands_.empty() ? action::done : action::send;
}

handshake::action handshake::fail(std::string const& what, value const& reply) {
    auto text = reply.as_string().value_or("");
    failure_ = error(client_errc::handshake_failed, what + ": " + std::string(text));
    return action::fail;
}

handshake::action handshake::on_replies(std::vector<value> const& replies) {
    if (replies.size() != commands_.size()) {
        failure_ = error(client_errc::handshake_failed, "wrong number of handshake replies");
        return action::fail;
    }
    if (phase_ == phase::hello) {
        value const& hello = replies.front();
        if (hello.is_error()) {
            auto kind = classify_server_error(hello.as_string().value_or(""));
            bool no_resp3 = kind == server_errc::unknown_command || kind == server_errc::noproto;
            if (no_resp3 && cfg_.protocol == protocol_version::automatic)
                return start_resp2();
            return fail("HELLO 3 refused", hello);
        }
        protocol_ = 3;
        for (std::size_t i = 1; i < replies.size(); ++i) {
            auto name = commands_[i].name();
            if (name == "ROLE") {
                if (check_role(replies[i]) == action::fail)
                    return action::fail;
            } else if (replies[i].is_error()) {
                return fail(name == "SELECT" ? "SELECT " + std::to_string(cfg_.db) + " refused"
                                             : std::string(name) + " refused",
                            replies[i]);
            }
        }
        return action::done;
    }
    // RESP2 path: replies line up with commands_.
    for (std::size_t i = 0; i < replies.size(); ++i) {
        if (!replies[i].is_error())
            continue;
        auto name = commands_[i].name();
        if (name == "CLIENT") {
            warnings_.push_back("CLIENT SETNAME refused: " +
                                std::string(replies[i].as_string().value_or("")));
            continue;
        }
        if (name != "ROLE") // checked below, for what it says as well
            return fail(std::string(name) + " refused", replies[i]);
    }
    for (std::size_t i = 0; i < replies.size(); ++i)
        if (commands_[i].name() == "ROLE" && check_role(replies[i]) == action::fail)
            return action::fail;
    return action::done;
}

handshake::action handshake::check_role(value const& reply) {
    if (reply.is_error())
        return fail("ROLE refused", reply);
    auto role = reply.elements.empty() ? std::nullopt : reply.elements.front().as_string();
    if (!role) {
        failure_ = error(client_errc::handshake_failed,
                         "ROLE: unexpected reply " + to_debug_string(reply));
        return action::fail;
    }
    if (*role != "master") {
        failure_ =
            error(client_errc::handshake_failed,
                  "the node the sentinels named for master '" + cfg_.sentinel.master_name +
                      "' says its role is " + std::string(*role) + ": asking the sentinels again");
        return action::fail;
    }
    return action::done;
}

} // namespace mcpd::redis

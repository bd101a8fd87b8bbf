// redis/handshake.hpp — sans-I/O: the commands a fresh connection sends before it is ready,
// and what each answer means.
//
//   automatic/resp3:  HELLO 3 [AUTH user pass] [SETNAME name]  +  SELECT db (if db ≠ 0)
//     HELLO unknown (Redis < 6) or NOPROTO, in automatic mode → RESP2 path below
//     any other HELLO error (WRONGPASS, NOPERM…) → failed
//   resp2:            AUTH [user] pass (if a password)  +  CLIENT SETNAME  +  SELECT db
//     AUTH or SELECT error → failed; a CLIENT SETNAME error is only a warning (a restricted
//     ACL user may not run CLIENT)
// A master found through Sentinel is asked ROLE last, in the same write: a node that answers
// anything but "master" (a demoted master the sentinels have not caught up with) → failed,
// and the connection asks the sentinels again. A cluster replica that serves reads is sent
// READONLY last (an error fails the handshake).
// The glue writes step().commands as one request, reads as many replies, and calls on_replies().
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/redis/command.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/redis/resp.hpp"

#include <string>
#include <vector>

namespace mcpd::redis {

class handshake {
public:
    enum class action {
        send, // write commands() and feed their replies to on_replies()
        done, // the connection is ready; protocol() tells RESP2 or RESP3
        fail, // failure() says why; the connection must be dropped
    };

    explicit handshake(config const& cfg, bool readonly_replica = false);

    // The first action: `send` with the first commands, or `done` when nothing is needed.
    action start();
    action on_replies(std::vector<value> const& replies);

    [[nodiscard]] std::vector<command> const& commands() const noexcept { return commands_; }
    [[nodiscard]] int protocol() const noexcept { return protocol_; }
    [[nodiscard]] error const& failure() const noexcept { return failure_; }
    // Non-fatal problems met on the way (CLIENT SETNAME refused), for the log.
    [[nodiscard]] std::vector<std::string> const& warnings() const noexcept { return warnings_; }

private:
    action start_resp2();
    action fail(std::string const& what, value const& reply);
    // The ROLE reply, when one was asked for: done, or fail when the node is not a master.
    action check_role(value const& reply);

    // The commands every path ends with (ROLE, READONLY).
    void append_checks();

    config const& cfg_;
    bool readonly_replica_;
    std::vector<command> commands_;
    enum class phase { hello, resp2 } phase_ = phase::hello;
    int protocol_ = 2;
    error failure_;
    std::vector<std::string> warnings_;
};

} // namespace mcpd::redis

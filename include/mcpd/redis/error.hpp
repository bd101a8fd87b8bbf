// redis/error.hpp — the errors the Redis client reports, as two error_code categories.
//
// client_errc: failures of the client itself (connection lost, timeout, queue policy).
// server_errc: the kind of an error *reply* from the server, taken from its first word
// ("-WRONGTYPE Operation against…" → server_errc::wrongtype) so callers can branch on it; the
// full server text travels in mcpd::error::detail.
#pragma once

#include <boost/system/error_code.hpp>

#include <string_view>
#include <type_traits>

namespace mcpd::redis {

enum class client_errc {
    not_connected = 1,    // offline queue is off and the connection is not ready
    connection_lost,      // the connection dropped before the reply arrived; not retried
    max_retries_exceeded, // retried max_retries_per_request times, the connection kept dropping
    timeout,              // the per-command timeout elapsed
    connect_timeout,      // TCP connect + TLS + handshake did not finish in connect_timeout
    offline_queue_full,   // the offline queue holds offline_queue_max requests already
    closing,              // quit() was called: no new requests are taken
    disconnected,         // disconnect() was called (or the client was destroyed)
    reconnect_gave_up,    // the retry strategy stopped reconnecting
    protocol_error,       // the server sent bytes that are not RESP (the connection is dropped)
    handshake_failed,     // HELLO/AUTH/SELECT/CLIENT SETNAME failed (detail: the server's text)
    invalid_config,       // a URL or option that cannot work
    unexpected_reply,     // a reply of a type the operation does not accept
    unsupported_command,  // a command this API cannot carry (SUBSCRIBE on a client: use subscriber)
    no_master,            // no sentinel named a master (unreachable, or the name is unknown)
};

enum class server_errc {
    err = 1,         // ERR (generic)
    unknown_command, // ERR unknown command '…'
    wrongtype,
    moved,
    ask,
    noscript,
    noauth,
    wrongpass,
    noperm,
    loading,
    busy,
    busykey,
    readonly,
    oom,
    execabort,
    crossslot,
    clusterdown,
    tryagain,
    masterdown,
    noproto,
    noreplicas,
    misconf,
    unblocked,
    other, // any other prefix; the detail has the full text
};

boost::system::error_category const& client_category() noexcept;
boost::system::error_category const& server_category() noexcept;

inline boost::system::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}
inline boost::system::error_code make_error_code(server_errc e) noexcept {
    return {static_cast<int>(e), server_category()};
}

// The kind of a server error reply from its text (without the leading '-').
server_errc classify_server_error(std::string_view text) noexcept;

} // namespace mcpd::redis

template <>
struct boost::system::is_error_code_enum<mcpd::redis::client_errc> : std::true_type {};
template <>
struct boost::system::is_error_code_enum<mcpd::redis::server_errc> : std::true_type {};

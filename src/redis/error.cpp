// redis/error.cpp — the client and server error categories, and the classification of a server
// error reply by its first word.
//
// The categories are declared as every layer's are (core/error_category.hpp).
#include "mcpd/redis/error.hpp"

#include "core/error_category.hpp"

#include <array>
#include <string>
#include <utility>

namespace mcpd::redis {
namespace {

std::string client_message(int ev) {
    switch (static_cast<client_errc>(ev)) {
    case client_errc::not_connected:
        return "not connected to Redis and the offline queue is disabled";
    case client_errc::connection_lost:
        return "the Redis connection was lost before the reply arrived";
    case client_errc::max_retries_exceeded:
        return "the request was retried too many times: the Redis connection kept dropping";
    case client_errc::timeout:
        return "the Redis command timed out";
    case client_errc::connect_timeout:
        return "connecting to Redis (TCP, TLS and handshake) timed out";
    case client_errc::offline_queue_full:
        return "the offline queue is full";
    case client_errc::closing:
        return "the Redis client is closing and takes no new requests";
    case client_errc::disconnected:
        return "the Redis client was disconnected";
    case client_errc::reconnect_gave_up:
        return "the retry strategy gave up reconnecting to Redis";
    case client_errc::protocol_error:
        return "Redis sent bytes that are not valid RESP";
    case client_errc::handshake_failed:
        return "the Redis connection handshake (HELLO/AUTH/SELECT/CLIENT SETNAME) failed";
    case client_errc::invalid_config:
        return "invalid Redis client configuration";
    case client_errc::unexpected_reply:
        return "Redis replied with a type the operation does not accept";
    case client_errc::unsupported_command:
        return "this API cannot carry that command (SUBSCRIBE and friends need a subscriber)";
    case client_errc::no_master:
        return "no Redis Sentinel named a master";
    }
    return {};
}

std::string server_message(int ev) {
    switch (static_cast<server_errc>(ev)) {
    case server_errc::err:
        return "Redis error (ERR)";
    case server_errc::unknown_command:
        return "unknown Redis command";
    case server_errc::wrongtype:
        return "operation against a key holding the wrong kind of value (WRONGTYPE)";
    case server_errc::moved:
        return "the key's slot moved to another cluster node (MOVED)";
    case server_errc::ask:
        return "the key's slot is migrating: ask another cluster node (ASK)";
    case server_errc::noscript:
        return "no script with that SHA1 is loaded (NOSCRIPT)";
    case server_errc::noauth:
        return "authentication required (NOAUTH)";
    case server_errc::wrongpass:
        return "invalid username or password (WRONGPASS)";
    case server_errc::noperm:
        return "the user lacks the permission for this command or key (NOPERM)";
    case server_errc::loading:
        return "Redis is loading its dataset into memory (LOADING)";
    case server_errc::busy:
        return "Redis is busy running a script or function (BUSY)";
    case server_errc::busykey:
        return "the target key already exists (BUSYKEY)";
    case server_errc::readonly:
        return "the server is a read-only replica (READONLY)";
    case server_errc::oom:
        return "Redis is out of memory: command refused (OOM)";
    case server_errc::execabort:
        return "the transaction was discarded because of previous errors (EXECABORT)";
    case server_errc::crossslot:
        return "the keys of one command hash to different cluster slots (CROSSSLOT)";
    case server_errc::clusterdown:
        return "the Redis cluster is down (CLUSTERDOWN)";
    case server_errc::tryagain:
        return "the cluster cannot serve the keys right now: try again (TRYAGAIN)";
    case server_errc::masterdown:
        return "the replica lost its link with the master (MASTERDOWN)";
    case server_errc::noproto:
        return "the server does not support the requested protocol version (NOPROTO)";
    case server_errc::noreplicas:
        return "not enough good replicas to accept the write (NOREPLICAS)";
    case server_errc::misconf:
        return "Redis cannot persist to disk: writes refused (MISCONF)";
    case server_errc::unblocked:
        return "the blocked command was unblocked by another client (UNBLOCKED)";
    case server_errc::other:
        return "Redis error reply";
    }
    return {};
}

// First words Redis puts in front of an error message, as it sends them (case-sensitive).
constexpr std::array<std::pair<std::string_view, server_errc>, 22> prefixes{{
    {"ERR", server_errc::err},
    {"WRONGTYPE", server_errc::wrongtype},
    {"MOVED", server_errc::moved},
    {"ASK", server_errc::ask},
    {"NOSCRIPT", server_errc::noscript},
    {"NOAUTH", server_errc::noauth},
    {"WRONGPASS", server_errc::wrongpass},
    {"NOPERM", server_errc::noperm},
    {"LOADING", server_errc::loading},
    {"BUSY", server_errc::busy},
    {"BUSYKEY", server_errc::busykey},
    {"READONLY", server_errc::readonly},
    {"OOM", server_errc::oom},
    {"EXECABORT", server_errc::execabort},
    {"CROSSSLOT", server_errc::crossslot},
    {"CLUSTERDOWN", server_errc::clusterdown},
    {"TRYAGAIN", server_errc::tryagain},
    {"MASTERDOWN", server_errc::masterdown},
    {"NOPROTO", server_errc::noproto},
    {"NOREPLICAS", server_errc::noreplicas},
    {"MISCONF", server_errc::misconf},
    {"UNBLOCKED", server_errc::unblocked},
}};

} // namespace

boost::system::error_category const& client_category() noexcept {
    static auto const& c = declare_category("mcpd.redis.client", client_message);
    return c;
}

boost::system::error_category const& server_category() noexcept {
    static auto const& c = declare_category("mcpd.redis.server", server_message);
    return c;
}

server_errc classify_server_error(std::string_view text) noexcept {
    std::string_view const word = text.substr(0, text.find_first_of(" \t\r\n"));
    for (auto const& [prefix, code] : prefixes) {
        if (word != prefix)
            continue;
        // "ERR unknown command 'foo', with args beginning with: " (not "unknown subcommand").
        constexpr std::string_view unknown = "ERR unknown command";
        if (code == server_errc::err && text.starts_with(unknown) &&
            (text.size() == unknown.size() || text[unknown.size()] == ' '))
            return server_errc::unknown_command;
        return code;
    }
    return server_errc::other;
}

} // namespace mcpd::redis

// core/client_tally.hpp — what each client (by address) holds of a server: connections,
// sessions, streams. One tally is shared by the event loops of a process (`mcpd serve
// --threads N`), so a per-client budget holds for the process however many loops serve the
// client. Thread-safe: sharded by client, a mutex per shard (never one for the whole process),
// and a relaxed atomic total per kind.
//
//     client_tally t;
//     if (!t.try_add("10.0.0.7", client_tally::kind::connections, 256)) refuse();
//     …
//     t.remove("10.0.0.7", client_tally::kind::connections);
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace mcpd {

class client_tally {
public:
    enum class kind : std::uint8_t { connections, sessions, streams };

    client_tally();
    ~client_tally();
    client_tally(client_tally const&) = delete;
    client_tally& operator=(client_tally const&) = delete;

    // Counts one more `what` for `client` unless it holds `max` already (false then).
    bool try_add(std::string_view client, kind what, std::size_t max);
    // Counts one more whatever it holds.
    void add(std::string_view client, kind what);
    // One fewer (never below zero); a client holding nothing is forgotten.
    void remove(std::string_view client, kind what);
    // What a client holds now: one lookup (the MCP transport asks on every request).
    struct holding {
        std::size_t connections = 0;
        std::size_t sessions = 0;
        std::size_t streams = 0;
    };
    [[nodiscard]] holding held(std::string_view client) const;
    // Of every client.
    [[nodiscard]] std::size_t total(kind what) const noexcept;

private:
    struct shard;
    shard& shard_of(std::string_view client) const;
    std::unique_ptr<shard[]> shards_;
    std::array<std::atomic<std::size_t>, 3> totals_{};
};

} // namespace mcpd

// server/fleet.hpp — several `mcpd serve` instances on one Redis serving the same sessions, with
// no sticky load balancing (docs/fleet.md).
//
// Each instance that shares the session storage's Redis joins the fleet: it takes an instance
// number (INCR, unique among the instances alive), keeps a heartbeat key while it runs, and
// subscribes to the channel of every session it holds in memory plus one channel for all. Over
// those channels go the messages that must reach the instance holding something of a session:
// the handler waiting for a client's reply, the request a cancellation names, the open GET
// stream a notification belongs on, a stream a client resumed elsewhere. The SSE events of every
// stream are kept in Redis Streams (one per stream, bounded, with a TTL), so any instance replays
// them for a Last-Event-ID.
//
// The event loops of one process (`mcpd serve --threads N`) are members of a fleet too: over
// Redis when the sessions are there, else over a fleet_hub in memory shared by the loops.
//
// This file is the fleet's transport of messages and events; what the messages mean is the HTTP
// transport's and the dispatcher's business (http_transport.cpp, dispatcher.cpp).
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/core/metrics.hpp"
#include "mcpd/redis/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::redis {
class client;
}

namespace mcpd::server {

struct fleet_options {
    // How often the heartbeat key is written, and how long it lives without one: an instance
    // whose key has expired is taken for dead (its streams' requests are answered with an error
    // where a client resumes them).
    duration heartbeat_interval = std::chrono::seconds(1);
    duration heartbeat_ttl = std::chrono::seconds(5);
    // What Redis keeps of each SSE stream for Last-Event-ID: its newest events, for this long
    // after the last one (replay-ttl).
    std::size_t events_per_stream = 1024;
    duration replay_ttl = std::chrono::minutes(10);
    // What this instance keeps in Redis (replay-per-session, replay-total, and the streams of a
    // session): beyond it, its oldest streams of the session (or of the least recently written
    // sessions) are deleted. Each instance counts what it wrote.
    std::size_t streams_per_session = 64;
    std::size_t bytes_per_session = std::size_t{4} * 1024 * 1024;
    std::size_t bytes_total = std::size_t{256} * 1024 * 1024;
};

// What the event store holds of one stream after a position.
struct stored_stream {
    std::vector<std::pair<std::uint64_t, std::string>> events; // (seq, data), oldest first
    bool known = false; // the store has the stream (its start, or events)
    bool ended = false; // every answer of the stream is stored: nothing more will come
    std::string owner;  // the instance that runs its requests (empty: a standalone stream)
    std::uint64_t owner_number = 0;
    std::vector<std::string> request_ids; // its requests' ids, as JSON text
};

namespace detail {
struct fleet_state;
}

// The messages and events of the fleet members of one process (one per event loop), in memory:
// sharded by session, a mutex per shard. For `members` members at most.
class fleet_hub;
std::shared_ptr<fleet_hub> make_fleet_hub(std::size_t members);

class fleet {
public:
    // `commands` carries the writes and reads (it is the storage's client); pub/sub gets a
    // connection of its own from `cfg`.
    fleet(boost::asio::any_io_executor const& ex, std::shared_ptr<redis::client> commands,
          redis::config cfg, fleet_options opts = {});
    // A member of the loops of this process, on `ex` (its loop).
    fleet(boost::asio::any_io_executor const& ex, std::shared_ptr<fleet_hub> hub,
          fleet_options opts = {});
    ~fleet();
    fleet(fleet const&) = delete;
    fleet& operator=(fleet const&) = delete;

    // Takes the instance number, writes the first heartbeat, subscribes to the channel for all.
    // Fails when Redis cannot be reached (the caller serves without the fleet, and says so), or
    // when the hub is full.
    boost::asio::awaitable<result<void>> start();
    // Stops the heartbeat and deletes its key (other instances then know at once), closes pub/sub.
    boost::asio::awaitable<void> stop();

    [[nodiscard]] std::string const& instance_id() const noexcept;
    // In [1, 2^20): small enough that (number << 32) + n stays a safe JavaScript integer.
    [[nodiscard]] std::uint32_t instance_number() const noexcept;

    // --- messages --------------------------------------------------------------------------
    // Every message is a JSON object with a kind ("k"); the fleet adds its origin ("o") and
    // never hands an instance its own messages.
    using handler = std::function<void(std::string const& session, boost::json::object const&)>;
    void on_message(handler h); // before start(); `session` is empty for a message to all
    void watch(std::string const& session);
    void unwatch(std::string const& session);
    // To the instances watching `session` (empty: to every instance).
    void publish(std::string const& session, boost::json::object msg);
    // Whether an instance's heartbeat is current.
    boost::asio::awaitable<result<bool>> alive(std::string const& instance);

    // --- the event store (Redis Streams) ---------------------------------------------------
    // A POST stream begins: its owner (this instance) and the ids of its requests, so that an
    // instance where the client resumes knows what to answer if this one dies.
    void open_stream(std::string const& session, std::uint64_t stream,
                     std::vector<std::string> const& request_ids);
    // A GET stream begins (listed with the session's streams, so that DELETE removes it).
    void open_standalone(std::string const& session, std::uint64_t stream);
    void append(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                std::string const& data);
    // Its last event is stored (after `last_seq`): a resume needs no owner.
    void end_stream(std::string const& session, std::uint64_t stream, std::uint64_t last_seq);
    boost::asio::awaitable<result<stored_stream>>
    replay(std::string const& session, std::uint64_t stream, std::uint64_t after_seq);
    void forget_session(std::string const& session);

    // What this instance has in Redis now, and the events its budgets deleted so far.
    [[nodiscard]] std::size_t bytes() const noexcept;
    [[nodiscard]] std::uint64_t dropped() const noexcept;

    // Counts messages, failures and orphaned requests in `reg` (mcpd_fleet_*).
    void set_metrics(metrics::registry& reg);
    // Requests whose instance died, answered with an error where their stream was resumed.
    void count_orphaned(std::size_t n);

private:
    std::shared_ptr<detail::fleet_state> state_;
};

} // namespace mcpd::server

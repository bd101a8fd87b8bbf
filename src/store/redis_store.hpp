// store/redis_store.hpp — sessions in Redis, in @mcp-ts/sdk's layout, shared by a fleet.
//
// Keys (no client key prefix: the layout is the contract):
//   mcp:session:<identity>:<sessionId>   string: the record's JSON, with the session's TTL
//   mcp:identity:<identity>:sessions     set of session ids, TTL = the longest of its sessions
// Identities are used verbatim in keys (':' '*' '?' '[' included); listing an identity goes
// through its set, never through a pattern, so no escaping is needed there.
//
// Better than the reference, same layout: create and remove are one atomic script each; update
// is a compare-and-set script (the merge is done here, where JSON is handled exactly, and
// retried if the record changed meanwhile), keeping the remaining TTL; listing an identity's
// records is one round trip whatever the count, where the reference makes one per session: a
// SORT … BY nosort GET # GET <record key pattern> (native, cheaper for Redis than a script that
// reads the values), or SMEMBERS then MGET for an identity holding '*' (which a SORT pattern
// cannot spell); ids whose records expired are pruned by a script that removes only ids still
// without a record; listing
// ids is one script; admin listing uses SCAN (KEYS where SCAN is refused).
//
// On a Redis Cluster the two keys of a session are in different slots, so no script or MULTI
// may hold both: each step is a command (or a script) on one key, ordered so that a failure or
// a concurrent reader between them leaves at most an index entry without a record, which
// every reader prunes, and never a record its identity's listing misses after a create
// succeeded: create adds the id to the index, writes the record (NX), and adds the id again
// (a reader that pruned it in between, seeing no record yet, cannot hide the session); remove
// deletes the record, then the id; update refreshes the index's TTL before the record's; a
// listing reads the ids, then the records (GETs the cluster client sends to their nodes at
// once), and prunes an id only after it removed it and still found no record (else puts it
// back). docs/redis.md says what is atomic where.
#pragma once

#include "mcpd/redis/client.hpp"
#include "mcpd/store/session_store.hpp"

namespace mcpd::store {

class redis_store final : public session_store {
public:
    // The config's key_prefix is ignored (cleared): the key layout is fixed.
    redis_store(boost::asio::any_io_executor const& ex, redis::config cfg);
    // On a client made by the caller (which may use it too: readiness checks, pub/sub); its
    // key prefix must be empty.
    explicit redis_store(std::shared_ptr<redis::client> client);

    [[nodiscard]] std::string_view backend_name() const noexcept override { return "redis"; }
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

    // The keys of a session and of an identity's set.
    static std::string session_key(std::string_view identity, std::string_view session_id);
    static std::string identity_key(std::string_view identity);

    // Attempts update_session makes before giving up with store_errc::conflict.
    static constexpr int max_update_attempts = 32;

private:
    // Cluster: removes from an identity's set the ids that have no record, unless one appears.
    boost::asio::awaitable<result<std::size_t>> prune_on_cluster(std::string const& identity,
                                                                 std::vector<std::string> ids);
    // Cluster: which of `ids` have a record (the rest are pruned); the records when `values`.
    struct cluster_listing {
        std::vector<std::string> ids;
        std::vector<std::string> records;
        std::size_t pruned = 0;
    };
    boost::asio::awaitable<result<cluster_listing>> list_on_cluster(std::string const& identity,
                                                                    bool values);

    std::shared_ptr<redis::client> client_;
    bool cluster_ = false; // the client speaks to a Redis Cluster
};

} // namespace mcpd::store

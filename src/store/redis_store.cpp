// store/redis_store.cpp — the Redis backend's scripts and operations.
#include "store/redis_store.hpp"

#include "mcpd/redis/error.hpp"
#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace mcpd::store {

namespace json = boost::json;
using boost::asio::awaitable;
using redis::command;

namespace {

constexpr std::string_view session_prefix = "mcp:session:";
constexpr std::string_view identity_prefix = "mcp:identity:";
constexpr std::string_view identity_suffix = ":sessions";

// KEYS: session key, identity set. ARGV: record JSON, ttl (s), session id.
// 1 = created, 0 = a record with that key exists.
redis::script const& create_script() {
    static redis::script const s(R"lua(
if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 0 end
redis.call('SADD', KEYS[2], ARGV[3])
local ttl = tonumber(ARGV[2])
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
)lua");
    return s;
}

// KEYS: session key[, identity set] (a cluster passes the record's alone: the index is kept by
// index_add_script there). ARGV: the JSON read before, the new JSON, ttl (s) or '',
// session id. 1 = written, 0 = the record changed since it was read, -1 = it is gone.
redis::script const& update_script() {
    static redis::script const s(R"lua(
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if cur ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  local ttl = tonumber(ARGV[3])
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
  if KEYS[2] then
    redis.call('SADD', KEYS[2], ARGV[4])
    if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
  end
end
return 1
)lua");
    return s;
}

// KEYS: session key, identity set. ARGV: session id.
redis::script const& remove_script() {
    static redis::script const s(R"lua(
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
)lua");
    return s;
}

// KEYS: identity set. ARGV: the identity's session key prefix, 'ids' | 'prune'. Returns the
// ids whose records exist, or the number of dead ids removed; dead ids (records expired or
// deleted behind our back) are removed from the set in both modes. EXISTS, not GET: values
// copied into Lua are what makes a script expensive.
redis::script const& list_script() {
    static redis::script const s(R"lua(
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
local pruned = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    out[#out + 1] = id
  else
    redis.call('SREM', KEYS[1], id)
    pruned = pruned + 1
  end
end
if ARGV[2] == 'prune' then return pruned end
return out
)lua");
    return s;
}

// KEYS: identity set. ARGV: the identity's session key prefix, then ids whose records a read
// found missing. Removes those still without a record (one re-created meanwhile stays).
redis::script const& prune_ids_script() {
    static redis::script const s(R"lua(
local pruned = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    pruned = pruned + redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return pruned
)lua");
    return s;
}

// Cluster: the index alone. KEYS: identity set. ARGV: session id, ttl (s).
redis::script const& index_add_script() {
    static redis::script const s(R"lua(
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
)lua");
    return s;
}

std::string ttl_seconds(duration ttl) {
    auto ms = std::max<duration::rep>(ttl.count(), 1);
    return std::to_string((ms + 999) / 1000); // whole seconds, rounded up, at least 1
}

// "identity:sessionId", for errors.
std::string session_label(std::string_view identity, std::string_view session_id) {
    std::string out(identity);
    out += ':';
    out += session_id;
    return out;
}

redis::config without_prefix(redis::config cfg) {
    cfg.key_prefix.clear();
    return cfg;
}

} // namespace

redis_store::redis_store(boost::asio::any_io_executor const& ex, redis::config cfg)
    : client_(std::make_shared<redis::client>(ex, without_prefix(std::move(cfg))))
    , cluster_(!client_->cfg().cluster.seeds.empty()) {}

redis_store::redis_store(std::shared_ptr<redis::client> client)
    : client_(std::move(client))
    , cluster_(!client_->cfg().cluster.seeds.empty()) {}

std::string redis_store::session_key(std::string_view identity, std::string_view session_id) {
    std::string k(session_prefix);
    k.append(identity).append(":").append(session_id);
    return k;
}

std::string redis_store::identity_key(std::string_view identity) {
    std::string k(identity_prefix);
    k.append(identity).append(identity_suffix);
    return k;
}

awaitable<result<void>> redis_store::create_session(json::object record,
                                                    std::optional<duration> ttl) {
    if (auto ok = validate_record(record); !ok)
        co_return ok.error();
    std::string identity(record_identity(record));
    std::string id(record_session_id(record));
    std::vector<std::string> keys{session_key(identity, id), identity_key(identity)};
    std::vector<std::string> args{json::serialize(record),
                                  ttl_seconds(ttl.value_or(default_session_ttl)), id};
    if (cluster_) {
        // Index, record, index again (see the header): one key per step.
        std::vector<std::string> index_keys{keys[1]};
        std::vector<std::string> index_args{id, args[1]};
        if (auto added = co_await client_->eval(index_add_script(), index_keys, index_args); !added)
            co_return added.error();
        redis::request_options once;
        once.retry_on_connection_lost = false;
        auto set =
            co_await client_->exec(command("SET", keys[0], args[0], "EX", args[1], "NX"), once);
        if (!set)
            co_return set.error();
        if (set->is_null())
            co_return error(store_errc::session_exists, session_label(identity, id));
        if (auto again = co_await client_->eval(index_add_script(), index_keys, index_args); !again)
            co_return again.error();
        co_return result<void>();
    }
    // Not re-sent after a lost connection: a create that ran before the loss would come back
    // as session_exists. The caller sees connection_lost (outcome unknown) instead.
    auto r =
        co_await client_->eval(create_script(), keys, args, {.retry_on_connection_lost = false});
    if (!r)
        co_return r.error();
    if (r->as_integer() != 1)
        co_return error(store_errc::session_exists, session_label(identity, id));
    co_return result<void>();
}

awaitable<result<void>> redis_store::update_session(std::string identity, std::string session_id,
                                                    json::object partial,
                                                    std::optional<duration> ttl) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::vector<std::string> keys{session_key(identity, session_id), identity_key(identity)};
    for (int attempt = 0; attempt < max_update_attempts; ++attempt) {
        auto current = co_await client_->exec(command("GET", keys[0]));
        if (!current)
            co_return current.error();
        if (current->is_null())
            co_return error(store_errc::session_not_found, session_label(identity, session_id));
        auto record = parse_record(current->str);
        if (!record)
            co_return record.error();
        if (auto ok = merge_into(*record, partial); !ok)
            co_return ok.error();
        std::vector<std::string> args{current->str, json::serialize(*record),
                                      ttl ? ttl_seconds(*ttl) : std::string(), session_id};
        if (cluster_ && ttl) {
            // The index outlives the record it lists: its TTL goes up first.
            std::vector<std::string> index_keys{keys[1]};
            std::vector<std::string> index_args{session_id, args[2]};
            if (auto up = co_await client_->eval(index_add_script(), index_keys, index_args); !up)
                co_return up.error();
        }
        // On a cluster the script gets the record's key alone (the index is not in its slot).
        std::vector<std::string> script_keys = keys;
        if (cluster_)
            script_keys.resize(1);
        auto r = co_await client_->eval(update_script(), script_keys, args);
        if (!r)
            co_return r.error();
        auto outcome = r->as_integer().value_or(-2);
        if (outcome == 1)
            co_return result<void>();
        if (outcome == -1)
            co_return error(store_errc::session_not_found, session_label(identity, session_id));
        // 0: another writer got in between; read again and merge onto its version.
    }
    co_return error(store_errc::conflict, session_label(identity, session_id));
}

awaitable<result<std::optional<json::object>>> redis_store::get_session(std::string identity,
                                                                        std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    auto r = co_await client_->exec(command("GET", session_key(identity, session_id)));
    if (!r)
        co_return r.error();
    if (r->is_null())
        co_return std::optional<json::object>();
    auto record = parse_record(r->str);
    if (!record)
        co_return record.error();
    co_return std::optional<json::object>(std::move(*record));
}

awaitable<result<std::vector<session_record>>>
redis_store::get_identity_sessions_data(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    auto set = identity_key(identity);
    // One round trip, natively (no Lua, which would copy every value into the script and out
    // again: 3-4x Redis's time): SORT over the set without sorting, GET # (the id) and GET the
    // record key built from the member. SORT puts the member at the first '*' of the pattern, so
    // an identity holding '*' cannot be written as one: it takes SMEMBERS then MGET, as does a
    // server that refuses SORT (renamed, or an ACL without pattern access).
    // Views into the replies below: the records' texts, and the ids whose record is gone.
    if (cluster_) {
        auto listing = co_await list_on_cluster(identity, true);
        if (!listing)
            co_return listing.error();
        std::vector<session_record> out;
        out.reserve(listing->records.size());
        for (auto const& text : listing->records) {
            auto record = session_record::parse(text);
            if (!record)
                co_return record.error();
            out.push_back(std::move(*record));
        }
        co_return out;
    }
    redis::value sorted_reply, ids_reply, values_reply;
    std::vector<std::string_view> found;
    std::vector<std::string> missing;
    bool listed = false;
    if (identity.find('*') == std::string::npos) {
        auto sorted = co_await client_->exec(
            command("SORT", set, "BY", "nosort", "GET", "#", "GET", session_key(identity, "*")));
        if (sorted) {
            sorted_reply = std::move(*sorted);
            auto const& e = sorted_reply.elements;
            if (e.size() % 2 != 0)
                co_return error(store_errc::corrupt_record,
                                "SORT answered " + std::to_string(e.size()) + " values for pairs");
            for (std::size_t i = 0; i < e.size(); i += 2) {
                if (e[i + 1].is_null())
                    missing.push_back(e[i].str);
                else
                    found.emplace_back(e[i + 1].str);
            }
            listed = true;
        } else if (sorted.error().code.category() != redis::server_category()) {
            co_return sorted.error(); // the connection, not the command: nothing to fall back to
        }
    }
    if (!listed) {
        auto ids = co_await client_->exec(command("SMEMBERS", set));
        if (!ids)
            co_return ids.error();
        ids_reply = std::move(*ids);
        auto const& id_list = ids_reply.elements;
        if (!id_list.empty()) {
            command mget("MGET");
            for (auto const& id : id_list)
                mget.arg(session_key(identity, id.str));
            auto values = co_await client_->exec(mget);
            if (!values)
                co_return values.error();
            values_reply = std::move(*values);
            auto const& v = values_reply.elements;
            if (v.size() != id_list.size())
                co_return error(store_errc::corrupt_record,
                                "MGET answered " + std::to_string(v.size()) + " values for " +
                                    std::to_string(id_list.size()) + " keys");
            for (std::size_t i = 0; i < v.size(); ++i) {
                if (v[i].is_null()) // expired or removed since SMEMBERS
                    missing.push_back(id_list[i].str);
                else
                    found.emplace_back(v[i].str);
            }
        }
    }
    std::vector<session_record> out;
    out.reserve(found.size());
    for (auto text : found) {
        auto record = session_record::parse(text);
        if (!record)
            co_return record.error();
        out.push_back(std::move(*record));
    }
    if (!missing.empty()) {
        std::vector<std::string> keys{set};
        std::vector<std::string> prune_args{session_key(identity, "")};
        prune_args.insert(prune_args.end(), missing.begin(), missing.end());
        if (auto r = co_await client_->eval(prune_ids_script(), keys, prune_args); !r)
            co_return r.error();
    }
    co_return out;
}

awaitable<result<std::vector<std::string>>>
redis_store::get_identity_session_ids(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    if (cluster_) {
        auto listing = co_await list_on_cluster(identity, false);
        if (!listing)
            co_return listing.error();
        co_return std::move(listing->ids);
    }
    std::vector<std::string> keys{identity_key(identity)};
    std::vector<std::string> args{session_key(identity, ""), "ids"};
    auto r = co_await client_->eval(list_script(), keys, args);
    if (!r)
        co_return r.error();
    std::vector<std::string> out;
    out.reserve(r->elements.size());
    for (auto const& v : r->elements)
        out.emplace_back(v.as_string().value_or(""));
    co_return out;
}

awaitable<result<void>> redis_store::remove_session(std::string identity, std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::vector<std::string> keys{session_key(identity, session_id), identity_key(identity)};
    std::vector<std::string> args{session_id};
    if (cluster_) {
        // The record first: in between, the id is one a reader prunes.
        if (auto del = co_await client_->exec(command("DEL", keys[0])); !del)
            co_return del.error();
        if (auto rem = co_await client_->exec(command("SREM", keys[1], session_id)); !rem)
            co_return rem.error();
        co_return result<void>();
    }
    auto r = co_await client_->eval(remove_script(), keys, args);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

awaitable<result<redis_store::cluster_listing>>
redis_store::list_on_cluster(std::string const& identity, bool values) {
    auto ids = co_await client_->exec(command("SMEMBERS", identity_key(identity)));
    if (!ids)
        co_return ids.error();
    cluster_listing out;
    if (ids->elements.empty())
        co_return out;
    // One command per record: the cluster client sends each to its node, all at once.
    redis::request reads;
    for (auto const& id : ids->elements)
        reads.push(values ? command("GET", session_key(identity, id.str))
                          : command("EXISTS", session_key(identity, id.str)));
    auto replies = co_await client_->exec(std::move(reads));
    if (!replies)
        co_return replies.error();
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < replies->size(); ++i) {
        auto& v = (*replies)[i];
        if (v.is_error())
            co_return error(redis::classify_server_error(v.str), v.str);
        bool present = values ? !v.is_null() : v.as_integer().value_or(0) == 1;
        if (!present) {
            missing.push_back(ids->elements[i].str);
            continue;
        }
        out.ids.push_back(ids->elements[i].str);
        if (values)
            out.records.push_back(std::move(v.str));
    }
    if (!missing.empty()) {
        auto pruned = co_await prune_on_cluster(identity, std::move(missing));
        if (!pruned)
            co_return pruned.error();
        out.pruned = *pruned;
    }
    co_return out;
}

awaitable<result<std::size_t>> redis_store::prune_on_cluster(std::string const& identity,
                                                             std::vector<std::string> ids) {
    // Remove, then look again: a record created meanwhile (its create adds the id before and
    // after writing the record) gets its id back.
    auto set = identity_key(identity);
    command srem("SREM", set);
    srem.args(ids);
    auto removed = co_await client_->exec(srem);
    if (!removed)
        co_return removed.error();
    redis::request recheck;
    for (auto const& id : ids)
        recheck.push(command("EXISTS", session_key(identity, id)));
    auto exists = co_await client_->exec(std::move(recheck));
    if (!exists)
        co_return exists.error();
    std::size_t put_back = 0;
    command sadd("SADD", set);
    for (std::size_t i = 0; i < ids.size(); ++i)
        if ((*exists)[i].as_integer().value_or(0) == 1) {
            sadd.arg(ids[i]);
            ++put_back;
        }
    if (put_back > 0)
        if (auto r = co_await client_->exec(sadd); !r)
            co_return r.error();
    auto n = static_cast<std::size_t>(removed->as_integer().value_or(0));
    co_return n > put_back ? n - put_back : 0;
}

awaitable<result<std::vector<std::string>>> redis_store::get_all_session_ids() {
    auto keys = co_await client_->scan(std::string(session_prefix) + "*").collect();
    if (!keys)
        co_return keys.error();
    std::vector<std::string> out;
    out.reserve(keys->size());
    for (auto& k : *keys)
        out.push_back(k.substr(session_prefix.size())); // "identity:sessionId"
    std::sort(out.begin(), out.end());
    co_return out;
}

awaitable<result<void>> redis_store::clear_all() {
    for (std::string const& pattern :
         {std::string(session_prefix) + "*",
          std::string(identity_prefix) + "*" + std::string(identity_suffix)}) {
        auto keys = co_await client_->scan(pattern).collect();
        if (!keys)
            co_return keys.error();
        if (cluster_) { // keys in many slots: one UNLINK each, the client spreads them
            for (std::size_t i = 0; i < keys->size(); i += 500) {
                redis::request unlinks;
                for (std::size_t j = i; j < std::min(keys->size(), i + 500); ++j)
                    unlinks.push(command("UNLINK", (*keys)[j]));
                if (auto r = co_await client_->exec(std::move(unlinks)); !r)
                    co_return r.error();
            }
            continue;
        }
        for (std::size_t i = 0; i < keys->size(); i += 500) {
            command unlink("UNLINK");
            for (std::size_t j = i; j < std::min(keys->size(), i + 500); ++j)
                unlink.arg((*keys)[j]);
            if (auto r = co_await client_->exec(unlink); !r)
                co_return r.error();
        }
    }
    co_return result<void>();
}

awaitable<result<std::size_t>> redis_store::cleanup_expired_sessions() {
    // Records expire by themselves; what is left are ids in identity sets.
    auto sets =
        co_await client_->scan(std::string(identity_prefix) + "*" + std::string(identity_suffix))
            .collect();
    if (!sets)
        co_return sets.error();
    std::size_t pruned = 0;
    for (auto const& set : *sets) {
        std::string identity = set.substr(
            identity_prefix.size(), set.size() - identity_prefix.size() - identity_suffix.size());
        if (cluster_) {
            auto listing = co_await list_on_cluster(identity, false);
            if (!listing)
                co_return listing.error();
            pruned += listing->pruned;
            continue;
        }
        std::vector<std::string> keys{set};
        std::vector<std::string> args{session_key(identity, ""), "prune"};
        auto r = co_await client_->eval(list_script(), keys, args);
        if (!r)
            co_return r.error();
        pruned += static_cast<std::size_t>(r->as_integer().value_or(0));
    }
    co_return pruned;
}

awaitable<result<void>> redis_store::ping() {
    auto r = co_await client_->exec(command("PING"));
    if (!r)
        co_return r.error();
    co_return result<void>();
}

awaitable<void> redis_store::close() {
    co_await client_->quit();
}

} // namespace mcpd::store

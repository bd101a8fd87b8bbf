// redis/config.cpp — Redis client configuration from URLs and the environment, the URL shown in
// logs (password masked), and the default reconnect strategy.
//
// A URL describes the whole connection target: where (host, port, Unix socket, TLS on or off)
// and who (username, password, database). Those fields come from the URL alone, with their
// defaults when the URL leaves them out, so a base config's password is never sent to a host
// that the URL names. Everything else (timeouts, TLS files, client name, queue and retry
// policy, key prefix) keeps the base config's value unless a query option sets it.
//
// Error details name the part that is wrong and never contain the password: not the URL, not a
// query value that could be the password.
#include "mcpd/redis/config.hpp"

#include "core/boolean.hpp"
#include "core/random.hpp"
#include "core/url_text.hpp"
#include "mcpd/redis/error.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/sub_delim_chars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <limits>

namespace mcpd::redis {

namespace {

error invalid(std::string detail) {
    return error(make_error_code(client_errc::invalid_config), std::move(detail));
}

constexpr char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view lower_b) noexcept {
    return a.size() == lower_b.size() && std::equal(a.begin(), a.end(), lower_b.begin(),
                                                    [](char x, char y) { return lower(x) == y; });
}

bool all_digits(std::string_view s) noexcept {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Digits only, in [lo, hi].
template <class T>
std::optional<T> parse_number(std::string_view s, T lo, T hi) noexcept {
    if (!all_digits(s))
        return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < static_cast<std::uint64_t>(lo) ||
        v > static_cast<std::uint64_t>(hi))
        return std::nullopt;
    return static_cast<T>(v);
}

std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
    return parse_number<std::uint16_t>(s, 1, 65535);
}

std::optional<int> parse_db(std::string_view s) noexcept {
    return parse_number<int>(s, 0, std::numeric_limits<int>::max());
}

// CLIENT SETNAME refuses spaces, newlines and anything outside printable ASCII.
bool valid_client_name(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '!' && c <= '~'; });
}

constexpr std::string_view db_range = "0 to 2147483647";

// The query options a URL may carry; each may appear once.
enum class option : std::size_t {
    db,
    username,
    password,
    client_name,
    protocol,
    connect_timeout,
    command_timeout,
    tls_ca_file,
    tls_cert_file,
    tls_key_file,
    tls_insecure,
    tls_server_name,
    sentinel_username,
    sentinel_password,
    read_from_replicas,
    count_
};

constexpr std::array<std::string_view, static_cast<std::size_t>(option::count_)> option_names{
    "db",
    "username",
    "password",
    "client_name",
    "protocol",
    "connect_timeout",
    "command_timeout",
    "tls_ca_file",
    "tls_cert_file",
    "tls_key_file",
    "tls_insecure",
    "tls_server_name",
    "sentinel_username",
    "sentinel_password",
    "read_from_replicas",
};

std::string known_options() {
    std::string s;
    for (auto n : option_names) {
        if (!s.empty())
            s += ", ";
        s += n;
    }
    return s;
}

result<duration> parse_timeout(std::string_view name, std::string_view value, bool zero_ok) {
    auto d = parse_duration(value);
    if (!d)
        return invalid("invalid " + std::string(name) + " in the Redis URL: " + d.error().detail);
    if (d->count() < 0 || (!zero_ok && d->count() == 0))
        return invalid("invalid " + std::string(name) + " in the Redis URL: must be positive");
    return *d;
}

// Applies the query options of `u` to `c`. `from_userinfo_*` say what the URL's user info set,
// `path_db` the database from the path (if any).
result<void> apply_query(boost::urls::url_view const& u, config& c, bool tls_url,
                         bool user_from_userinfo, bool password_from_userinfo,
                         std::optional<int> path_db) {
    std::array<bool, option_names.size()> seen{};
    // Form semantics, like redis-py and ioredis: '+' in a query value is a space (write %2B).
    for (auto const& p : u.params(boost::urls::encoding_opts(true))) {
        auto it = std::find(option_names.begin(), option_names.end(), p.key);
        if (it == option_names.end())
            return invalid("unknown query option '" + p.key +
                           "' in the Redis URL (known: " + known_options() + ")");
        auto which = static_cast<option>(it - option_names.begin());
        auto& was_seen = seen[static_cast<std::size_t>(which)];
        if (was_seen)
            return invalid("query option '" + p.key + "' is given twice in the Redis URL");
        was_seen = true;
        if (!p.has_value)
            return invalid("query option '" + p.key + "' in the Redis URL needs a value (" + p.key +
                           "=…)");
        std::string const& v = p.value;
        if (p.key.starts_with("tls_") && !tls_url)
            return invalid("query option '" + p.key + "' needs a rediss:// URL");
        switch (which) {
        case option::db: {
            auto db = parse_db(v);
            if (!db)
                return invalid("invalid database '" + v + "' in the Redis URL query (expected " +
                               std::string(db_range) + ")");
            if (path_db && *path_db != *db)
                return invalid("the Redis URL names two databases: /" + std::to_string(*path_db) +
                               " in its path and db=" + v + " in its query");
            c.db = *db;
            break;
        }
        case option::username:
            if (user_from_userinfo)
                return invalid("the Redis URL gives the username twice (before '@' and in "
                               "?username=)");
            c.username = v;
            break;
        case option::password:
            if (password_from_userinfo)
                return invalid("the Redis URL gives the password twice (before '@' and in "
                               "?password=)");
            c.password = v;
            break;
        case option::client_name:
            if (!valid_client_name(v))
                return invalid("invalid client_name in the Redis URL: spaces and special "
                               "characters are not allowed");
            c.client_name = v;
            break;
        case option::protocol:
            if (v == "2")
                c.protocol = protocol_version::resp2;
            else if (v == "3")
                c.protocol = protocol_version::resp3;
            else
                return invalid("invalid protocol '" + v + "' in the Redis URL (expected 2 or 3)");
            break;
        case option::connect_timeout: {
            auto d = parse_timeout(p.key, v, false);
            if (!d)
                return d.error();
            c.connect_timeout = *d;
            break;
        }
        case option::command_timeout: {
            auto d = parse_timeout(p.key, v, true);
            if (!d)
                return d.error();
            c.command_timeout = *d;
            break;
        }
        case option::tls_ca_file:
            c.tls.ca_file = v;
            break;
        case option::tls_cert_file:
            c.tls.cert_file = v;
            break;
        case option::tls_key_file:
            c.tls.key_file = v;
            break;
        case option::tls_insecure: {
            auto b = parse_bool(v);
            if (!b)
                return invalid("invalid tls_insecure '" + v +
                               "' in the Redis URL (expected true or false)");
            c.tls.insecure_skip_verify = *b;
            break;
        }
        case option::tls_server_name:
            c.tls.server_name = v;
            break;
        case option::sentinel_username:
        case option::sentinel_password:
            if (c.sentinel.sentinels.empty())
                return invalid("query option '" + p.key + "' needs a redis+sentinel:// URL");
            (which == option::sentinel_username ? c.sentinel.username : c.sentinel.password) = v;
            break;
        case option::read_from_replicas: {
            if (c.cluster.seeds.empty())
                return invalid("query option 'read_from_replicas' needs a redis+cluster:// URL");
            auto b = parse_bool(v);
            if (!b)
                return invalid("invalid read_from_replicas '" + v +
                               "' in the Redis URL (expected true or false)");
            c.cluster.read_from_replicas = *b;
            break;
        }
        case option::count_:
            break;
        }
    }
    return {};
}

// Percent-encodes what may not appear literally in a user name or host name.
std::string encode_name(std::string_view s) {
    return boost::urls::encode(s, boost::urls::unreserved_chars + boost::urls::sub_delim_chars);
}

// "host[:port]" or "[v6]:port", as a URL authority would have it; the port defaults.
result<node_address> parse_node_address(std::string_view text, std::uint16_t default_port,
                                        std::string_view what) {
    node_address a;
    a.port = default_port;
    std::string_view host = text;
    std::string_view port;
    if (host.starts_with('[')) {
        auto close = host.find(']');
        if (close == std::string_view::npos)
            return invalid(std::string(what) + ": '" + std::string(text) +
                           "' opens an IPv6 address with '[' and never closes it");
        port = host.substr(close + 1);
        host = host.substr(1, close - 1);
        if (!port.empty() && !port.starts_with(':'))
            return invalid(std::string(what) + ": unexpected text after ']' in '" +
                           std::string(text) + "'");
        if (!port.empty())
            port.remove_prefix(1);
    } else if (auto colon = host.find(':'); colon != std::string_view::npos) {
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
    }
    if (host.empty())
        return invalid(std::string(what) + ": '" + std::string(text) + "' has no host");
    bool name_ok = std::all_of(host.begin(), host.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '.' || ch == '_' || ch == ':';
    });
    if (!name_ok)
        return invalid(std::string(what) + ": '" + std::string(host) +
                       "' is not a host name or address");
    a.host = host;
    if (!port.empty()) {
        auto p = parse_port(port);
        if (!p)
            return invalid(std::string(what) + ": invalid port '" + std::string(port) + "' in '" +
                           std::string(text) + "' (expected 1 to 65535)");
        a.port = *p;
    }
    return a;
}

// "h1:7000,h2:7001" (spaces around the commas allowed).
result<std::vector<node_address>> parse_node_list(std::string_view text, std::uint16_t default_port,
                                                  std::string_view what) {
    std::vector<node_address> out;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        while (!item.empty() && item.front() == ' ')
            item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ')
            item.remove_suffix(1);
        if (item.empty())
            return invalid(std::string(what) + ": an empty entry in the list");
        auto a = parse_node_address(item, default_port, what);
        if (!a)
            return a.error();
        out.push_back(std::move(*a));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    if (out.empty())
        return invalid(std::string(what) + ": no address");
    return out;
}

// Sentinel masters are named like Redis configuration tokens: no spaces, slashes or quotes.
bool valid_master_name(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return c > ' ' && c <= '~' && c != '/' && c != '"' && c != '\'' && c != '?' && c != '#';
    });
}

constexpr std::uint16_t sentinel_default_port = 26379;

std::string address_text(node_address const& a) {
    return a.host.find(':') != std::string::npos ? "[" + a.host + "]:" + std::to_string(a.port)
                                                 : a.host + ":" + std::to_string(a.port);
}

// "h1:p1,h2:p2", as a URL lists them.
std::string address_list(std::vector<node_address> const& nodes) {
    std::string out;
    for (auto const& n : nodes)
        out += (out.empty() ? "" : ",") + address_text(n);
    return out;
}

// `keep_topology`: the sentinels or cluster seeds in `base` came from the URL being read.
result<config> parse_url(std::string_view url, config base, bool keep_topology);

// A URL whose authority lists several hosts (`scheme://[userinfo@]h1[:p],h2[:p]/rest`), which
// no URL parser takes: its hosts, and the same URL as a plain redis:// (or rediss://) URL of
// its first host, which parse_url reads for everything else.
struct multi_host_url {
    std::vector<node_address> nodes;
    std::string_view tail; // from the path on ("/…?…", or empty)
    std::string userinfo;  // "user:password@" as written, or empty
    [[nodiscard]] std::string plain(bool tls, std::string_view tail_to_keep) const {
        std::string out = tls ? "rediss://" : "redis://";
        out += userinfo;
        out += address_text(nodes.front());
        out += tail_to_keep;
        return out;
    }
};

result<multi_host_url> split_multi_host_url(std::string_view url, std::string_view scheme,
                                            std::uint16_t default_port, std::string_view what) {
    std::string_view rest = url.substr(scheme.size() + 3);
    auto authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    auto at = authority.rfind('@');
    multi_host_url out;
    if (at != std::string_view::npos)
        out.userinfo = authority.substr(0, at + 1);
    auto nodes = parse_node_list(
        at == std::string_view::npos ? authority : authority.substr(at + 1), default_port, what);
    if (!nodes)
        return nodes.error();
    out.nodes = std::move(*nodes);
    out.tail =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    return out;
}

// redis+sentinel://[user:password@]s1[:port],s2[:port]/master[/db][?options]: the sentinel list
// and the master name are taken out here, and the rest is read as the redis:// URL of the
// first sentinel would be (its credentials, database and options are the data nodes').
result<config> sentinel_from_url(std::string_view url, std::string_view scheme, bool tls,
                                 config base) {
    auto split =
        split_multi_host_url(url, scheme, sentinel_default_port, "the Sentinel URL's sentinels");
    if (!split)
        return split.error();
    // The path: /master[/db].
    auto path_end = split->tail.find_first_of("?#");
    std::string_view path = split->tail.substr(0, path_end);
    std::string_view query = path_end == std::string_view::npos ? "" : split->tail.substr(path_end);
    if (path.size() < 2)
        return invalid("the Sentinel URL names no master (" + std::string(scheme) +
                       "://sentinel1:26379,sentinel2:26379/mymaster[/db])");
    path.remove_prefix(1);
    auto slash = path.find('/');
    std::string_view master = path.substr(0, slash);
    std::string_view db_path =
        slash == std::string_view::npos ? std::string_view() : path.substr(slash);
    if (!valid_master_name(master))
        return invalid("the Sentinel URL's master name '" + std::string(master) +
                       "' is not a valid name");
    std::string plain = split->plain(tls, std::string(db_path) + std::string(query));
    base.sentinel = {};
    base.cluster.seeds.clear();
    base.sentinel.sentinels = std::move(split->nodes); // before the query: sentinel_* options
    base.sentinel.master_name = master;
    return parse_url(plain, std::move(base), true);
}

// redis+cluster://[user:password@]h1[:port],h2[:port][/0][?options]: the seed list is taken
// out, and the rest read as the redis:// URL of the first seed would be. A cluster has only
// database 0.
result<config> cluster_from_url(std::string_view url, std::string_view scheme, bool tls,
                                config base) {
    auto split = split_multi_host_url(url, scheme, 6379, "the cluster URL's nodes");
    if (!split)
        return split.error();
    std::string plain = split->plain(tls, split->tail);
    base.sentinel = {};
    base.cluster.seeds = std::move(split->nodes); // before the query: read_from_replicas
    auto c = parse_url(plain, std::move(base), true);
    if (c && c->db != 0)
        return invalid("a Redis Cluster has only database 0; the cluster URL names database " +
                       std::to_string(c->db));
    return c;
}

} // namespace

retry_strategy exponential_backoff(duration base, duration cap) {
    return [base, cap](std::uint32_t attempt, error const&) -> std::optional<duration> {
        using rep = duration::rep;
        rep const b = std::max<rep>(base.count(), 0);
        rep const c = std::max<rep>(cap.count(), 0);
        std::uint32_t const shift = attempt == 0 ? 0 : attempt - 1;
        rep d = 0;
        if (b == 0)
            d = 0;
        else if (shift >= 62 || b > (c >> shift)) // b · 2^shift > c, checked without overflow
            d = c;
        else
            d = b << shift;
        // Uniform over the whole milliseconds in [ceil(d/2), d].
        rep const lo = d - d / 2;
        rep const span = d - lo;
        auto jitter = static_cast<rep>(fast_uniform01() * static_cast<double>(span + 1));
        return duration(lo + std::min(jitter, span));
    };
}

std::string config::redacted_url() const {
    std::string out;
    if (!unix_path.empty()) {
        // An absolute path gets the empty authority ("unix:///run/redis.sock"); a relative one
        // must not have one, or its first segment would read as a host.
        out = unix_path.front() == '/' ? "unix://" : "unix:";
        out += boost::urls::encode(unix_path, boost::urls::pchars + '/');
        char sep = '?';
        auto add = [&](std::string_view key, std::string_view value) {
            out += sep;
            out += key;
            out += '=';
            out += value;
            sep = '&';
        };
        if (db != 0)
            add("db", std::to_string(db));
        if (!username.empty())
            add("username", boost::urls::encode(username, boost::urls::unreserved_chars));
        if (!password.empty())
            add("password", "***");
        return out;
    }
    bool const via_sentinel = !sentinel.sentinels.empty();
    bool const is_cluster = !cluster.seeds.empty();
    if (via_sentinel)
        out = tls.enabled ? "rediss+sentinel://" : "redis+sentinel://";
    else if (is_cluster)
        out = tls.enabled ? "rediss+cluster://" : "redis+cluster://";
    else
        out = tls.enabled ? "rediss://" : "redis://";
    if (!username.empty() || !password.empty()) {
        out += encode_name(username);
        if (!password.empty())
            out += ":***";
        out += '@';
    }
    if (via_sentinel) {
        out += address_list(sentinel.sentinels);
        out += '/';
        out += sentinel.master_name;
        out += '/';
        out += std::to_string(db);
        if (!sentinel.password.empty())
            out += "?sentinel_password=***";
        return out;
    }
    if (is_cluster) {
        out += address_list(cluster.seeds);
        if (cluster.read_from_replicas)
            out += "?read_from_replicas=true";
        return out;
    }
    if (host.find(':') != std::string::npos)
        out += "[" + host + "]";
    else
        out += encode_name(host);
    out += ':';
    out += std::to_string(port);
    out += '/';
    out += std::to_string(db);
    return out;
}

namespace {
// The scheme of a URL, before "://" (empty when there is none).
std::string_view url_scheme(std::string_view url) noexcept {
    auto end = url.find("://");
    return end == std::string_view::npos ? std::string_view() : url.substr(0, end);
}
} // namespace

result<config> config_from_url(std::string_view url, config base) {
    // The Sentinel forms list several hosts, which no URL parser takes: they are split first.
    auto scheme = url_scheme(url);
    bool const sentinel_tls = iequals(scheme, "rediss+sentinel");
    if (sentinel_tls || iequals(scheme, "redis+sentinel") || iequals(scheme, "redis-sentinel"))
        return sentinel_from_url(url, scheme, sentinel_tls, std::move(base));
    bool const cluster_tls = iequals(scheme, "rediss+cluster");
    if (cluster_tls || iequals(scheme, "redis+cluster"))
        return cluster_from_url(url, scheme, cluster_tls, std::move(base));
    return parse_url(url, std::move(base), false);
}

namespace {
result<config> parse_url(std::string_view url, config base, bool keep_topology) {
    if (!keep_topology) {
        base.sentinel = {};
        base.cluster.seeds.clear();
    }
    // The URL itself is never quoted in an error: it may hold the password.
    if (!url_text_parsable(url))
        return invalid("the Redis URL is not a valid URL; expected redis://[user:password@]"
                       "host[:port][/db], rediss://… or unix:///path/to/redis.sock");
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed)
        return invalid("the Redis URL is not a valid URL (" + parsed.error().message() +
                       "); expected redis://[user:password@]host[:port][/db], rediss://… or "
                       "unix:///path/to/redis.sock");
    boost::urls::url_view const& u = *parsed;

    std::string_view scheme(u.scheme().data(), u.scheme().size());
    bool const is_unix = iequals(scheme, "unix");
    bool const tls = iequals(scheme, "rediss");
    if (!is_unix && !tls && !iequals(scheme, "redis"))
        return invalid(
            "unsupported scheme '" + std::string(scheme) +
            "' in the Redis URL (expected redis, rediss, unix, redis+sentinel or redis+cluster)");
    if (u.has_fragment())
        return invalid("the Redis URL has a fragment ('#…'), which means nothing here");

    config c = std::move(base);
    if ((!c.sentinel.sentinels.empty() || !c.cluster.seeds.empty()) && is_unix)
        return invalid("a unix: Redis URL cannot name Sentinel or a cluster");
    c.tls.enabled = tls;
    c.unix_path.clear();
    c.port = 6379;
    c.username.clear();
    c.password.clear();
    c.db = 0;

    bool user_from_userinfo = false;
    bool password_from_userinfo = false;
    std::optional<int> path_db;

    if (is_unix) {
        if (u.has_authority() && (!u.encoded_host().empty() || u.has_port()))
            return invalid("a unix: Redis URL takes no host or port (unix:///path/to/redis.sock)");
        if (u.has_userinfo())
            return invalid("a unix: Redis URL takes its credentials from the query "
                           "(?username=…&password=…)");
        c.unix_path = u.path();
        if (c.unix_path.empty())
            return invalid(
                "a unix: Redis URL needs the socket's path (unix:///path/to/redis.sock)");
    } else {
        if (!u.has_authority())
            return invalid("a " + std::string(scheme) + ": URL needs a host (" +
                           std::string(scheme) + "://host[:port][/db])");
        if (u.has_userinfo()) {
            c.username = u.user();
            user_from_userinfo = !c.username.empty();
            if (u.has_password()) {
                c.password = u.password();
                password_from_userinfo = !c.password.empty();
            }
        }
        switch (u.host_type()) {
        case boost::urls::host_type::name:
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            c.host = u.host_address();
            break;
        default:
            return invalid("unsupported host in the Redis URL (expected a name, an IPv4 address "
                           "or an IPv6 address in brackets)");
        }
        if (c.host.empty())
            return invalid("the Redis URL has no host (" + std::string(scheme) +
                           "://host[:port][/db])");
        if (u.has_port() && !u.port().empty()) {
            auto port = parse_port(std::string_view(u.port().data(), u.port().size()));
            if (!port)
                return invalid("invalid port '" + std::string(u.port()) +
                               "' in the Redis URL (expected 1 to 65535)");
            c.port = *port;
        }
        std::string_view path(u.encoded_path().data(), u.encoded_path().size());
        if (!path.empty() && path != "/") {
            auto db = path.front() == '/' ? parse_db(path.substr(1)) : std::nullopt;
            if (!db)
                return invalid("invalid database '" + std::string(path) +
                               "' in the Redis URL path (expected /" + std::string(db_range) + ")");
            c.db = *db;
            path_db = db;
        }
    }

    if (auto r = apply_query(u, c, tls, user_from_userinfo, password_from_userinfo, path_db); !r)
        return r.error();
    if (!c.username.empty() && c.password.empty())
        return invalid("the Redis URL has a username but no password: a username needs a "
                       "password (redis://user:password@host)");
    if (!c.sentinel.username.empty() && c.sentinel.password.empty())
        return invalid("the Sentinel URL has a sentinel_username but no sentinel_password");
    return c;
}
} // namespace

result<config> config_from_env(config base, std::function<char const*(char const*)> getenv) {
    auto get = [&](char const* name) -> std::string_view {
        char const* v = getenv ? getenv(name) : std::getenv(name);
        return v != nullptr ? std::string_view(v) : std::string_view();
    };

    auto sentinels = get("REDIS_SENTINELS");
    auto cluster_nodes = get("REDIS_CLUSTER_NODES");
    if (!sentinels.empty() && !cluster_nodes.empty())
        return invalid("both REDIS_SENTINELS and REDIS_CLUSTER_NODES are set: a Redis is one or "
                       "the other");
    if (auto url = get("REDIS_URL"); !url.empty()) {
        if (!sentinels.empty())
            return invalid("both REDIS_URL and REDIS_SENTINELS are set: keep one (REDIS_URL can "
                           "say redis+sentinel://s1:26379,s2:26379/mymaster)");
        if (!cluster_nodes.empty())
            return invalid("both REDIS_URL and REDIS_CLUSTER_NODES are set: keep one (REDIS_URL "
                           "can say redis+cluster://h1:7000,h2:7001)");
        auto c = config_from_url(url, std::move(base));
        if (!c)
            return error(c.error().code, "REDIS_URL: " + c.error().detail);
        // A Sentinel URL's sentinels may take their credentials from the environment.
        if (!c->sentinel.sentinels.empty() && c->sentinel.password.empty()) {
            c->sentinel.username = get("REDIS_SENTINEL_USERNAME");
            c->sentinel.password = get("REDIS_SENTINEL_PASSWORD");
        }
        return c;
    }

    config c = std::move(base);
    if (auto host = get("REDIS_HOST"); !host.empty()) {
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2); // "[::1]" as in a URL
        c.host = host;
        c.unix_path.clear();
    }
    if (auto port = get("REDIS_PORT"); !port.empty()) {
        auto p = parse_port(port);
        if (!p)
            return invalid("REDIS_PORT: invalid port '" + std::string(port) +
                           "' (expected 1 to 65535)");
        c.port = *p;
    }
    if (auto user = get("REDIS_USERNAME"); !user.empty())
        c.username = user;
    if (auto password = get("REDIS_PASSWORD"); !password.empty())
        c.password = password;
    if (auto db = get("REDIS_DB"); !db.empty()) {
        auto d = parse_db(db);
        if (!d)
            return invalid("REDIS_DB: invalid database '" + std::string(db) + "' (expected " +
                           std::string(db_range) + ")");
        c.db = *d;
    }
    if (auto tls = get("REDIS_TLS"); !tls.empty()) {
        auto b = parse_bool(tls);
        if (!b)
            return invalid("REDIS_TLS: expected true, false, 1 or 0, not '" + std::string(tls) +
                           "'");
        c.tls.enabled = *b;
    }
    if (!c.username.empty() && c.password.empty())
        return invalid("REDIS_USERNAME is set but there is no password: a username needs "
                       "REDIS_PASSWORD");
    c.sentinel = {};
    auto master = get("REDIS_SENTINEL_MASTER");
    if (!sentinels.empty()) {
        auto list = parse_node_list(sentinels, sentinel_default_port, "REDIS_SENTINELS");
        if (!list)
            return list.error();
        if (master.empty())
            return invalid("REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: name the "
                           "master the sentinels watch");
        if (!valid_master_name(master))
            return invalid("REDIS_SENTINEL_MASTER: '" + std::string(master) +
                           "' is not a valid name");
        c.sentinel.sentinels = std::move(*list);
        c.sentinel.master_name = master;
        c.sentinel.username = get("REDIS_SENTINEL_USERNAME");
        c.sentinel.password = get("REDIS_SENTINEL_PASSWORD");
        if (!c.sentinel.username.empty() && c.sentinel.password.empty())
            return invalid("REDIS_SENTINEL_USERNAME is set but there is no "
                           "REDIS_SENTINEL_PASSWORD");
    } else if (!master.empty()) {
        return invalid("REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS is not: list the "
                       "sentinels (REDIS_SENTINELS=s1:26379,s2:26379)");
    }
    c.cluster.seeds.clear();
    if (!cluster_nodes.empty()) {
        auto list = parse_node_list(cluster_nodes, 6379, "REDIS_CLUSTER_NODES");
        if (!list)
            return list.error();
        if (c.db != 0)
            return invalid("REDIS_DB=" + std::to_string(c.db) +
                           " with REDIS_CLUSTER_NODES: a Redis Cluster has only database 0");
        c.cluster.seeds = std::move(*list);
    }
    return c;
}

} // namespace mcpd::redis

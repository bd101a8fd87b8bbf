// apps/mcpd/config.cpp — the settings of `mcpd serve`, their sources and checks. See config.hpp.
#include "config.hpp"

#include "serve.hpp"

#include "core/boolean.hpp"
#include "core/log.hpp"
#include "core/redact.hpp"
#include "core/url_text.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/redis/config.hpp"

#include <boost/system/errc.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

namespace mcpd::app {

namespace {

error invalid(std::string what) {
    return error(make_error_code(boost::system::errc::invalid_argument), std::move(what));
}

std::string trim(std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front())))
        v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back())))
        v.remove_suffix(1);
    return std::string(v);
}

std::vector<std::string> split_list(std::string_view v, char separator = ',') {
    std::vector<std::string> out;
    while (true) {
        auto comma = v.find(separator);
        auto item = trim(v.substr(0, comma));
        if (!item.empty())
            out.push_back(item);
        if (comma == std::string_view::npos)
            break;
        v.remove_prefix(comma + 1);
    }
    return out;
}

std::optional<std::uint64_t> parse_size(std::string_view v) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || p == v.data())
        return std::nullopt;
    auto unit = trim(std::string_view(p, static_cast<std::size_t>(v.data() + v.size() - p)));
    std::uint64_t mult = 1;
    if (unit.empty() || unit == "B")
        mult = 1;
    else if (unit == "KiB")
        mult = 1024;
    else if (unit == "MiB")
        mult = 1024 * 1024;
    else if (unit == "GiB")
        mult = 1024ull * 1024 * 1024;
    else
        return std::nullopt;
    if (n > UINT64_MAX / mult)
        return std::nullopt;
    return n * mult;
}

// A checked value as the type of the serve_args field it fills (its kind says how to read it).
template <class T>
T value_as(setting_def const& d, setting_value const& v) {
    auto const& t = v.text();
    if constexpr (std::is_same_v<T, bool>) {
        return t == "true";
    } else if constexpr (std::is_same_v<T, std::string>) {
        return t;
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        return v.values;
    } else if constexpr (std::is_same_v<T, duration>) {
        return *parse_duration(t);
    } else {
        static_assert(std::is_integral_v<T>, "a setting fills a bool, string, list, duration or "
                                             "number");
        return static_cast<T>(d.kind == setting_kind::size ? *parse_size(t) : std::stoull(t));
    }
}

// apply: the serve_args field at the end of `Path` (members of members) takes the value.
template <auto... Path>
void into(serve_args& a, setting_def const& d, setting_value const& v) {
    auto& field = (a.*....*Path);
    field = value_as<std::remove_reference_t<decltype(field)>>(d, v);
}

} // namespace

std::vector<setting_def> const& serve_settings() {
    using k = setting_kind;
    static std::vector<setting_def> const defs = {
        // --- HTTP ---
        {.key = "host",
         .env = {"MCPD_HOST"},
         .default_value = "127.0.0.1",
         .help = "address to bind",
         .apply = into<&serve_args::host>},
        {.key = "port",
         .env = {"PORT", "MCPD_PORT"},
         .default_value = "3000",
         .kind = k::port,
         .help = "port to listen on (0 picks a free one)",
         .apply = into<&serve_args::port>},
        {.key = "stdio",
         .env = {"MCPD_STDIO"},
         .default_value = "false",
         .kind = k::boolean,
         .help = "serve one client on stdin/stdout instead of HTTP",
         .apply = into<&serve_args::stdio>},
        {.key = "json-response",
         .env = {"MCPD_JSON_RESPONSE"},
         .default_value = "false",
         .kind = k::boolean,
         .help = "answer POSTs with application/json unless a handler streams first (default: "
                 "SSE streams)",
         .apply = into<&serve_args::mcp, &server::http_transport_options::json_response>},
        {.key = "legacy-sse",
         .env = {"MCPD_LEGACY_SSE"},
         .default_value = "true",
         .kind = k::boolean,
         .help = "serve the legacy GET /sse + POST /messages transport",
         .flag_name = "no-legacy-sse",
         .flag_inverts = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::legacy_sse>},
        {.key = "allowed-host",
         .env = {"MCPD_ALLOWED_HOSTS"},
         .kind = k::list,
         .help = "also accept this Host name (repeatable; * for any)",
         .apply = into<&serve_args::allowed_hosts>},
        {.key = "allowed-origin",
         .env = {"MCPD_ALLOWED_ORIGINS"},
         .kind = k::list,
         .help = "accept this Origin (scheme://host[:port]; repeatable; * for any)",
         .apply = into<&serve_args::allowed_origins>},
        {.key = "guard",
         .env = {"MCPD_GUARDS"},
         .kind = k::list,
         .help = "guard a demo tool: <tool>=cache:300s,rate:30/1min,lock:<key>/30s (repeatable; "
                 "';' between them in MCPD_GUARDS or a file line; see docs/guards.md)",
         .list_separator = ';',
         .apply = into<&serve_args::guards>},
        {.key = "max-body",
         .env = {"MCPD_MAX_BODY"},
         .default_value = "4MiB",
         .kind = k::size,
         .help = "largest request body (HTTP) or line (stdio): bytes, KiB, MiB",
         .positive = true,
         .apply = into<&serve_args::http, &http::limits::max_body_bytes>},
        {.key = "page-size",
         .env = {"MCPD_PAGE_SIZE"},
         .default_value = "100",
         .kind = k::count,
         .help = "items per page of tools/list, resources/list, prompts/list …",
         .positive = true,
         .apply = into<&serve_args::page_size>},
        {.key = "request-timeout",
         .env = {"MCPD_REQUEST_TIMEOUT"},
         .default_value = "10s",
         .kind = k::duration,
         .help = "how long a client may take to send a whole request, from its first byte "
                 "(slow senders get 408)",
         .positive = true,
         .apply = into<&serve_args::http, &http::limits::request_timeout>},
        // --- budgets: what a client can make mcpd hold (docs/operations.md) ---
        {.key = "max-connections",
         .env = {"MCPD_MAX_CONNECTIONS"},
         .default_value = "4096",
         .kind = k::count,
         .help = "open HTTP connections in all; more are answered 503 and closed",
         .positive = true,
         .apply = into<&serve_args::http, &http::limits::max_connections>},
        {.key = "max-connections-per-client",
         .env = {"MCPD_MAX_CONNECTIONS_PER_CLIENT"},
         .default_value = "256",
         .kind = k::count,
         .help = "open HTTP connections from one address; more are answered 429 and closed",
         .positive = true,
         .apply = into<&serve_args::http, &http::limits::max_connections_per_client>},
        {.key = "max-idle-buffer",
         .env = {"MCPD_MAX_IDLE_BUFFER"},
         .default_value = "64KiB",
         .kind = k::size,
         .help = "buffer a keep-alive connection keeps between requests (more is freed)",
         .positive = true,
         .apply = into<&serve_args::http, &http::limits::max_idle_buffer_bytes>},
        {.key = "max-batch",
         .env = {"MCPD_MAX_BATCH"},
         .default_value = "1000",
         .kind = k::count,
         .help = "JSON-RPC messages in one batch (2025-03-26); a longer batch is refused whole",
         .positive = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::body,
                       &protocol::body_limits::max_batch>},
        {.key = "max-response",
         .env = {"MCPD_MAX_RESPONSE"},
         .default_value = "4MiB",
         .kind = k::size,
         .help = "largest message to a client (a tool result); a larger result is answered with "
                 "an error naming this limit",
         .positive = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::max_message_bytes>},
        {.key = "max-in-flight",
         .env = {"MCPD_MAX_IN_FLIGHT"},
         .default_value = "256",
         .kind = k::count,
         .help = "requests of one session served at once (more get 429)",
         .positive = true,
         .apply =
             into<&serve_args::mcp, &server::http_transport_options::max_in_flight_per_session>},
        {.key = "max-sessions",
         .env = {"MCPD_MAX_SESSIONS"},
         .default_value = "10000",
         .kind = k::count,
         .help = "MCP sessions held in memory at once (initialize beyond it gets 503)",
         .positive = true,
         .apply = into<&serve_args::max_sessions>},
        {.key = "max-sessions-per-client",
         .env = {"MCPD_MAX_SESSIONS_PER_CLIENT"},
         .default_value = "1000",
         .kind = k::count,
         .help = "MCP sessions one address created that are held here (initialize beyond it "
                 "gets 429)",
         .positive = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::max_sessions_per_client>},
        {.key = "max-streams-per-client",
         .env = {"MCPD_MAX_STREAMS_PER_CLIENT"},
         .default_value = "64",
         .kind = k::count,
         .help = "open GET /mcp and GET /sse streams of one address (more get 429)",
         .positive = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::max_streams_per_client>},
        {.key = "replay-per-session",
         .env = {"MCPD_REPLAY_PER_SESSION"},
         .default_value = "4MiB",
         .kind = k::size,
         .help = "SSE events kept for Last-Event-ID per session (the oldest go first)",
         .positive = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::replay,
                       &server::event_store_limits::bytes_per_session>},
        {.key = "replay-total",
         .env = {"MCPD_REPLAY_TOTAL"},
         .default_value = "256MiB",
         .kind = k::size,
         .help = "SSE events kept for Last-Event-ID in all (the least recently written "
                 "sessions' go first)",
         .positive = true,
         .apply = into<&serve_args::mcp, &server::http_transport_options::replay,
                       &server::event_store_limits::bytes_total>},
        {.key = "threads",
         .env = {"MCPD_THREADS"},
         .default_value = "0",
         .kind = k::count,
         .help = "event loops, one per thread, sharing the port (the kernel spreads connections); "
                 "0: one per core (docs/fleet.md)",
         .apply = into<&serve_args::threads>},
        {.key = "fleet",
         .env = {"MCPD_FLEET"},
         .default_value = "true",
         .kind = k::boolean,
         .help = "with the session storage on Redis, serve as one of a fleet: any instance "
                 "serves any request of any session, SSE events kept in Redis (docs/fleet.md)",
         .apply = into<&serve_args::fleet>},
        {.key = "replay-ttl",
         .env = {"MCPD_REPLAY_TTL"},
         .default_value = "10min",
         .kind = k::duration,
         .help = "in a fleet, how long Redis keeps a stream's SSE events for Last-Event-ID "
                 "after its last one",
         .positive = true,
         .apply = into<&serve_args::fleet_options, &server::fleet_options::replay_ttl>},
        {.key = "max-client-state",
         .env = {"MCPD_MAX_CLIENT_STATE"},
         .default_value = "64KiB",
         .kind = k::size,
         .help = "a session's clientInfo and capabilities as JSON (initialize beyond it is an "
                 "error)",
         .positive = true,
         .apply = into<&serve_args::session, &server::session_limits::max_client_state_bytes>},
        {.key = "max-subscriptions",
         .env = {"MCPD_MAX_SUBSCRIPTIONS"},
         .default_value = "1000",
         .kind = k::count,
         .help = "resources/subscribe URIs of one session",
         .positive = true,
         .apply = into<&serve_args::session, &server::session_limits::max_subscriptions>},
        {.key = "max-uri",
         .env = {"MCPD_MAX_URI"},
         .default_value = "8KiB",
         .kind = k::size,
         .help = "one subscribed resource URI",
         .positive = true,
         .apply = into<&serve_args::session, &server::session_limits::max_uri_bytes>},
        {.key = "max-pending-client-requests",
         .env = {"MCPD_MAX_PENDING_CLIENT_REQUESTS"},
         .default_value = "64",
         .kind = k::count,
         .help = "sampling, elicitation and roots requests of one session awaiting the client",
         .positive = true,
         .apply = into<&serve_args::session, &server::session_limits::max_pending_client_requests>},
        {.key = "drain-timeout",
         .env = {"MCPD_DRAIN_TIMEOUT"},
         .default_value = "30s",
         .kind = k::duration,
         .help = "on SIGTERM/SIGINT, how long to wait for requests in flight and streams",
         .apply = into<&serve_args::drain_timeout>},
        {.key = "shutdown-delay",
         .env = {"MCPD_SHUTDOWN_DELAY"},
         .default_value = "0s",
         .kind = k::duration,
         .help = "on SIGTERM/SIGINT, keep the listener open this long while /ready answers 503 "
                 "and new sessions are refused, so that load balancers stop sending first",
         .apply = into<&serve_args::shutdown_delay>},
        {.key = "ready-interval",
         .env = {"MCPD_READY_INTERVAL"},
         .default_value = "5s",
         .kind = k::duration,
         .help = "how often /ready's dependency checks run",
         .positive = true,
         .apply = into<&serve_args::ready, &server::operations_options::interval>},
        {.key = "ready-timeout",
         .env = {"MCPD_READY_TIMEOUT"},
         .default_value = "1s",
         .kind = k::duration,
         .help = "each readiness check's own time limit",
         .positive = true,
         .apply = into<&serve_args::ready, &server::operations_options::timeout>},
        {.key = "conformance",
         .env = {"MCPD_CONFORMANCE"},
         .default_value = "false",
         .kind = k::boolean,
         .help = "also register the MCP conformance suite's fixture tools, resources and "
                 "prompts",
         .apply = into<&serve_args::conformance>},
        {.key = "state-key",
         .env = {"MCPD_STATE_KEY"},
         .kind = k::hex_key,
         .help = "64 hex characters sealing stateless requests' requestState (a fleet shares "
                 "it); unset: random per process",
         .secret = true,
         .no_flag = true,
         .apply = into<&serve_args::state_key>},
        // --- the client gateway (/gateway; docs/gateway.md) ---
        {.key = "gateway",
         .env = {"MCPD_GATEWAY"},
         .default_value = "true",
         .kind = k::boolean,
         .help = "serve the MCP client gateway for browsers (GET/POST /gateway)",
         .flag_name = "no-gateway",
         .flag_inverts = true,
         .apply = into<&serve_args::gateway, &gateway_args::enabled>},
        {.key = "gateway-token",
         .env = {"MCPD_GATEWAY_TOKEN"},
         .help = "TRUSTED BACKEND token: a request to /gateway carrying it (Authorization: "
                 "Bearer … or X-Gateway-Token) acts as ANY identity; for server-to-server calls "
                 "only, never give it to a browser (browsers get gateway-secret tokens)",
         .secret = true,
         .no_flag = true,
         .apply = into<&serve_args::gateway, &gateway_args::token>},
        {.key = "gateway-secret",
         .env = {"MCPD_GATEWAY_SECRET"},
         .help = "key of per-identity /gateway tokens (v1.<expiry>.<hex HMAC-SHA256(secret, "
                 "identity.expiry)>, minted by the app backend or `mcpd gateway token`) and of "
                 "the Redis fan-out's message seal; at least 32 characters",
         .secret = true,
         .no_flag = true,
         .apply = into<&serve_args::gateway, &gateway_args::secret>},
        {.key = "gateway-allowed-servers",
         .env = {"MCPD_GATEWAY_ALLOWED_SERVERS"},
         .kind = k::list,
         .help = "remote MCP servers the gateway may connect to: host names (*.example.com "
                 "for subdomains) or URL prefixes (https://mcp.example.com/); unset: any "
                 "server on a public address",
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::allowed_servers>},
        {.key = "gateway-max-result-size",
         .env = {"MCPD_GATEWAY_MAX_RESULT_SIZE"},
         .default_value = "16MiB",
         .kind = k::size,
         .help = "the largest RPC answer /gateway sends (a bigger one is an EXECUTION_ERROR "
                 "naming this limit); answers and events over 256 KiB are not copied to the "
                 "identity's other streams",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::max_result_bytes>},
        {.key = "gateway-max-tools",
         .env = {"MCPD_GATEWAY_MAX_TOOLS"},
         .default_value = "1000",
         .kind = k::count,
         .help = "tool discovery: at most this many tools per server",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::max_tools>},
        {.key = "gateway-max-tools-size",
         .env = {"MCPD_GATEWAY_MAX_TOOLS_SIZE"},
         .default_value = "4MiB",
         .kind = k::size,
         .help = "tool discovery: at most this many bytes of tool definitions per server",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::max_tools_bytes>},
        {.key = "gateway-discovery-timeout",
         .env = {"MCPD_GATEWAY_DISCOVERY_TIMEOUT"},
         .default_value = "30s",
         .kind = k::duration,
         .help = "tool discovery: the whole tools/list (every page) within this",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::discovery_timeout>},
        {.key = "gateway-max-sessions-per-identity",
         .env = {"MCPD_GATEWAY_MAX_SESSIONS_PER_IDENTITY"},
         .default_value = "50",
         .kind = k::count,
         .help = "stored gateway sessions one identity may have (connect refuses more)",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::max_sessions_per_identity>},
        {.key = "gateway-max-connections-per-identity",
         .env = {"MCPD_GATEWAY_MAX_CONNECTIONS_PER_IDENTITY"},
         .default_value = "20",
         .kind = k::count,
         .help = "live connections to remote servers one identity may hold on this instance",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::max_live_per_identity>},
        {.key = "gateway-max-connections",
         .env = {"MCPD_GATEWAY_MAX_CONNECTIONS"},
         .default_value = "1000",
         .kind = k::count,
         .help = "live connections to remote servers this instance holds in all",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::max_live_total>},
        {.key = "gateway-max-rpcs-per-identity",
         .env = {"MCPD_GATEWAY_MAX_RPCS_PER_IDENTITY"},
         .default_value = "16",
         .kind = k::count,
         .help = "RPCs of one identity answered at once (more get 429)",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::max_rpcs_per_identity>},
        {.key = "gateway-idle-timeout",
         .env = {"MCPD_GATEWAY_IDLE_TIMEOUT"},
         .default_value = "30min",
         .kind = k::duration,
         .help = "close a connection unused this long whose identity has no open event stream "
                 "(its record stays; 0: never)",
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::idle_timeout>},
        {.key = "gateway-allow-private-servers",
         .env = {"MCPD_GATEWAY_ALLOW_PRIVATE_SERVERS"},
         .default_value = "false",
         .kind = k::boolean,
         .help = "development: let the gateway reach servers (and OAuth endpoints) on "
                 "loopback, private, link-local and other non-public addresses",
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::allow_private_servers>},
        {.key = "gateway-dev",
         .env = {"MCPD_GATEWAY_DEV"},
         .default_value = "false",
         .kind = k::boolean,
         .help = "development: /gateway needs no token when mcpd is bound to loopback and the "
                 "peer is loopback",
         .apply = into<&serve_args::gateway, &gateway_args::dev>},
        {.key = "gateway-heartbeat",
         .env = {"MCPD_GATEWAY_HEARTBEAT"},
         .default_value = "30s",
         .kind = k::duration,
         .help = "heartbeat interval on /gateway event streams",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::heartbeat>},
        {.key = "gateway-connect-timeout",
         .env = {"MCPD_GATEWAY_CONNECT_TIMEOUT"},
         .default_value = "15s",
         .kind = k::duration,
         .help = "limit of one connection attempt to a remote MCP server",
         .positive = true,
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::connect_timeout>},
        {.key = "gateway-retries",
         .env = {"MCPD_GATEWAY_RETRIES"},
         .default_value = "2",
         .kind = k::count,
         .help = "restoring all sessions: attempts after the first, per session",
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::max_retries>},
        {.key = "gateway-retry-delay",
         .env = {"MCPD_GATEWAY_RETRY_DELAY"},
         .default_value = "1s",
         .kind = k::duration,
         .help = "restoring all sessions: the wait between attempts",
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::retry_delay>},
        {.key = "gateway-oauth-client-name",
         .env = {"MCPD_GATEWAY_OAUTH_CLIENT_NAME"},
         .default_value = "mcpd",
         .help = "client_name the gateway registers with remote servers' authorization servers "
                 "(OAuth dynamic client registration)",
         .apply = into<&serve_args::gateway, &gateway_args::oauth_client_name>},
        {.key = "gateway-oauth-scope",
         .env = {"MCPD_GATEWAY_OAUTH_SCOPE"},
         .help = "OAuth scope to ask for when a remote server names none",
         .apply = into<&serve_args::gateway, &gateway_args::oauth_scope>},
        {.key = "gateway-ping-interval",
         .env = {"MCPD_GATEWAY_PING_INTERVAL"},
         .default_value = "0s",
         .kind = k::duration,
         .help = "ping remote MCP servers this often; one that stops answering fails its "
                 "session (0: off; a broken stream or refused request still does)",
         .apply = into<&serve_args::gateway, &gateway_args::manager,
                       &gateway::manager_options::client, &client::session_options::ping_interval>},
        // --- logs ---
        {.key = "log-level",
         .env = {"MCPD_LOG_LEVEL"},
         .default_value = "info",
         .kind = k::choice,
         .help = "trace, debug, info, warn, error, off",
         .choices = {"trace", "debug", "info", "warn", "warning", "error", "off"},
         .apply = into<&serve_args::log_level>},
        {.key = "log-format",
         .env = {"MCPD_LOG_FORMAT"},
         .default_value = "auto",
         .kind = k::choice,
         .help = "text, json, or auto (text on a terminal, else JSON lines)",
         .choices = {"auto", "text", "json"},
         .apply = into<&serve_args::log_format>},
        // --- storage (as @mcp-ts/sdk selects it) ---
        {.key = "storage-type",
         .env = {"MCP_TS_STORAGE_TYPE"},
         .kind = k::choice,
         .help = "session storage; unset: auto-detect (REDIS_URL, MCP_TS_STORAGE_FILE, "
                 "MCP_TS_STORAGE_SQLITE_PATH, SUPABASE_DB_URL/DATABASE_URL), else SQLite "
                 "./sessions.db",
         .choices = {"redis", "file", "sqlite", "postgres", "supabase", "memory"}},
        {.key = "storage-required",
         .env = {"MCP_TS_STORAGE_REQUIRED"},
         .default_value = "false",
         .kind = k::boolean,
         .help = "fail instead of falling back to memory when Redis is unreachable at start",
         .apply = into<&serve_args::storage_required>},
        {.key = "storage-file", .env = {"MCP_TS_STORAGE_FILE"}, .help = "JSON file storage path"},
        {.key = "storage-sqlite-path",
         .env = {"MCP_TS_STORAGE_SQLITE_PATH"},
         .help = "SQLite storage path"},
        {.key = "database-url",
         .env = {"DATABASE_URL"},
         .kind = k::dsn,
         .help = "PostgreSQL connection string"},
        {.key = "supabase-db-url",
         .env = {"SUPABASE_DB_URL"},
         .kind = k::dsn,
         .help = "Supabase database connection string"},
        {.key = "supabase-url",
         .env = {"SUPABASE_URL"},
         .kind = k::url,
         .help = "Supabase REST API URL (not enough by itself: mcpd needs SUPABASE_DB_URL)"},
        {.key = "storage-encryption-key",
         .env = {"STORAGE_ENCRYPTION_KEY"},
         .kind = k::hex_key,
         .help = "64 hex characters: secrets at rest are sealed with AES-256-GCM",
         .secret = true,
         .no_flag = true},
        // --- Redis ---
        {.key = "redis-url",
         .env = {"REDIS_URL"},
         .kind = k::url,
         .help = "redis://[user:password@]host[:port][/db], rediss://…, unix:///path, "
                 "redis+sentinel://s1:26379,s2:26379/master[/db], redis+cluster://h1:7000,h2:7001"},
        {.key = "redis-host", .env = {"REDIS_HOST"}, .help = "Redis host (without REDIS_URL)"},
        {.key = "redis-port",
         .env = {"REDIS_PORT"},
         .kind = k::port,
         .help = "Redis port (without REDIS_URL)"},
        {.key = "redis-username", .env = {"REDIS_USERNAME"}, .help = "Redis ACL user name"},
        {.key = "redis-password",
         .env = {"REDIS_PASSWORD"},
         .help = "Redis password",
         .secret = true,
         .no_flag = true},
        {.key = "redis-db", .env = {"REDIS_DB"}, .help = "Redis database number"},
        {.key = "redis-tls",
         .env = {"REDIS_TLS"},
         .kind = k::boolean,
         .help = "TLS to Redis (without REDIS_URL)"},
        {.key = "redis-cluster-nodes",
         .env = {"REDIS_CLUSTER_NODES"},
         .help = "host:port of Redis Cluster seed nodes, comma-separated (without REDIS_URL)"},
        {.key = "redis-sentinels",
         .env = {"REDIS_SENTINELS"},
         .help = "host:port of each Sentinel, comma-separated (without REDIS_URL)"},
        {.key = "redis-sentinel-master",
         .env = {"REDIS_SENTINEL_MASTER"},
         .help = "the master's name the sentinels watch"},
        {.key = "redis-sentinel-username",
         .env = {"REDIS_SENTINEL_USERNAME"},
         .help = "the sentinels' ACL user name"},
        {.key = "redis-sentinel-password",
         .env = {"REDIS_SENTINEL_PASSWORD"},
         .help = "the sentinels' password",
         .secret = true,
         .no_flag = true},
        {.key = "redis-key-prefix",
         .env = {"REDIS_KEY_PREFIX"},
         .default_value = "mcp:",
         .help = "prefix of the guards' Redis keys"},
    };
    return defs;
}

std::string const& setting_value::text() const {
    static std::string const empty;
    return values.empty() ? empty : values.front();
}

void configuration::add_flags(CLI::App& cmd) {
    options_["config"] = cmd.add_option("--config", config_path_,
                                        "settings file: `key = value` lines (see `mcpd config "
                                        "print`); flags > environment > file > defaults");
    for (auto const& d : serve_settings()) {
        if (d.no_flag)
            continue;
        std::string name = "--" + std::string(d.flag_name.empty() ? d.key : d.flag_name);
        std::string help(d.help);
        if (!d.env.empty())
            help += " ($" + std::string(d.env.front()) + ")";
        std::string key(d.key);
        CLI::Option* opt = nullptr;
        if (d.kind == setting_kind::boolean)
            opt = cmd.add_flag(name, flag_bools_[key], help);
        else if (d.kind == setting_kind::list)
            opt = cmd.add_option(name, flag_lists_[key], help);
        else
            opt = cmd.add_option(name, flag_text_[key], help);
        options_[key] = opt;
    }
}

result<void> configuration::load_file(std::string const& path) {
    std::ifstream in(path);
    if (!in)
        return invalid("--config " + path + ": cannot be read");
    std::string line;
    int no = 0;
    std::map<std::string, setting_value, std::less<>> from_file;
    while (std::getline(in, line)) {
        ++no;
        auto t = trim(line);
        if (t.empty() || t.front() == '#')
            continue;
        auto where = path + ":" + std::to_string(no);
        auto eq = t.find('=');
        if (eq == std::string::npos)
            return invalid(where + ": expected `key = value`, got \"" + t + "\"");
        auto key = trim(std::string_view(t).substr(0, eq));
        auto value = trim(std::string_view(t).substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        auto const& defs = serve_settings();
        auto def = std::find_if(defs.begin(), defs.end(),
                                [&](setting_def const& d) { return d.key == key; });
        if (def == defs.end())
            return invalid(where + ": unknown setting \"" + key + "\" (see `mcpd config print`)");
        auto& v = from_file[key];
        if (def->kind == setting_kind::list) {
            for (auto& item : split_list(value, def->list_separator))
                v.values.push_back(std::move(item));
        } else {
            if (v.from == source::file)
                return invalid(where + ": " + key + " is set twice (also at " + v.origin + ")");
            v.values = {value};
        }
        v.from = source::file;
        v.origin = "file " + where;
    }
    for (auto& [key, v] : from_file)
        values_[key] = std::move(v);
    return {};
}

result<void> configuration::load(std::function<char const*(char const*)> getenv,
                                 std::map<std::string, std::string> const& extra_flags) {
    if (!getenv)
        getenv = [](char const* n) { return static_cast<char const*>(std::getenv(n)); };
    values_.clear();
    for (auto const& d : serve_settings()) {
        setting_value v;
        if (!d.default_value.empty())
            v.values = {std::string(d.default_value)};
        v.origin = "default";
        values_[std::string(d.key)] = std::move(v);
    }
    // The file's own path may come from the environment too.
    auto* config_opt = options_.count("config") ? options_["config"] : nullptr;
    if ((config_opt == nullptr || config_opt->count() == 0))
        if (char const* p = getenv("MCPD_CONFIG"); p != nullptr && *p != '\0')
            config_path_ = p;
    if (!config_path_.empty())
        if (auto r = load_file(config_path_); !r)
            return r;
    for (auto const& d : serve_settings()) {
        auto& v = values_[std::string(d.key)];
        for (auto name : d.env) {
            std::string n(name);
            char const* e = getenv(n.c_str());
            if (e == nullptr || *e == '\0')
                continue;
            if (d.kind == setting_kind::list)
                v.values = split_list(e, d.list_separator);
            else
                v.values = {e};
            v.from = source::env;
            v.origin = "env " + n;
            break;
        }
        std::string key(d.key);
        if (auto it = extra_flags.find(key); it != extra_flags.end()) {
            v.values = {it->second};
            v.from = source::flag;
            v.origin = "flag --" + key;
        }
        auto opt = options_.find(key);
        if (opt == options_.end() || opt->second->count() == 0)
            continue;
        if (d.kind == setting_kind::boolean)
            v.values = {(flag_bools_[key] != d.flag_inverts) ? "true" : "false"};
        else if (d.kind == setting_kind::list)
            v.values = flag_lists_[key];
        else
            v.values = {flag_text_[key]};
        v.from = source::flag;
        v.origin = "flag --" + std::string(d.flag_name.empty() ? d.key : d.flag_name);
    }
    for (auto const& d : serve_settings()) {
        auto& v = values_[std::string(d.key)];
        if (auto r = check(d, v); !r)
            return r;
        // A flag is on every user's `ps`: a connection string with a password belongs in the
        // environment or the config file.
        bool has_secret = (d.kind == setting_kind::url || d.kind == setting_kind::dsn) && v.set() &&
                          redact(v.text()) != v.text();
        if (v.from == source::flag && has_secret)
            return invalid(std::string(d.key) + " (" + v.origin + "): \"" + redact(v.text()) +
                           "\" carries a secret, and a flag is visible to every user of this "
                           "machine (ps); set " +
                           (d.env.empty() ? std::string() : std::string(d.env.front()) + " or ") +
                           std::string(d.key) + " in --config instead");
    }
    // Settings checked together.
    auto ready_interval = parse_duration(text("ready-interval"));
    auto ready_timeout = parse_duration(text("ready-timeout"));
    if (*ready_timeout > *ready_interval && get("ready-timeout").from == source::default_value) {
        auto& t = values_["ready-timeout"];
        t.values = {text("ready-interval")};
        t.origin = "default, capped by ready-interval";
    } else if (*ready_timeout > *ready_interval)
        return invalid("ready-timeout (" + text("ready-timeout") + ", " +
                       get("ready-timeout").origin + ") must not exceed ready-interval (" +
                       text("ready-interval") + ", " + get("ready-interval").origin + ")");
    env_view_.clear();
    for (auto const& d : serve_settings()) {
        auto const& v = get(d.key);
        if (!v.set() || d.env.empty())
            continue;
        std::string joined;
        for (auto const& item : v.values)
            joined += (joined.empty() ? "" : ",") + item;
        for (auto name : d.env)
            env_view_[std::string(name)] = joined;
    }
    // Redis settings as the Redis client reads them: a bad URL or port is reported now.
    bool any_redis = false;
    for (auto key : {"redis-url", "redis-host", "redis-port", "redis-username", "redis-password",
                     "redis-db", "redis-tls", "redis-cluster-nodes", "redis-sentinels",
                     "redis-sentinel-master", "redis-sentinel-username", "redis-sentinel-password"})
        any_redis = any_redis || get(key).set();
    if (any_redis) {
        auto cfg = redis::config_from_env({}, as_getenv());
        if (!cfg)
            return invalid("Redis settings: " + cfg.error().detail);
    }
    return {};
}

result<void> configuration::check(setting_def const& d, setting_value& v) const {
    if (!v.set())
        return {};
    auto fail = [&](std::string why) {
        auto shown_value = d.secret ? std::string("***") : redact(v.text());
        return invalid("invalid setting " + std::string(d.key) + " = \"" + shown_value + "\" (" +
                       v.origin + "): " + why);
    };
    auto const& t = v.text();
    switch (d.kind) {
    case setting_kind::text:
    case setting_kind::list:
        break;
    case setting_kind::boolean:
        if (auto b = parse_bool(t); !b)
            return fail("expected true or false (also 1/0, yes/no, on/off)");
        else
            v.values = {*b ? "true" : "false"};
        break;
    case setting_kind::port: {
        unsigned n = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (ec != std::errc{} || p != t.data() + t.size() || n > 65535)
            return fail("expected a port number from 0 to 65535");
        break;
    }
    case setting_kind::size: {
        auto n = parse_size(t);
        if (!n)
            return fail("expected a size in bytes (e.g. 1048576, 512KiB, 4MiB)");
        if (d.positive && *n == 0)
            return fail("must be more than zero");
        break;
    }
    case setting_kind::count: {
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (t.empty() || ec != std::errc{} || p != t.data() + t.size())
            return fail("expected a whole number");
        if (d.positive && n == 0)
            return fail("must be more than zero");
        break;
    }
    case setting_kind::duration: {
        auto du = parse_duration(t);
        if (!du)
            return fail(du.error().detail);
        if (d.positive && du->count() <= 0)
            return fail("must be more than zero");
        break;
    }
    case setting_kind::choice:
        if (std::find(d.choices.begin(), d.choices.end(), t) == d.choices.end()) {
            std::string all;
            for (auto c : d.choices)
                all += (all.empty() ? "" : ", ") + std::string(c);
            return fail("expected one of " + all);
        }
        break;
    case setting_kind::url:
        if (d.key == "redis-url") { // its own forms (several hosts for Sentinel), exactly checked
            if (auto c = redis::config_from_url(t); !c)
                return fail(c.error().detail);
            break;
        }
        if (!url_text_parsable(t) || !boost::urls::parse_absolute_uri(t))
            return fail("not an absolute URL (scheme://…)");
        break;
    case setting_kind::dsn:
        if ((!url_text_parsable(t) || !boost::urls::parse_absolute_uri(t)) &&
            t.find('=') == std::string::npos)
            return fail("neither a URL (postgresql://…) nor key=value pairs (host=… dbname=…)");
        break;
    case setting_kind::hex_key:
        if (t.size() != 64 || !std::all_of(t.begin(), t.end(), [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) != 0;
            }))
            return fail("expected 64 hex characters (a 256-bit key; e.g. `openssl rand -hex 32`)");
        break;
    }
    return {};
}

setting_value const& configuration::get(std::string_view key) const {
    auto it = values_.find(key);
    if (it == values_.end())
        throw std::logic_error("unknown setting " + std::string(key));
    return it->second;
}

bool configuration::flag(std::string_view key) const {
    return get(key).text() == "true";
}

std::function<char const*(char const*)> configuration::as_getenv() const {
    return [this](char const* name) -> char const* {
        for (auto const& d : serve_settings())
            for (auto n : d.env)
                if (n == name) {
                    auto it = env_view_.find(name);
                    return it == env_view_.end() ? nullptr : it->second.c_str();
                }
        return std::getenv(name);
    };
}

std::string configuration::shown(std::string_view key) const {
    auto const& defs = serve_settings();
    auto def =
        std::find_if(defs.begin(), defs.end(), [&](setting_def const& d) { return d.key == key; });
    auto const& v = get(key);
    if (!v.set())
        return {};
    if (def->secret)
        return "***";
    std::string out;
    for (auto const& item : v.values)
        out += (out.empty() ? "" : ", ") +
               (def->kind == setting_kind::url || def->kind == setting_kind::dsn ? redact(item)
                                                                                 : item);
    return out;
}

std::string configuration::print() const {
    std::ostringstream out;
    out << "# mcpd serve: effective settings (flags > environment > config file > defaults)\n";
    for (auto const& d : serve_settings()) {
        auto const& v = get(d.key);
        std::string line = std::string(d.key) + " = " + shown(d.key);
        if (line.size() < 40)
            line.resize(40, ' ');
        std::string origin = v.set() ? v.origin : std::string("unset");
        out << line << " # " << origin;
        if (!d.env.empty()) {
            out << " (env";
            for (auto n : d.env)
                out << ' ' << n;
            out << ')';
        }
        out << '\n';
    }
    return out.str();
}

serve_args serve_args_from(configuration const& cfg) {
    serve_args a;
    for (auto const& d : serve_settings())
        if (d.apply != nullptr)
            d.apply(a, d, cfg.get(d.key));
    a.getenv = cfg.as_getenv();
    return a;
}

} // namespace mcpd::app

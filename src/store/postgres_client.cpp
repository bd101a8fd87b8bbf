// store/postgres_client.cpp — libpq's asynchronous API on Asio: error categories, one
// connection's state machine (connect, send, flush, receive), host resolution, and the pool.
#include "store/postgres_client.hpp"

#include "core/error_category.hpp"
#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <deque>
#include <utility>

namespace mcpd::store::pg {

namespace asio = boost::asio;
using asio::awaitable;
using boost::system::error_code;

namespace {

std::string client_message(int ev) {
    switch (static_cast<client_errc>(ev)) {
    case client_errc::invalid_conninfo:
        return "invalid PostgreSQL connection string";
    case client_errc::connect_failed:
        return "cannot connect to PostgreSQL";
    case client_errc::connection_lost:
        return "the PostgreSQL connection was lost; the statement may or may not have run";
    case client_errc::timeout:
        return "PostgreSQL did not answer in time";
    case client_errc::closed:
        return "the PostgreSQL client is closed";
    case client_errc::unexpected_result:
        return "unexpected PostgreSQL result";
    }
    return {};
}

// SQLSTATEs are five characters from [0-9A-Z]: read as a base-36 number (plus one, so that
// "00000", success, is not the zero error code).
std::string decode_sqlstate(int ev) {
    std::string s(5, '0');
    auto v = static_cast<unsigned>(ev - 1);
    for (int i = 4; i >= 0; --i) {
        unsigned d = v % 36;
        s[static_cast<std::size_t>(i)] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
        v /= 36;
    }
    return s;
}

std::string server_message(int ev) {
    return "PostgreSQL error " + decode_sqlstate(ev);
}

error client_error(client_errc e, std::string detail) {
    return error(make_error_code(e), std::move(detail));
}

// libpq's messages end in a newline and may span lines: one line for logs and details.
std::string tidy(char const* message) {
    std::string s;
    for (char const* p = message ? message : ""; *p; ++p) {
        bool space = *p == '\n' || *p == '\t' || *p == ' ';
        if (!space)
            s += *p;
        else if (!s.empty() && s.back() != ' ')
            s += ' ';
    }
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return s;
}

struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// A server's error result as an error: SQLSTATE code, primary message (+ detail, hint).
error server_error(PGresult const* r) {
    char const* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char const* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    char const* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    char const* hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
    std::string text = primary ? std::string(primary) : tidy(PQresultErrorMessage(r));
    if (detail)
        text += std::string(" (") + detail + ")";
    if (hint)
        text += std::string(" (hint: ") + hint + ")";
    if (!state)
        return client_error(client_errc::unexpected_result, std::move(text));
    return error(sqlstate_error(state), std::move(text));
}

rows read_rows(PGresult* r) {
    rows out;
    int n = PQntuples(r);
    int m = PQnfields(r);
    out.values.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto& row = out.values.emplace_back();
        row.reserve(static_cast<std::size_t>(m));
        for (int j = 0; j < m; ++j) {
            if (PQgetisnull(r, i, j))
                row.emplace_back();
            else
                row.emplace_back(std::string(PQgetvalue(r, i, j),
                                             static_cast<std::size_t>(PQgetlength(r, i, j))));
        }
    }
    std::string_view touched = PQcmdTuples(r);
    std::from_chars(touched.data(), touched.data() + touched.size(), out.affected);
    return out;
}

// Connection parameters as libpq's keyword/value pairs.
struct conn_params {
    std::vector<std::pair<std::string, std::string>> pairs;

    [[nodiscard]] std::string get(std::string_view key) const {
        for (auto const& [k, v] : pairs)
            if (k == key)
                return v;
        return {};
    }
    void set(std::string_view key, std::string value) {
        for (auto& [k, v] : pairs)
            if (k == key) {
                v = std::move(value);
                return;
            }
        pairs.emplace_back(std::string(key), std::move(value));
    }
};

result<conn_params> parse_conninfo(std::string const& conninfo) {
    char* message = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &message);
    if (!options) {
        std::string why = message ? tidy(message) : "out of memory";
        PQfreemem(message);
        return client_error(client_errc::invalid_conninfo, std::move(why));
    }
    conn_params p;
    for (auto const* o = options; o->keyword; ++o)
        if (o->val)
            p.pairs.emplace_back(o->keyword, o->val);
    PQconninfoFree(options);
    if (p.get("fallback_application_name").empty())
        p.set("fallback_application_name", "mcpd");
    return p;
}

std::vector<std::string> split(std::string const& s, char sep) {
    std::vector<std::string> out;
    if (s.empty())
        return out;
    std::size_t start = 0;
    for (;;) {
        auto end = s.find(sep, start);
        out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos)
            return out;
        start = end + 1;
    }
}

std::string join(std::vector<std::string> const& parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i)
        out += (i ? "," : "") + parts[i];
    return out;
}

// libpq resolves host names with getaddrinfo(), which blocks. Resolve them here with Asio's
// resolver (off the I/O thread) and hand libpq the addresses as hostaddr, one entry per
// address, so it still tries each in turn; the host names stay for TLS verification.
awaitable<result<conn_params>> resolve_hosts(conn_params p, asio::any_io_executor ex,
                                             duration limit) {
    if (!p.get("hostaddr").empty())
        co_return p; // addresses given: libpq does no lookup
    auto hosts = split(p.get("host"), ',');
    if (hosts.empty())
        co_return p; // the default Unix socket
    auto ports = split(p.get("port"), ',');
    bool port_per_host = ports.size() > 1 && ports.size() == hosts.size();
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(ex);
    asio::steady_timer deadline(ex, limit);
    deadline.async_wait([resolver](error_code ec) {
        if (!ec)
            resolver->cancel();
    });
    std::vector<std::string> names, addresses, host_ports;
    std::string failures;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        auto const& host = hosts[i];
        std::string port = port_per_host ? ports[i] : std::string();
        bool socket_dir = host.empty() || host.front() == '/' || host.front() == '@';
        error_code not_an_address;
        if (!socket_dir)
            asio::ip::make_address(host, not_an_address);
        if (socket_dir || !not_an_address) { // nothing to look up
            names.push_back(host);
            addresses.push_back(socket_dir ? std::string() : host); // empty: libpq uses host
            host_ports.push_back(port);
            continue;
        }
        auto [rec, found] =
            co_await resolver->async_resolve(host, "0", asio::ip::resolver_base::numeric_service,
                                             asio::as_tuple(asio::use_awaitable));
        if (rec) {
            failures += (failures.empty() ? "" : "; ") + host + ": " + rec.message();
            continue;
        }
        for (auto const& entry : found) {
            names.push_back(host);
            addresses.push_back(entry.endpoint().address().to_string());
            host_ports.push_back(port);
        }
    }
    deadline.cancel();
    if (names.empty())
        co_return client_error(client_errc::connect_failed, "cannot resolve " + failures);
    p.set("host", join(names));
    p.set("hostaddr", join(addresses));
    if (port_per_host)
        p.set("port", join(host_ports));
    co_return p;
}

void log_notice(void*, char const* message) {
    log::debug("postgres: {}", tidy(message));
}

// One libpq connection, driven on the pool's strand. Its socket is wrapped in a
// stream_descriptor only to wait on it: libpq owns the descriptor, so it is released (never
// closed) before the wrapper goes.
class connection : public std::enable_shared_from_this<connection> {
public:
    explicit connection(asio::any_io_executor ex)
        : ex_(std::move(ex))
        , timer_(ex_) {}
    ~connection() {
        drop_socket();
        if (conn_)
            PQfinish(conn_); // a Terminate message on a non-blocking socket, then close
    }
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    awaitable<result<void>> open(conn_params const& params, duration limit) {
        std::vector<char const*> keys, values;
        for (auto const& [k, v] : params.pairs) {
            keys.push_back(k.c_str());
            values.push_back(v.c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
        if (!conn_)
            co_return client_error(client_errc::connect_failed, "libpq is out of memory");
        PQsetNoticeProcessor(conn_, log_notice, nullptr);
        if (PQstatus(conn_) == CONNECTION_BAD)
            co_return client_error(client_errc::connect_failed, tidy(PQerrorMessage(conn_)));
        arm(limit);
        // As libpq's documentation says: before the first PQconnectPoll, wait to write.
        auto step = PGRES_POLLING_WRITING;
        while (step != PGRES_POLLING_OK) {
            if (step == PGRES_POLLING_FAILED) {
                disarm();
                co_return client_error(client_errc::connect_failed, tidy(PQerrorMessage(conn_)));
            }
            // The socket may change between steps (the next host, a retry without TLS): wrap
            // the current one for this wait only.
            error_code ec;
            sock_.emplace(ex_);
            sock_->assign(PQsocket(conn_), ec);
            if (!ec)
                ec = co_await wait(step == PGRES_POLLING_READING
                                       ? asio::posix::descriptor_base::wait_read
                                       : asio::posix::descriptor_base::wait_write);
            drop_socket();
            if (timed_out_)
                co_return client_error(client_errc::timeout,
                                       "no connection within " + format_duration(limit));
            if (ec) {
                disarm();
                co_return client_error(client_errc::connect_failed, ec.message());
            }
            step = PQconnectPoll(conn_);
        }
        disarm();
        error_code ec;
        if (PQsetnonblocking(conn_, 1) != 0)
            co_return client_error(client_errc::connect_failed, tidy(PQerrorMessage(conn_)));
        sock_.emplace(ex_);
        sock_->assign(PQsocket(conn_), ec);
        if (ec)
            co_return client_error(client_errc::connect_failed, ec.message());
        co_return result<void>();
    }

    // One statement (params != nullptr: the extended protocol with $n parameters) or a
    // parameterless script (the simple protocol: one implicit transaction).
    awaitable<result<rows>> exec(std::string const& sql, std::vector<param> const* params,
                                 duration limit) {
        if (broken())
            co_return client_error(client_errc::connection_lost, "the connection is broken");
        arm(limit);
        limit_ = limit;
        int sent;
        if (params) {
            std::vector<char const*> values;
            values.reserve(params->size());
            for (auto const& p : *params)
                values.push_back(p ? p->c_str() : nullptr);
            sent = PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                     values.data(), nullptr, nullptr, 0);
        } else {
            sent = PQsendQuery(conn_, sql.c_str());
        }
        if (!sent) {
            auto code = PQstatus(conn_) == CONNECTION_OK ? client_errc::unexpected_result
                                                         : client_errc::connection_lost;
            co_return fail(code, tidy(PQerrorMessage(conn_)));
        }
        // Send what libpq could not write at once. Anything the server sends meanwhile is read
        // so that neither side waits on a full buffer.
        for (;;) {
            int pending = PQflush(conn_);
            if (pending == 0)
                break;
            if (pending < 0)
                co_return fail(client_errc::connection_lost, tidy(PQerrorMessage(conn_)));
            if (auto ec = co_await wait(asio::posix::descriptor_base::wait_write))
                co_return fail_wait(ec);
            if (!PQconsumeInput(conn_))
                co_return fail(client_errc::connection_lost, tidy(PQerrorMessage(conn_)));
        }
        rows out;
        std::optional<error> failure;
        for (;;) {
            while (PQisBusy(conn_)) {
                if (auto ec = co_await wait(asio::posix::descriptor_base::wait_read))
                    co_return fail_wait(ec);
                if (!PQconsumeInput(conn_))
                    co_return fail(client_errc::connection_lost, tidy(PQerrorMessage(conn_)));
            }
            result_ptr r(PQgetResult(conn_));
            if (!r)
                break;
            switch (PQresultStatus(r.get())) {
            case PGRES_TUPLES_OK:
            case PGRES_COMMAND_OK:
            case PGRES_EMPTY_QUERY:
                if (!failure)
                    out = read_rows(r.get());
                break;
            case PGRES_COPY_IN:
            case PGRES_COPY_OUT:
            case PGRES_COPY_BOTH:
                co_return fail(client_errc::unexpected_result, "COPY is not supported");
            default:
                if (!failure)
                    failure = server_error(r.get());
                break;
            }
        }
        disarm();
        if (PQstatus(conn_) != CONNECTION_OK) {
            // Killed mid-statement: libpq reports "server closed the connection unexpectedly",
            // or the server said why first (57P01 admin shutdown, …).
            broken_ = true;
            co_return client_error(client_errc::connection_lost,
                                   failure ? failure->detail : tidy(PQerrorMessage(conn_)));
        }
        if (failure)
            co_return *failure;
        co_return out;
    }

    // Whether an idle connection is still good. Nothing should arrive while idle; when
    // something did, read it: a server that shut down or an idle timeout sends an error and
    // closes, and the read finds the end of the stream.
    bool alive_after_idle() {
        if (broken())
            return false;
        for (int round = 0; round < 8; ++round) {
            pollfd p{PQsocket(conn_), POLLIN, 0};
            int n = ::poll(&p, 1, 0);
            if (n == 0)
                return true;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 || !PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK) {
                broken_ = true;
                return false;
            }
        }
        return true;
    }

    [[nodiscard]] bool broken() const noexcept {
        return broken_ || !conn_ || PQstatus(conn_) != CONNECTION_OK;
    }

private:
    awaitable<error_code> wait(asio::posix::descriptor_base::wait_type w) {
        if (timed_out_)
            co_return asio::error::operation_aborted;
        auto [ec] = co_await sock_->async_wait(w, asio::as_tuple(asio::use_awaitable));
        co_return ec;
    }

    // A deadline for the current step: when it passes, the pending wait is cancelled.
    void arm(duration limit) {
        auto generation = ++generation_;
        timed_out_ = false;
        timer_.expires_after(limit);
        timer_.async_wait([weak = weak_from_this(), generation](error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->generation_ != generation)
                return;
            self->timed_out_ = true;
            if (self->sock_)
                self->sock_->cancel();
        });
    }
    void disarm() {
        ++generation_;
        timer_.cancel();
    }

    // After a failed statement the connection is in an unknown state: it is dropped.
    error fail(client_errc code, std::string detail) {
        broken_ = true;
        disarm();
        return client_error(code, std::move(detail));
    }
    error fail_wait(error_code ec) {
        if (timed_out_)
            return fail(client_errc::timeout, "no result within " + format_duration(limit_));
        return fail(client_errc::connection_lost, ec.message());
    }

    void drop_socket() {
        if (sock_) {
            sock_->release();
            sock_.reset();
        }
    }

    asio::any_io_executor ex_;
    PGconn* conn_ = nullptr;
    std::optional<asio::posix::stream_descriptor> sock_;
    asio::steady_timer timer_;
    std::uint64_t generation_ = 0;
    bool timed_out_ = false;
    bool broken_ = false;
    duration limit_{};
};

} // namespace

boost::system::error_category const& client_category() noexcept {
    static auto const& c = declare_category("mcpd.postgres", client_message);
    return c;
}

boost::system::error_category const& server_category() noexcept {
    static auto const& c = declare_category("mcpd.postgres.server", server_message);
    return c;
}

boost::system::error_code sqlstate_error(std::string_view sqlstate) noexcept {
    int v = 0;
    for (std::size_t i = 0; i < 5; ++i) {
        char c = i < sqlstate.size() ? sqlstate[i] : '0';
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 0;
        v = v * 36 + d;
    }
    return {v + 1, server_category()};
}

std::string sqlstate_of(boost::system::error_code const& code) {
    if (code.category() != server_category())
        return {};
    return decode_sqlstate(code.value());
}

std::string describe_conninfo(std::string const& conninfo) {
    auto p = parse_conninfo(conninfo);
    if (!p)
        return "(an invalid PostgreSQL connection string)";
    std::string user = p->get("user"), host = p->get("host"), port = p->get("port");
    std::string out = "postgresql://";
    if (!user.empty())
        out += user + "@";
    out += host.empty() ? p->get("hostaddr") : host;
    if (!port.empty())
        out += ":" + port;
    out += "/" + p->get("dbname");
    return out;
}

// The pool: everything here runs on strand_.
class client::pool : public std::enable_shared_from_this<pool> {
public:
    pool(asio::any_io_executor const& ex, options opts)
        : strand_(asio::make_strand(ex))
        , opts_(std::move(opts))
        , params_(parse_conninfo(opts_.conninfo))
        , drained_(strand_) {
        if (opts_.max_connections == 0)
            opts_.max_connections = 1;
    }

    [[nodiscard]] asio::any_io_executor const& executor() const noexcept { return strand_; }

    awaitable<result<rows>> run(std::string const& sql, std::vector<param> const* params,
                                bool retry_safe) {
        for (int attempt = 0;; ++attempt) {
            bool fresh = false;
            auto c = co_await acquire(fresh);
            if (!c)
                co_return c.error();
            auto r = co_await (*c)->exec(sql, params, opts_.query_timeout);
            bool broken = (*c)->broken();
            release(std::move(*c), broken);
            if (!r && r.error().code == client_errc::connection_lost && retry_safe && !fresh &&
                attempt == 0) {
                log::debug("postgres: a pooled connection was dead ({}); sending again on a new "
                           "one",
                           r.error().message());
                continue;
            }
            co_return r;
        }
    }

    awaitable<void> close() {
        closing_ = true;
        while (!waiters_.empty()) { // they wake, see closing_, and fail
            waiters_.front()->timer.cancel();
            waiters_.pop_front();
        }
        open_ -= idle_.size();
        idle_.clear();
        while (open_ > 0) {
            drained_.expires_at(asio::steady_timer::time_point::max());
            co_await drained_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

private:
    struct waiter {
        asio::steady_timer timer;
        std::shared_ptr<connection> handed; // set by release() when it hands one over
    };

    // Takes a waiter out of the queue if its coroutine ends while still waiting (cancelled
    // from outside), and gives back a connection handed to it but never taken.
    struct waiter_guard {
        pool& owner;
        waiter& w;
        ~waiter_guard() {
            auto it = std::find(owner.waiters_.begin(), owner.waiters_.end(), &w);
            if (it != owner.waiters_.end())
                owner.waiters_.erase(it);
            if (w.handed)
                owner.release(std::move(w.handed), false);
        }
    };

    awaitable<result<std::shared_ptr<connection>>> acquire(bool& fresh) {
        for (;;) {
            if (closing_)
                co_return client_error(client_errc::closed, "the PostgreSQL client is closed");
            while (!idle_.empty()) {
                auto c = std::move(idle_.back());
                idle_.pop_back();
                if (c->alive_after_idle())
                    co_return c;
                log::debug("postgres: an idle connection to {} was closed; dropping it",
                           describe_conninfo(opts_.conninfo));
                --open_;
            }
            if (open_ < opts_.max_connections) {
                ++open_;
                auto c = co_await open_connection();
                if (!c) {
                    --open_;
                    wake_one();
                    note_drained();
                    co_return c.error();
                }
                fresh = true;
                co_return c;
            }
            waiter w{asio::steady_timer(strand_, asio::steady_timer::time_point::max()), {}};
            waiter_guard guard{*this, w};
            waiters_.push_back(&w);
            co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (w.handed)
                co_return std::move(w.handed);
        }
    }

    awaitable<result<std::shared_ptr<connection>>> open_connection() {
        if (!params_)
            co_return params_.error();
        auto params = co_await resolve_hosts(*params_, strand_, opts_.connect_timeout);
        if (!params)
            co_return error(params.error().code,
                            describe_conninfo(opts_.conninfo) + ": " + params.error().detail);
        auto c = std::make_shared<connection>(strand_);
        auto opened = co_await c->open(*params, opts_.connect_timeout);
        if (!opened)
            co_return error(opened.error().code,
                            describe_conninfo(opts_.conninfo) + ": " + opened.error().detail);
        co_return c;
    }

    void release(std::shared_ptr<connection> c, bool broken) {
        if (broken || closing_) {
            c.reset();
            --open_;
            wake_one(); // a slot is free: a waiter may open a connection
            note_drained();
            return;
        }
        if (!waiters_.empty()) {
            auto* w = waiters_.front();
            waiters_.pop_front();
            w->handed = std::move(c);
            w->timer.cancel();
            return;
        }
        idle_.push_back(std::move(c));
    }

    void wake_one() {
        if (waiters_.empty())
            return;
        waiters_.front()->timer.cancel();
        waiters_.pop_front();
    }

    void note_drained() {
        if (closing_ && open_ == 0)
            drained_.cancel();
    }

    asio::any_io_executor strand_;
    options opts_;
    result<conn_params> params_;
    std::vector<std::shared_ptr<connection>> idle_;
    std::deque<waiter*> waiters_;
    std::size_t open_ = 0; // connections that exist: idle, in use, or being opened
    bool closing_ = false;
    asio::steady_timer drained_;
};

client::client(asio::any_io_executor const& ex, options opts)
    : description_(describe_conninfo(opts.conninfo))
    , pool_(std::make_shared<pool>(ex, std::move(opts))) {}

client::~client() = default;

awaitable<result<rows>> client::query(std::string sql, std::vector<param> params, bool retry_safe) {
    // Named, not a temporary inside co_await: see docs/rough_edges.md (GCC 12). The task holds
    // the pool, which outlives the statement even if this client goes first.
    auto task = [p = pool_, sql = std::move(sql), params = std::move(params),
                 retry_safe]() -> awaitable<result<rows>> {
        co_return co_await p->run(sql, &params, retry_safe);
    };
    co_return co_await asio::co_spawn(pool_->executor(), std::move(task), asio::use_awaitable);
}

awaitable<result<void>> client::script(std::string sql) {
    auto task = [p = pool_, sql = std::move(sql)]() -> awaitable<result<void>> {
        auto r = co_await p->run(sql, nullptr, false);
        if (!r)
            co_return r.error();
        co_return result<void>();
    };
    co_return co_await asio::co_spawn(pool_->executor(), std::move(task), asio::use_awaitable);
}

awaitable<void> client::close() {
    auto task = [p = pool_]() -> awaitable<void> { co_await p->close(); };
    co_await asio::co_spawn(pool_->executor(), std::move(task), asio::use_awaitable);
}

} // namespace mcpd::store::pg

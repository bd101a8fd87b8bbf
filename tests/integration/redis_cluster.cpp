// tests/integration/redis_cluster.cpp — the nodes, the RESP exchanges with them and the redis-cli
// runs behind redis_cluster.
#include "redis_cluster.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace mcpd::test {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::chrono::seconds io_timeout{2};      // one exchange with one node
constexpr std::chrono::seconds cli_timeout{10};    // one redis-cli command
constexpr std::chrono::seconds create_timeout{30}; // creation, then stability, together
constexpr std::chrono::seconds reshard_timeout{60};
constexpr std::chrono::milliseconds poll_interval{50};
constexpr std::size_t migrate_batch = 100;      // keys per MIGRATE and per GETKEYSINSLOT
constexpr char const* migrate_timeout = "5000"; // ms, MIGRATE's own
constexpr std::size_t log_tail_lines = 15;

long long to_number(std::string_view text, std::string_view what) {
    long long n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size())
        throw std::runtime_error("redis_cluster: bad " + std::string(what) + ": '" +
                                 std::string(text) + "'");
    return n;
}

std::string seed(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

std::string tail(std::string const& text, std::size_t lines) {
    std::size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n')
        --pos;
    for (std::size_t n = 0; n < lines && pos > 0; ++n) {
        auto nl = text.rfind('\n', pos - 1);
        if (nl == std::string::npos) {
            pos = 0;
            break;
        }
        pos = nl;
    }
    return text.substr(pos == 0 ? 0 : pos + 1);
}

// ---- A small synchronous RESP2 exchange ----

struct reply {
    enum class kind { simple, error, integer, bulk, array, nil };
    kind type = kind::nil;
    std::string str;
    long long integer = 0;
    std::vector<reply> elements;
};

class connection {
public:
    connection(std::uint16_t port, std::string const& password)
        : port_(port)
        , fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (fd_ < 0)
            fail("socket");
        timeval tv{};
        tv.tv_sec = io_timeout.count();
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); // and connect()'s
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            int const err = errno;
            ::close(fd_);
            errno = err;
            fail("connect");
        }
        if (!password.empty()) {
            reply r = call({"AUTH", password});
            if (r.type == reply::kind::error) {
                ::close(fd_);
                throw std::runtime_error(seed(port_) + ": AUTH: " + r.str);
            }
        }
    }
    ~connection() { ::close(fd_); }
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    reply call(std::vector<std::string> const& args) {
        std::string out = "*" + std::to_string(args.size()) + "\r\n";
        for (auto const& a : args)
            out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        std::size_t sent = 0;
        while (sent < out.size()) {
            ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                fail("send");
            sent += static_cast<std::size_t>(n);
        }
        reply r = read_reply();
        buf_.erase(0, pos_);
        pos_ = 0;
        return r;
    }

private:
    [[noreturn]] void fail(char const* what) const {
        int const err = errno;
        throw std::runtime_error(
            seed(port_) + ": " + what + ": " +
            (err == EAGAIN || err == EWOULDBLOCK
                 ? "no answer within " + std::to_string(io_timeout.count()) + " s"
                 : std::string(std::strerror(err))));
    }

    void fill() {
        char chunk[16384];
        for (;;) {
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                fail("recv");
            if (n == 0)
                throw std::runtime_error(seed(port_) + ": the server closed the connection");
            buf_.append(chunk, static_cast<std::size_t>(n));
            return;
        }
    }

    std::string line() {
        for (;;) {
            auto end = buf_.find("\r\n", pos_);
            if (end != std::string::npos) {
                std::string l = buf_.substr(pos_, end - pos_);
                pos_ = end + 2;
                return l;
            }
            fill();
        }
    }

    std::string exact(std::size_t n) {
        while (buf_.size() - pos_ < n + 2)
            fill();
        std::string s = buf_.substr(pos_, n);
        pos_ += n + 2;
        return s;
    }

    reply read_reply() {
        std::string const l = line();
        if (l.empty())
            throw std::runtime_error(seed(port_) + ": empty RESP line");
        std::string_view const rest = std::string_view(l).substr(1);
        reply r;
        switch (l[0]) {
        case '+':
            r.type = reply::kind::simple;
            r.str = rest;
            break;
        case '-':
            r.type = reply::kind::error;
            r.str = rest;
            break;
        case ':':
            r.type = reply::kind::integer;
            r.integer = to_number(rest, "RESP integer");
            break;
        case '$': {
            long long const n = to_number(rest, "RESP bulk length");
            if (n >= 0) {
                r.type = reply::kind::bulk;
                r.str = exact(static_cast<std::size_t>(n));
            }
            break;
        }
        case '*': {
            long long const n = to_number(rest, "RESP array length");
            if (n >= 0) {
                r.type = reply::kind::array;
                for (long long k = 0; k < n; ++k)
                    r.elements.push_back(read_reply());
            }
            break;
        }
        default:
            throw std::runtime_error(seed(port_) + ": unexpected RESP line: " + l);
        }
        return r;
    }

    std::uint16_t port_;
    int fd_;
    std::string buf_;
    std::size_t pos_ = 0;
};

reply ask(std::uint16_t port, std::string const& password, std::vector<std::string> const& args) {
    connection c(port, password);
    return c.call(args);
}

// The reply as text; an error reply throws (naming the command, never its arguments beyond the
// subcommand: MIGRATE's carry the password).
std::string ask_text(std::uint16_t port, std::string const& password,
                     std::vector<std::string> const& args) {
    reply r = ask(port, password, args);
    if (r.type == reply::kind::error) {
        std::string what = args.empty() ? "" : args[0];
        if (args.size() > 1 && (what == "CLUSTER" || what == "INFO"))
            what += " " + args[1];
        throw std::runtime_error(seed(port) + ": " + what + ": " + r.str);
    }
    if (r.type == reply::kind::integer)
        return std::to_string(r.integer);
    return r.str;
}

// "cluster_state" of CLUSTER INFO, "master_link_status" of INFO replication, …
std::string info_field(std::string const& info, std::string const& key) {
    std::istringstream in(info);
    std::string l;
    while (std::getline(in, l)) {
        if (!l.empty() && l.back() == '\r')
            l.pop_back();
        if (l.size() > key.size() && l.compare(0, key.size(), key) == 0 && l[key.size()] == ':')
            return l.substr(key.size() + 1);
    }
    return "(missing)";
}

// One line of CLUSTER NODES: <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
// <pong-recv> <config-epoch> <link-state> <slot>…
struct node_line {
    std::string id;
    std::uint16_t port = 0;
    std::vector<std::string> flags;
    std::string master_id;
    unsigned long long epoch = 0;
    std::vector<std::pair<int, int>> slots; // ranges owned; migration markers left out

    [[nodiscard]] bool has(std::string_view flag) const {
        return std::find(flags.begin(), flags.end(), flag) != flags.end();
    }
    [[nodiscard]] bool owns(int slot) const {
        return std::any_of(slots.begin(), slots.end(),
                           [&](auto const& r) { return r.first <= slot && slot <= r.second; });
    }
    [[nodiscard]] std::string slot_text() const {
        std::string out;
        for (auto const& [first, last] : slots) {
            out += out.empty() ? "" : ",";
            out += std::to_string(first);
            if (last != first)
                out += "-" + std::to_string(last);
        }
        return out.empty() ? "no slots" : out;
    }
};

std::vector<node_line> parse_nodes(std::string const& text) {
    std::vector<node_line> out;
    std::istringstream in(text);
    std::string l;
    while (std::getline(in, l)) {
        if (!l.empty() && l.back() == '\r')
            l.pop_back();
        if (l.empty())
            continue;
        std::istringstream fields(l);
        node_line n;
        std::string addr, flags, ping, pong, epoch, link;
        if (!(fields >> n.id >> addr >> flags >> n.master_id >> ping >> pong >> epoch >> link))
            throw std::runtime_error("redis_cluster: bad CLUSTER NODES line: " + l);
        std::string const host_port = addr.substr(0, addr.find('@'));
        auto colon = host_port.rfind(':');
        if (colon != std::string::npos && colon + 1 < host_port.size())
            n.port = static_cast<std::uint16_t>(
                to_number(std::string_view(host_port).substr(colon + 1), "port"));
        std::istringstream flag_list(flags);
        for (std::string f; std::getline(flag_list, f, ',');)
            n.flags.push_back(f);
        n.epoch = static_cast<unsigned long long>(to_number(epoch, "config epoch"));
        for (std::string s; fields >> s;) {
            if (s.front() == '[') // [slot->-id] migrating, [slot-<-id] importing
                continue;
            auto dash = s.find('-');
            int const first =
                static_cast<int>(to_number(std::string_view(s).substr(0, dash), "slot"));
            int const last =
                dash == std::string::npos
                    ? first
                    : static_cast<int>(to_number(std::string_view(s).substr(dash + 1), "slot"));
            n.slots.emplace_back(first, last);
        }
        out.push_back(std::move(n));
    }
    return out;
}

std::vector<node_line> cluster_nodes(std::uint16_t port, std::string const& password) {
    return parse_nodes(ask_text(port, password, {"CLUSTER", "NODES"}));
}

node_line const* myself(std::vector<node_line> const& lines) {
    for (auto const& l : lines)
        if (l.has("myself"))
            return &l;
    return nullptr;
}

// ---- Child processes (redis-cli) ----

struct run_result {
    int status = -1; // the exit status; -1 when killed by a signal
    std::string output;
};

std::string command_text(std::vector<std::string> const& argv) {
    std::string out;
    for (auto const& a : argv)
        out += (out.empty() ? "" : " ") + (a.empty() ? std::string("\"\"") : a);
    return out;
}

// Runs argv with `input` on its standard input and stdout and stderr captured together; the
// password reaches redis-cli through REDISCLI_AUTH (not on its command line, no warning). Killed
// and thrown at `limit`.
run_result run(std::vector<std::string> argv, std::string const& password, std::string const& input,
               std::chrono::milliseconds limit) {
    // Everything the child needs is made before fork(): the test may have threads.
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e)
        if (std::strncmp(*e, "REDISCLI_AUTH=", 14) != 0)
            env.emplace_back(*e);
    if (!password.empty())
        env.push_back("REDISCLI_AUTH=" + password);
    std::vector<char*> argp, envp;
    for (auto& a : argv)
        argp.push_back(a.data());
    argp.push_back(nullptr);
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    char tmpl[] = "/tmp/mcpd-redis-cli-XXXXXX";
    int in_fd = ::mkostemp(tmpl, O_CLOEXEC);
    if (in_fd < 0)
        throw std::runtime_error("redis_cluster: mkostemp failed");
    ::unlink(tmpl);
    for (std::size_t done = 0; done < input.size();) {
        ssize_t n = ::write(in_fd, input.data() + done, input.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ::close(in_fd);
            throw std::runtime_error("redis_cluster: writing redis-cli's input failed");
        }
        done += static_cast<std::size_t>(n);
    }
    ::lseek(in_fd, 0, SEEK_SET);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in_fd);
        throw std::runtime_error("redis_cluster: pipe failed");
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(in_fd, STDIN_FILENO);
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(out[1], STDERR_FILENO);
        ::execvpe(argp[0], argp.data(), envp.data());
        ::_exit(127);
    }
    ::close(in_fd);
    ::close(out[1]);
    if (pid < 0) {
        ::close(out[0]);
        throw std::runtime_error("redis_cluster: fork failed");
    }
    run_result result;
    bool timed_out = false;
    auto const deadline = steady::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) {
            timed_out = true;
            break;
        }
        pollfd p{out[0], POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            timed_out = true;
            break;
        }
        char buf[4096];
        ssize_t got = ::read(out[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        result.output.append(buf, static_cast<std::size_t>(got));
    }
    ::close(out[0]);
    if (timed_out)
        ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        throw std::runtime_error(
            "redis_cluster: no end after " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) +
            " s: " + command_text(argv) + "\n" + result.output);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// One node: a redis_server with the cluster directives. Its cluster bus gets an ephemeral port
// of its own (--cluster-port) rather than port + 10000, which may be taken or above 65535; a
// port taken between free_port() and the bind is retried with new ports.
std::unique_ptr<redis_server> start_node(redis_cluster::options const& o) {
    bool const has_masterauth =
        std::find(o.args.begin(), o.args.end(), "--masterauth") != o.args.end();
    for (int attempt = 0;; ++attempt) {
        redis_server::options so;
        // A replica's first sync starts at once, not after the 5 s that a master waits by
        // default for more replicas to share a diskless transfer.
        so.args = {"--cluster-enabled",
                   "yes",
                   "--cluster-config-file",
                   "nodes.conf",
                   "--cluster-node-timeout",
                   std::to_string(o.node_timeout.count()),
                   "--cluster-port",
                   std::to_string(free_port()),
                   "--repl-diskless-sync-delay",
                   "0"};
        if (!o.password.empty() && !has_masterauth)
            so.args.insert(so.args.end(), {"--masterauth", o.password});
        so.args.insert(so.args.end(), o.args.begin(), o.args.end());
        try {
            return std::make_unique<redis_server>(so);
        } catch (std::exception const&) {
            if (attempt == 4)
                throw;
        }
    }
}

} // namespace

redis_cluster::redis_cluster()
    : redis_cluster(options{}) {}

redis_cluster::redis_cluster(options o)
    : opts_(std::move(o)) {
    if (opts_.masters < 3)
        throw std::invalid_argument("redis_cluster: redis-cli --cluster create wants 3 masters");
    if (opts_.replicas_per_master < 0)
        throw std::invalid_argument("redis_cluster: replicas_per_master < 0");
    auto const deadline = steady::now() + create_timeout;
    auto const count = static_cast<std::size_t>(opts_.masters) *
                       static_cast<std::size_t>(1 + opts_.replicas_per_master);
    for (std::size_t i = 0; i < count; ++i)
        nodes_.push_back(start_node(opts_));

    std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
    auto const all = seeds();
    argv.insert(argv.end(), all.begin(), all.end());
    argv.insert(argv.end(),
                {"--cluster-replicas", std::to_string(opts_.replicas_per_master), "--cluster-yes"});
    run_result created;
    try {
        created = run(argv, opts_.password, {}, create_timeout);
    } catch (std::exception const& e) {
        throw std::runtime_error(e.what() + diagnostics());
    }
    if (created.status != 0)
        throw std::runtime_error("redis_cluster: redis-cli --cluster create failed (exit " +
                                 std::to_string(created.status) + "):\n" + created.output +
                                 diagnostics());
    for (std::size_t i = 0; i < count; ++i)
        ids_.push_back(ask_text(nodes_[i]->port(), opts_.password, {"CLUSTER", "MYID"}));
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - steady::now());
    try {
        wait_stable(std::max(left, std::chrono::seconds(5)));
    } catch (std::exception const& e) {
        throw std::runtime_error(std::string(e.what()) +
                                 "\n--- redis-cli --cluster create said:\n" + created.output);
    }
}

redis_cluster::~redis_cluster() = default;

std::vector<std::string> redis_cluster::seeds() const {
    std::vector<std::string> out;
    for (auto const& n : nodes_)
        out.push_back(seed(n->port()));
    return out;
}

std::string redis_cluster::seed_list() const {
    std::string out;
    for (auto const& s : seeds())
        out += (out.empty() ? "" : ",") + s;
    return out;
}

std::string redis_cluster::url() const {
    return "redis+cluster://" + seed_list();
}

redis_server& redis_cluster::node(std::size_t i) {
    return *nodes_.at(i);
}

std::string redis_cluster::name(std::size_t i) const {
    return "node " + std::to_string(i) + " (" + seed(nodes_.at(i)->port()) + ")";
}

std::string redis_cluster::node_id(std::size_t i) {
    if (!node(i).running())
        return ids_.at(i);
    return ask_text(node(i).port(), opts_.password, {"CLUSTER", "MYID"});
}

std::size_t redis_cluster::master_of_slot(std::uint16_t slot) {
    std::optional<std::size_t> best;
    unsigned long long best_epoch = 0;
    std::string trouble;
    for (std::size_t i = 0; i < size(); ++i) {
        if (!node(i).running())
            continue;
        try {
            auto lines = cluster_nodes(node(i).port(), opts_.password);
            node_line const* me = myself(lines);
            if (me && me->has("master") && me->owns(slot) && (!best || me->epoch > best_epoch)) {
                best = i;
                best_epoch = me->epoch;
            }
        } catch (std::exception const& e) {
            trouble += std::string("\n") + e.what();
        }
    }
    if (!best)
        throw std::runtime_error("redis_cluster: no live master owns slot " + std::to_string(slot) +
                                 trouble + diagnostics());
    return *best;
}

std::vector<std::size_t> redis_cluster::masters() {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < size(); ++i) {
        if (!node(i).running())
            continue;
        try {
            auto lines = cluster_nodes(node(i).port(), opts_.password);
            if (node_line const* me = myself(lines); me && me->has("master"))
                out.push_back(i);
        } catch (std::exception const&) { // not answering: as good as down
        }
    }
    return out;
}

std::vector<std::size_t> redis_cluster::replicas_of(std::size_t master) {
    std::string const id = node_id(master);
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < size(); ++i) {
        if (i == master || !node(i).running())
            continue;
        try {
            auto lines = cluster_nodes(node(i).port(), opts_.password);
            if (node_line const* me = myself(lines); me && me->has("slave") && me->master_id == id)
                out.push_back(i);
        } catch (std::exception const&) { // not answering: as good as down
        }
    }
    return out;
}

void redis_cluster::require_master(std::size_t i, char const* what) {
    if (!node(i).running())
        throw std::invalid_argument(std::string("redis_cluster::") + what + ": " + name(i) +
                                    " is down");
    auto lines = cluster_nodes(node(i).port(), opts_.password);
    node_line const* me = myself(lines);
    if (!me || !me->has("master"))
        throw std::invalid_argument(std::string("redis_cluster::") + what + ": " + name(i) +
                                    " is not a master");
}

void redis_cluster::begin_migration(std::uint16_t slot, std::size_t to) {
    require_master(to, "begin_migration");
    std::size_t const from = master_of_slot(slot);
    if (from == to)
        throw std::invalid_argument("redis_cluster::begin_migration: " + name(to) + " owns slot " +
                                    std::to_string(slot) + " already");
    std::string const s = std::to_string(slot);
    ask_text(node(to).port(), opts_.password,
             {"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)});
    ask_text(node(from).port(), opts_.password,
             {"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)});
}

void redis_cluster::migrate_from(std::size_t from, std::size_t to,
                                 std::vector<std::string> const& keys) {
    for (std::size_t done = 0; done < keys.size(); done += migrate_batch) {
        std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(node(to).port()),
                                         "",        "0",         migrate_timeout};
        if (!opts_.password.empty())
            args.insert(args.end(), {"AUTH", opts_.password});
        args.emplace_back("KEYS");
        auto const end = std::min(keys.size(), done + migrate_batch);
        args.insert(args.end(), keys.begin() + static_cast<std::ptrdiff_t>(done),
                    keys.begin() + static_cast<std::ptrdiff_t>(end));
        // "OK", or "NOKEY" when none of them is there (any more).
        ask_text(node(from).port(), opts_.password, args);
    }
}

void redis_cluster::migrate_keys(std::uint16_t slot, std::size_t to,
                                 std::vector<std::string> const& keys) {
    std::size_t const from = master_of_slot(slot);
    if (from == to)
        throw std::invalid_argument("redis_cluster::migrate_keys: " + name(to) + " owns slot " +
                                    std::to_string(slot) + " already");
    migrate_from(from, to, keys);
}

void redis_cluster::finish_migration(std::uint16_t slot, std::size_t to) {
    require_master(to, "finish_migration");
    std::size_t const from = master_of_slot(slot);
    std::string const s = std::to_string(slot);
    auto const deadline = steady::now() + std::chrono::seconds(30);
    while (from != to) {
        reply keys = ask(node(from).port(), opts_.password,
                         {"CLUSTER", "GETKEYSINSLOT", s, std::to_string(migrate_batch)});
        if (keys.type != reply::kind::array)
            throw std::runtime_error("redis_cluster: CLUSTER GETKEYSINSLOT on " + name(from) +
                                     ": " + keys.str);
        if (keys.elements.empty())
            break;
        if (steady::now() > deadline)
            throw std::runtime_error("redis_cluster: slot " + s + " still has keys on " +
                                     name(from) + " after 30 s of MIGRATE");
        std::vector<std::string> batch;
        for (auto const& k : keys.elements)
            batch.push_back(k.str);
        migrate_from(from, to, batch);
    }
    // The target first (it bumps its config epoch), then the source, then the other masters.
    std::string const to_id = node_id(to);
    std::vector<std::size_t> order = {to};
    if (from != to)
        order.push_back(from);
    for (std::size_t m : masters())
        if (m != to && m != from)
            order.push_back(m);
    for (std::size_t m : order)
        ask_text(node(m).port(), opts_.password, {"CLUSTER", "SETSLOT", s, "NODE", to_id});
    wait_stable();
}

void redis_cluster::move_slot(std::uint16_t slot, std::size_t to) {
    require_master(to, "move_slot");
    if (master_of_slot(slot) == to)
        return;
    begin_migration(slot, to);
    finish_migration(slot, to);
}

void redis_cluster::reshard(std::size_t from, std::size_t to, int slots) {
    require_master(from, "reshard");
    require_master(to, "reshard");
    if (from == to || slots <= 0)
        throw std::invalid_argument("redis_cluster::reshard: nothing to move");
    wait_stable(); // redis-cli refuses a cluster whose nodes disagree
    std::vector<std::string> argv = {
        "redis-cli",       "--cluster",           "reshard",      seed(node(from).port()),
        "--cluster-from",  node_id(from),         "--cluster-to", node_id(to),
        "--cluster-slots", std::to_string(slots), "--cluster-yes"};
    run_result r = run(argv, opts_.password, {}, reshard_timeout);
    if (r.status != 0)
        throw std::runtime_error("redis_cluster: redis-cli --cluster reshard failed (exit " +
                                 std::to_string(r.status) + "):\n" + r.output + diagnostics());
    try {
        wait_stable();
    } catch (std::exception const& e) {
        throw std::runtime_error(std::string(e.what()) +
                                 "\n--- redis-cli --cluster reshard said:\n" + r.output);
    }
}

std::size_t redis_cluster::kill_master_and_wait_failover(std::size_t i) {
    require_master(i, "kill_master_and_wait_failover");
    auto lines = cluster_nodes(node(i).port(), opts_.password);
    node_line const* me = myself(lines);
    if (!me || me->slots.empty())
        throw std::invalid_argument("redis_cluster::kill_master_and_wait_failover: " + name(i) +
                                    " owns no slots");
    node_line const killed = *me;
    std::vector<std::size_t> const replicas = replicas_of(i);
    if (replicas.empty())
        throw std::invalid_argument("redis_cluster::kill_master_and_wait_failover: " + name(i) +
                                    " has no replica to promote");
    node(i).kill();
    try {
        wait_stable();
    } catch (std::exception const& e) {
        throw std::runtime_error("redis_cluster: no failover after " + name(i) +
                                 " was killed: " + e.what());
    }
    std::size_t const promoted =
        master_of_slot(static_cast<std::uint16_t>(killed.slots.front().first));
    if (std::find(replicas.begin(), replicas.end(), promoted) == replicas.end())
        throw std::runtime_error("redis_cluster: the slots of " + name(i) + " went to " +
                                 name(promoted) + ", not one of its replicas" + diagnostics());
    auto now_lines = cluster_nodes(node(promoted).port(), opts_.password);
    node_line const* now_me = myself(now_lines);
    for (auto const& [first, last] : killed.slots)
        for (int slot : {first, last})
            if (!now_me || !now_me->owns(slot))
                throw std::runtime_error("redis_cluster: " + name(promoted) + " took over " +
                                         (now_me ? now_me->slot_text() : "nothing") +
                                         ", not all of " + killed.slot_text() + diagnostics());
    return promoted;
}

std::string redis_cluster::stability_problem() {
    std::map<std::uint16_t, std::size_t> live; // port → index
    for (std::size_t i = 0; i < size(); ++i)
        if (node(i).running())
            live.emplace(node(i).port(), i);
    if (live.empty())
        return "no node is running";
    std::string reference;
    std::size_t reference_node = 0;
    for (auto const& [port, i] : live) {
        try {
            std::string const state =
                info_field(ask_text(port, opts_.password, {"CLUSTER", "INFO"}), "cluster_state");
            if (state != "ok")
                return name(i) + " says cluster_state:" + state;
            auto const lines = cluster_nodes(port, opts_.password);
            std::map<std::string, std::uint16_t> port_of;
            for (auto const& l : lines)
                port_of.emplace(l.id, l.port);
            std::vector<std::string> entries;
            for (auto const& l : lines) {
                auto up = live.find(l.port);
                if (up == live.end()) {
                    if (!l.slots.empty())
                        return name(i) + " sees slots " + l.slot_text() + " owned by " +
                               seed(l.port) + " which is down";
                    continue;
                }
                for (char const* flag : {"fail", "fail?", "handshake", "noaddr"})
                    if (l.has(flag))
                        return name(i) + " sees " + name(up->second) + " as " + flag;
                std::string entry = std::to_string(l.port);
                if (l.has("master")) {
                    entry += " master of " + l.slot_text();
                } else {
                    auto m = port_of.find(l.master_id);
                    entry += " replica of " +
                             (m == port_of.end() ? l.master_id : std::to_string(m->second));
                }
                entries.push_back(std::move(entry));
                if (l.has("myself") && l.has("slave")) {
                    std::string const link =
                        info_field(ask_text(port, opts_.password, {"INFO", "replication"}),
                                   "master_link_status");
                    if (link != "up")
                        return name(i) + " is a replica with master_link_status:" + link;
                }
            }
            if (entries.size() != live.size())
                return name(i) + " knows " + std::to_string(entries.size()) + " of the " +
                       std::to_string(live.size()) + " live nodes";
            std::sort(entries.begin(), entries.end());
            std::string view;
            for (auto const& e : entries)
                view += (view.empty() ? "" : "; ") + e;
            if (reference.empty()) {
                reference = view;
                reference_node = i;
            } else if (view != reference) {
                std::string disagreement = name(reference_node) + " sees [" + reference;
                disagreement += "] but " + name(i) + " sees [" + view + "]";
                return disagreement;
            }
        } catch (std::exception const& e) {
            return name(i) + ": " + e.what();
        }
    }
    return {};
}

void redis_cluster::wait_stable(std::chrono::seconds limit) {
    auto const deadline = steady::now() + limit;
    for (;;) {
        std::string const problem = stability_problem();
        if (problem.empty())
            return;
        if (steady::now() >= deadline)
            throw std::runtime_error("redis_cluster: not stable after " +
                                     std::to_string(limit.count()) + " s: " + problem +
                                     diagnostics());
        std::this_thread::sleep_for(poll_interval);
    }
}

std::string redis_cluster::diagnostics() {
    std::string out;
    for (std::size_t i = 0; i < size(); ++i) {
        out += "\n--- " + name(i) + (node(i).running() ? "" : ", down") + "\n";
        if (node(i).running()) {
            try {
                out += ask_text(node(i).port(), opts_.password, {"CLUSTER", "NODES"});
            } catch (std::exception const& e) {
                out += std::string("CLUSTER NODES: ") + e.what() + "\n";
            }
        }
        out += "log tail:\n" + tail(node(i).log(), log_tail_lines);
    }
    return out;
}

std::string redis_cluster::cli(std::size_t i, std::vector<std::string> const& args,
                               bool follow_redirects) {
    std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p",
                                     std::to_string(node(i).port())};
    if (follow_redirects)
        argv.emplace_back("-c");
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, opts_.password, {}, cli_timeout).output;
}

std::string redis_cluster::cli_script(std::size_t i, std::string const& script,
                                      bool follow_redirects) {
    std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p",
                                     std::to_string(node(i).port())};
    if (follow_redirects)
        argv.emplace_back("-c");
    return run(argv, opts_.password, script, cli_timeout).output;
}

} // namespace mcpd::test

// bench/http/canned_server.cpp — the load generator's ceiling for bench/http: an HTTP/1.1 server
// that answers every request with the same canned reply and does nothing else.
//
// One thread, one epoll loop, non-blocking sockets, level-triggered. A request is complete when
// its head has arrived ("\r\n\r\n") and the Content-Length bytes after it; each complete request
// gets the reply (pipelined requests get one each). The reply has the size and headers of
// mcpd's JSON answer to a tools/call of echo, so that wrk does the same work per response as
// it does against mcpd. No HTTP parsing beyond that: whatever wrk sends is taken as valid.
//
// Usage: bench_canned_http <port> (0: a free port). Prints "listening on <port>" once ready.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

constexpr std::string_view body =
    R"({"jsonrpc":"2.0","id":1000001,"result":{"content":[{"type":"text","text":"hello"}]}})";

std::string make_reply() {
    std::string r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Mcp-Session-Id: 0123456789abcdef0123456789abcdef\r\nContent-Length: ";
    r += std::to_string(body.size());
    r += "\r\n\r\n";
    r += body;
    return r;
}

struct connection {
    std::string in;
    std::string out;
    bool waiting_to_write = false; // registered for EPOLLOUT
};

[[noreturn]] void die(char const* what) {
    std::perror(what);
    std::exit(1);
}

// The Content-Length of a request head (0 when absent).
std::size_t content_length(std::string_view head) {
    constexpr std::string_view name = "content-length:";
    for (std::size_t at = 0; at < head.size();) {
        auto end = head.find("\r\n", at);
        auto line = head.substr(at, end == std::string_view::npos ? end : end - at);
        if (line.size() > name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0)
            return std::strtoul(std::string(line.substr(name.size())).c_str(), nullptr, 10);
        if (end == std::string_view::npos)
            break;
        at = end + 2;
    }
    return 0;
}

// Appends a reply to `out` for every complete request at the front of `in`, and drops them.
void answer(connection& c, std::string const& reply) {
    std::size_t used = 0;
    for (;;) {
        auto head_end = c.in.find("\r\n\r\n", used);
        if (head_end == std::string::npos)
            break;
        auto total =
            head_end + 4 + content_length(std::string_view(c.in).substr(used, head_end - used));
        if (total > c.in.size())
            break;
        c.out += reply;
        used = total;
    }
    c.in.erase(0, used);
}

// Writes what it can; false when the peer is gone.
bool flush(int fd, connection& c) {
    while (!c.out.empty()) {
        auto n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        c.out.erase(0, static_cast<std::size_t>(n));
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    int const port = argc > 1 ? std::atoi(argv[1]) : 0;
    std::string const reply = make_reply();

    int const listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (listener < 0)
        die("socket");
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        die("bind");
    if (::listen(listener, 1024) < 0)
        die("listen");
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("listening on %u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
    std::fflush(stdout);

    int const ep = ::epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listener;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);

    std::unordered_map<int, std::unique_ptr<connection>> conns;
    std::array<epoll_event, 256> events{};
    std::array<char, 65536> buf{};
    auto close_conn = [&](int fd) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        conns.erase(fd);
    };
    for (;;) {
        int const n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int const fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    int const c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
                    if (c < 0)
                        break;
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event cev{};
                    cev.events = EPOLLIN;
                    cev.data.fd = c;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    conns[c] = std::make_unique<connection>();
                }
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end())
                continue;
            connection& c = *it->second;
            bool alive = true;
            if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
                auto r = ::recv(fd, buf.data(), buf.size(), 0);
                if (r > 0)
                    c.in.append(buf.data(), static_cast<std::size_t>(r));
                else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                    alive = false;
            }
            if (alive) {
                answer(c, reply);
                alive = flush(fd, c);
            }
            if (!alive) {
                close_conn(fd);
                continue;
            }
            // Wait for writability only while a reply is left over (no syscall otherwise).
            if (c.waiting_to_write == c.out.empty()) {
                c.waiting_to_write = !c.out.empty();
                epoll_event cev{};
                cev.events = EPOLLIN | (c.waiting_to_write ? static_cast<unsigned>(EPOLLOUT) : 0u);
                cev.data.fd = fd;
                ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
            }
        }
    }
}

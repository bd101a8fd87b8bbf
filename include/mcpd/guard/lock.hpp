// guard/lock.hpp — distributed locks around operations that must not run twice at once.
//
// A lock is a key holding its owner's random token (SET key token NX PX ttl; the token is 16
// bytes from the CSPRNG). Only the owner releases or extends it: a script compares the token
// first, so a caller whose lock expired and was taken by someone else cannot delete the new
// owner's lock. Each acquisition gets a fencing token that grows with every acquisition of the
// resource: a store that remembers the highest token it has seen can refuse writes from an
// owner that paused past its TTL.
//
// lock_service::run(request, body) is the whole protocol around a critical section:
//   acquire (fail fast, or wait with capped exponential backoff, jitter and a deadline);
//   run body while a companion coroutine extends the lock each time 2/3 of its TTL has passed;
//   release when body returns, throws, or is cancelled.
// When the backend fails, request.on_unavailable decides: run without the lock (the Redis
// guide's choice: the lock is a safety net) or refuse (lock_unavailable).
// Backends: memory_lock_backend (one process) and redis_lock_backend (a fleet).
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/guard/metrics.hpp"
#include "mcpd/guard/texts.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace mcpd::redis {
class client;
}

namespace mcpd::guard {

using namespace std::chrono_literals;

// The lock stayed with another caller (fail fast, or the wait ran out). what(): lock_busy_text.
class lock_busy : public std::runtime_error {
public:
    lock_busy()
        : std::runtime_error(std::string(lock_busy_text)) {}
};
// The backend failed and the policy is to refuse. what(): lock_unavailable_text.
class lock_unavailable : public std::runtime_error {
public:
    lock_unavailable()
        : std::runtime_error(std::string(lock_unavailable_text)) {}
};

class lock_backend {
public:
    virtual ~lock_backend() = default;
    // The fencing token (> 0) when taken; nullopt when another token holds it.
    virtual boost::asio::awaitable<result<std::optional<std::int64_t>>>
    try_acquire(std::string key, std::string token, duration ttl) = 0;
    // True when `token` still held it and its TTL was reset to `ttl`.
    virtual boost::asio::awaitable<result<bool>> extend(std::string key, std::string token,
                                                        duration ttl) = 0;
    // True when `token` held it and it was deleted.
    virtual boost::asio::awaitable<result<bool>> release(std::string key, std::string token) = 0;
};

// One process. Thread-safe. Expired locks are dropped when next touched, and swept when many.
class memory_lock_backend final : public lock_backend {
public:
    boost::asio::awaitable<result<std::optional<std::int64_t>>>
    try_acquire(std::string key, std::string token, duration ttl) override;
    boost::asio::awaitable<result<bool>> extend(std::string key, std::string token,
                                                duration ttl) override;
    boost::asio::awaitable<result<bool>> release(std::string key, std::string token) override;
    [[nodiscard]] std::size_t held() const; // unexpired locks

private:
    using clock = std::chrono::steady_clock;
    struct holder {
        std::string token;
        clock::time_point expires;
    };
    mutable std::mutex mu_;
    std::map<std::string, holder, std::less<>> locks_;
    std::int64_t last_fence_ = 0;
};

class redis_lock_backend final : public lock_backend {
public:
    explicit redis_lock_backend(std::shared_ptr<redis::client> client);
    boost::asio::awaitable<result<std::optional<std::int64_t>>>
    try_acquire(std::string key, std::string token, duration ttl) override;
    boost::asio::awaitable<result<bool>> extend(std::string key, std::string token,
                                                duration ttl) override;
    boost::asio::awaitable<result<bool>> release(std::string key, std::string token) override;

private:
    std::shared_ptr<redis::client> client_;
};

enum class lock_wait : std::uint8_t {
    fail_fast, // held by another caller: lock_busy at once
    wait,      // retry until wait_timeout, then lock_busy
};
enum class lock_failure : std::uint8_t {
    proceed, // run without the lock (lease.held == false)
    refuse,  // lock_unavailable
};

struct lock_request {
    std::string key; // the full key (key_space::lock_key)
    duration ttl = 30s;
    lock_wait when_busy = lock_wait::fail_fast;
    duration wait_timeout = 10s;
    duration retry_min = 20ms; // first retry delay; doubles up to retry_max, with jitter
    duration retry_max = 500ms;
    lock_failure on_unavailable = lock_failure::proceed;
    bool auto_extend = true;
};

// What the critical section gets.
struct lock_lease {
    std::string key;
    std::int64_t fence = 0; // fencing token; 0 when running without the lock
    bool held = false;      // false: the backend was down and the policy said proceed
    // Set when an extension found the lock gone or owned by someone else: the section is no
    // longer exclusive (its fencing token is what still protects the data).
    [[nodiscard]] bool lost() const noexcept { return lost_ && lost_->load(); }

    std::shared_ptr<std::atomic<bool>> lost_;
};

class lock_service {
public:
    using body_fn = std::function<boost::asio::awaitable<void>(lock_lease const&)>;

    lock_service(std::shared_ptr<lock_backend> backend, counters& m);

    // Runs `body` holding the lock (see the file comment). Throws lock_busy or lock_unavailable
    // without running it; rethrows what `body` throws, after releasing.
    boost::asio::awaitable<void> run(lock_request req, body_fn body);

    [[nodiscard]] lock_backend& backend() noexcept { return *backend_; }
    [[nodiscard]] outage_log const& availability() const noexcept { return outage_; }

    struct extender; // the coroutine that keeps a held lock extended (lock.cpp)

private:
    std::shared_ptr<lock_backend> backend_;
    counters& counters_;
    outage_log outage_;
};

} // namespace mcpd::guard

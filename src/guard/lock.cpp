// guard/lock.cpp — lock backends and the acquire / extend / release protocol. See lock.hpp.
#include "mcpd/guard/lock.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "guard/scripts.hpp"
#include "mcpd/guard/keys.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <vector>

namespace mcpd::guard {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;

// --- memory_lock_backend -------------------------------------------------------------------

awaitable<result<std::optional<std::int64_t>>>
memory_lock_backend::try_acquire(std::string key, std::string token, duration ttl) {
    std::lock_guard lock(mu_);
    auto now = clock::now();
    if (locks_.size() > 1024)
        std::erase_if(locks_, [&](auto const& kv) { return kv.second.expires <= now; });
    auto it = locks_.find(key);
    if (it != locks_.end() && it->second.expires > now)
        co_return std::optional<std::int64_t>();
    locks_.insert_or_assign(std::move(key), holder{std::move(token), now + ttl});
    co_return std::optional<std::int64_t>(++last_fence_);
}

awaitable<result<bool>> memory_lock_backend::extend(std::string key, std::string token,
                                                    duration ttl) {
    std::lock_guard lock(mu_);
    auto now = clock::now();
    auto it = locks_.find(key);
    if (it == locks_.end() || it->second.expires <= now || it->second.token != token)
        co_return false;
    it->second.expires = now + ttl;
    co_return true;
}

awaitable<result<bool>> memory_lock_backend::release(std::string key, std::string token) {
    std::lock_guard lock(mu_);
    auto it = locks_.find(key);
    // An expired lock is gone, as in Redis: its old owner neither holds nor deletes anything.
    if (it == locks_.end() || it->second.token != token)
        co_return false;
    bool live = it->second.expires > clock::now();
    locks_.erase(it);
    co_return live;
}

std::size_t memory_lock_backend::held() const {
    std::lock_guard lock(mu_);
    auto now = clock::now();
    return static_cast<std::size_t>(std::count_if(
        locks_.begin(), locks_.end(), [&](auto const& kv) { return kv.second.expires > now; }));
}

// --- redis_lock_backend --------------------------------------------------------------------

namespace {

// Lock requests are never re-sent after a lost connection: a replayed SET NX could take the
// lock for a caller that has given up on it.
constexpr redis::request_options once{.retry_on_connection_lost = false};

duration::rep ttl_ms(duration ttl) {
    return std::max<duration::rep>(ttl.count(), 1);
}

} // namespace

redis_lock_backend::redis_lock_backend(std::shared_ptr<redis::client> client)
    : client_(std::move(client)) {}

awaitable<result<std::optional<std::int64_t>>>
redis_lock_backend::try_acquire(std::string key, std::string token, duration ttl) {
    std::vector<std::string> keys{key, fence_key(key)};
    std::vector<std::string> args{std::move(token), std::to_string(ttl_ms(ttl))};
    auto r = co_await client_->eval(scripts::acquire_with_fence(), std::move(keys), std::move(args),
                                    once);
    if (!r)
        co_return r.error();
    auto n = r->as_integer();
    if (!n)
        co_return error(redis::client_errc::unexpected_reply,
                        "lock acquire script: " + redis::to_debug_string(*r));
    if (*n <= 0)
        co_return std::optional<std::int64_t>();
    co_return std::optional<std::int64_t>(*n);
}

awaitable<result<bool>> redis_lock_backend::extend(std::string key, std::string token,
                                                   duration ttl) {
    std::vector<std::string> keys{std::move(key)};
    std::vector<std::string> args{std::move(token), std::to_string(ttl_ms(ttl))};
    auto r = co_await client_->eval(scripts::compare_and_extend(), std::move(keys), std::move(args),
                                    once);
    if (!r)
        co_return r.error();
    co_return r->as_integer().value_or(0) == 1;
}

awaitable<result<bool>> redis_lock_backend::release(std::string key, std::string token) {
    std::vector<std::string> keys{std::move(key)};
    std::vector<std::string> args{std::move(token)};
    auto r = co_await client_->eval(scripts::compare_and_delete(), std::move(keys), std::move(args),
                                    once);
    if (!r)
        co_return r.error();
    co_return r->as_integer().value_or(0) == 1;
}

// --- lock_service --------------------------------------------------------------------------

struct lock_service::extender {
    explicit extender(asio::any_io_executor ex)
        : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool stopped = false;
    void stop() {
        stopped = true;
        timer.cancel();
    }
};

namespace {

// Extends the lock each time 2/3 of its TTL has passed since it was taken or last extended.
// A failed attempt is retried every TTL/10 while the lock may still be ours.
awaitable<void> keep_extended(std::shared_ptr<lock_backend> backend,
                              std::shared_ptr<lock_service::extender> self, std::string key,
                              std::string token, duration ttl,
                              std::shared_ptr<std::atomic<bool>> lost, counters* m) {
    auto valid_until = clock::now() + ttl;
    auto next = clock::now() + ttl * 2 / 3;
    while (!self->stopped) {
        self->timer.expires_at(next);
        boost::system::error_code ec;
        co_await self->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (self->stopped)
            co_return;
        auto sent = clock::now();
        auto r = co_await backend->extend(key, token, ttl);
        if (self->stopped)
            co_return; // released meanwhile; `m` may be gone with its guard_set
        if (r && *r) {
            m->add(event::lock_extended);
            valid_until = sent + ttl;
            next = sent + ttl * 2 / 3;
            continue;
        }
        if (r || clock::now() + ttl / 10 >= valid_until) {
            lost->store(true);
            m->add(event::lock_lost);
            log::warn("guard lock: {} was lost while its holder ran ({}); its fencing token "
                      "still orders writes",
                      key, r ? "another owner or expired" : r.error().message());
            co_return;
        }
        next = clock::now() + ttl / 10;
    }
}

} // namespace

lock_service::lock_service(std::shared_ptr<lock_backend> backend, counters& m)
    : backend_(std::move(backend))
    , counters_(m)
    , outage_("lock", "the lock policy decides (proceed without the lock, or refuse)", m,
              event::lock_outage, event::lock_error) {}

awaitable<void> lock_service::run(lock_request req, body_fn body) {
    auto ex = co_await asio::this_coro::executor;
    auto token = random_hex(16);
    lock_lease lease;
    lease.key = req.key;
    lease.lost_ = std::make_shared<std::atomic<bool>>(false);
    bool may_hold = false; // an acquire went out that may have taken the lock
    std::shared_ptr<extender> ext;
    std::exception_ptr failure;
    try {
        auto deadline = clock::now() + req.wait_timeout;
        auto delay = std::max(req.retry_min, duration(1));
        bool waited = false;
        asio::steady_timer pause(ex);
        for (;;) {
            may_hold = true;
            auto got = co_await backend_->try_acquire(req.key, token, req.ttl);
            if (!got) {
                outage_.failure(got.error());
                if (req.on_unavailable == lock_failure::refuse) {
                    counters_.add(event::lock_refused);
                    throw lock_unavailable();
                }
                counters_.add(event::lock_proceeded);
                break;
            }
            outage_.success();
            if (*got) {
                lease.fence = **got;
                lease.held = true;
                counters_.add(event::lock_acquired);
                if (waited)
                    counters_.add(event::lock_waited);
                break;
            }
            may_hold = false;
            auto now = clock::now();
            if (req.when_busy == lock_wait::fail_fast || now >= deadline) {
                counters_.add(event::lock_busy);
                throw lock_busy();
            }
            // Full jitter in [delay/2, delay], never past the deadline.
            auto sleep =
                std::chrono::duration_cast<duration>(delay * (0.5 + 0.5 * fast_uniform01()));
            sleep = std::min(sleep, std::chrono::duration_cast<duration>(deadline - now) + 1ms);
            pause.expires_after(sleep);
            co_await pause.async_wait(asio::use_awaitable);
            delay = std::min(delay * 2, std::max(req.retry_max, req.retry_min));
            waited = true;
        }
        if (lease.held && req.auto_extend) {
            ext = std::make_shared<extender>(ex);
            auto loop =
                keep_extended(backend_, ext, req.key, token, req.ttl, lease.lost_, &counters_);
            asio::co_spawn(ex, std::move(loop), asio::detached);
        }
        co_await body(lease);
    } catch (...) {
        failure = std::current_exception();
    }
    if (ext)
        ext->stop();
    if (may_hold) {
        // Released on every way out, cancellation included: a cancelled coroutine's awaits
        // throw, so its cancellation state is reset for this one last request.
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            co_await asio::this_coro::reset_cancellation_state();
        auto released = co_await backend_->release(req.key, token);
        if (!released)
            log::debug("guard lock: release of {} failed ({}); it expires by its TTL", req.key,
                       released.error().message());
    }
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace mcpd::guard

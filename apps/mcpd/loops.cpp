// apps/mcpd/loops.cpp — the event loops of `mcpd serve --threads N`. See loops.hpp.
#include "loops.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <sched.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace mcpd::app {

namespace asio = boost::asio;
namespace json = boost::json;

event_loops::event_loops(std::size_t n) {
    for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i)
        // One thread runs every socket and timer of a context, so the reactor needs no lock
        // per operation; the scheduler keeps its lock, which other loops (and the blocking
        // pool's threads) need to post work to it.
        contexts_.push_back(
            std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
}

event_loops::~event_loops() {
    stop();
    for (auto& t : threads_)
        if (t.joinable())
            t.join();
}

void event_loops::run() {
    for (std::size_t i = 1; i < contexts_.size(); ++i)
        threads_.emplace_back([ctx = contexts_[i].get()] {
            auto work = asio::make_work_guard(*ctx); // idle until the home loop gives it work
            ctx->run();
        });
    contexts_[0]->run();
    stop();
    for (auto& t : threads_)
        t.join();
    threads_.clear();
}

void event_loops::stop() {
    for (auto& c : contexts_)
        c->stop();
}

std::size_t usable_cores() {
    std::size_t n = std::thread::hardware_concurrency();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) == 0)
        n = static_cast<std::size_t>(CPU_COUNT(&set));
    // "max 100000" (no limit) or "<quota> <period>" in microseconds.
    std::ifstream cpu_max("/sys/fs/cgroup/cpu.max");
    std::string quota;
    double period = 0;
    if (cpu_max >> quota >> period && quota != "max" && period > 0) {
        char* end = nullptr;
        double q = std::strtod(quota.c_str(), &end);
        if (end != quota.c_str() && q > 0)
            n = std::min(n, static_cast<std::size_t>(std::ceil(q / period)));
    }
    return std::max<std::size_t>(n, 1);
}

namespace {

class home_loop_session_store final : public store::session_store {
public:
    home_loop_session_store(std::shared_ptr<store::session_store> inner, asio::any_io_executor home)
        : inner_(std::move(inner))
        , home_(std::move(home)) {}

    [[nodiscard]] std::string_view backend_name() const noexcept override {
        return inner_->backend_name();
    }
    asio::awaitable<result<void>> create_session(json::object record,
                                                 std::optional<duration> ttl) override {
        co_return co_await on_loop(home_, inner_->create_session(std::move(record), ttl));
    }
    asio::awaitable<result<void>> update_session(std::string identity, std::string session_id,
                                                 json::object partial,
                                                 std::optional<duration> ttl) override {
        co_return co_await on_loop(home_, inner_->update_session(std::move(identity),
                                                                 std::move(session_id),
                                                                 std::move(partial), ttl));
    }
    asio::awaitable<result<std::optional<json::object>>>
    get_session(std::string identity, std::string session_id) override {
        co_return co_await on_loop(home_,
                                   inner_->get_session(std::move(identity), std::move(session_id)));
    }
    asio::awaitable<result<std::vector<store::session_record>>>
    get_identity_sessions_data(std::string identity) override {
        co_return co_await on_loop(home_, inner_->get_identity_sessions_data(std::move(identity)));
    }
    asio::awaitable<result<std::vector<std::string>>>
    get_identity_session_ids(std::string identity) override {
        co_return co_await on_loop(home_, inner_->get_identity_session_ids(std::move(identity)));
    }
    asio::awaitable<result<void>> remove_session(std::string identity,
                                                 std::string session_id) override {
        co_return co_await on_loop(
            home_, inner_->remove_session(std::move(identity), std::move(session_id)));
    }
    asio::awaitable<result<std::vector<std::string>>> get_all_session_ids() override {
        co_return co_await on_loop(home_, inner_->get_all_session_ids());
    }
    asio::awaitable<result<void>> clear_all() override {
        co_return co_await on_loop(home_, inner_->clear_all());
    }
    asio::awaitable<result<std::size_t>> cleanup_expired_sessions() override {
        co_return co_await on_loop(home_, inner_->cleanup_expired_sessions());
    }
    asio::awaitable<result<void>> ping() override {
        co_return co_await on_loop(home_, inner_->ping());
    }
    asio::awaitable<void> close() override { co_return; }

private:
    std::shared_ptr<store::session_store> inner_;
    asio::any_io_executor home_;
};

} // namespace

std::shared_ptr<store::session_store> home_loop_store(std::shared_ptr<store::session_store> inner,
                                                      asio::any_io_executor home) {
    return std::make_shared<home_loop_session_store>(std::move(inner), std::move(home));
}

} // namespace mcpd::app

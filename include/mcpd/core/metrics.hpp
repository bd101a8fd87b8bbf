// core/metrics.hpp — counters, gauges and histograms with labels, rendered in the Prometheus
// text exposition format (version 0.0.4) for `GET /metrics`.
//
//     metrics::registry reg;
//     auto& calls = reg.counter("mcpd_tool_calls_total", "Tool calls", {"tool", "outcome"});
//     calls.with({"echo", "ok"}).inc();
//     auto& lat = reg.histogram("mcpd_tool_call_duration_seconds", "…", {"tool"});
//     lat.with({"echo"}).observe(0.0042);
//     std::string page = reg.render();
//
// Threads: values are relaxed atomics, so any thread may update them (mcpd's I/O runs on one
// thread, but SQLite and file work runs on a blocking pool, and the Redis client may be driven
// from several). A family's children (one per label set) are created under the family's mutex
// and never move or die before the registry, so a reference from with() may be kept and used
// without any lock: hot paths resolve their children once. Collectors (callbacks that copy
// numbers kept elsewhere into gauges and counters, e.g. a Redis client's stats) run under the
// registry's mutex at the start of render(), on the thread that renders.
//
// Label values come from our code or from bounded sets (method names we know, registered tool
// names): never put raw client input in a label, or a client can grow the page without bound.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::metrics {

class counter {
public:
    void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    // For collectors that mirror a monotonic count kept elsewhere (never to go backwards).
    void set(std::uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t value() const noexcept {
        return v_.load(std::memory_order_relaxed);
    }

private:
    std::atomic<std::uint64_t> v_{0};
};

class gauge {
public:
    void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
    void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
    void inc() noexcept { add(1); }
    void dec() noexcept { add(-1); }
    [[nodiscard]] double value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

class histogram {
public:
    // `bounds`: upper bounds, increasing (the +Inf bucket is implicit).
    explicit histogram(std::vector<double> const& bounds);
    void observe(double v) noexcept;
    void observe(std::chrono::nanoseconds d) noexcept {
        observe(std::chrono::duration<double>(d).count());
    }

    struct snapshot {
        std::vector<double> bounds;
        std::vector<std::uint64_t> cumulative; // one per bound, then +Inf
        double sum = 0;
        std::uint64_t count = 0;
    };
    [[nodiscard]] snapshot read() const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_; // bounds_.size() + 1 (+Inf)
    std::atomic<double> sum_{0};
    std::atomic<std::uint64_t> count_{0};
};

// Latency buckets in seconds: 0.5 ms (a Redis round trip on a LAN) to 60 s (a slow tool).
std::vector<double> const& latency_buckets();

// A metric with labels: one child per distinct label set.
template <class T>
class family {
public:
    family(std::string name, std::string help, std::vector<std::string> labels,
           std::function<std::unique_ptr<T>()> make)
        : name_(std::move(name))
        , help_(std::move(help))
        , labels_(std::move(labels))
        , make_(std::move(make)) {}

    // The child for these label values (as many as the family has labels), created on first use.
    T& with(std::vector<std::string> const& values) {
        std::lock_guard lock(mutex_);
        auto it = children_.find(values);
        if (it == children_.end())
            it = children_.emplace(values, make_()).first;
        return *it->second;
    }
    // The child of a family without labels.
    T& get() { return with({}); }

    [[nodiscard]] std::string const& name() const noexcept { return name_; }
    [[nodiscard]] std::string const& help() const noexcept { return help_; }
    [[nodiscard]] std::vector<std::string> const& labels() const noexcept { return labels_; }
    // Calls f(label values, child) for each child, in label order.
    template <class F>
    void for_each(F&& f) const {
        std::lock_guard lock(mutex_);
        for (auto const& [values, child] : children_)
            f(values, *child);
    }

private:
    std::string name_, help_;
    std::vector<std::string> labels_;
    std::function<std::unique_ptr<T>()> make_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

class registry {
public:
    registry() = default;
    registry(registry const&) = delete;
    registry& operator=(registry const&) = delete;

    // Registering a name twice returns the existing family (its type and labels must match:
    // a mismatch is a programming error and throws std::logic_error). Names follow Prometheus
    // rules ([a-zA-Z_:][a-zA-Z0-9_:]*); a family without labels renders 0 before first use.
    counter_family& counter(std::string_view name, std::string_view help,
                            std::vector<std::string> labels = {});
    gauge_family& gauge(std::string_view name, std::string_view help,
                        std::vector<std::string> labels = {});
    histogram_family& histogram(std::string_view name, std::string_view help,
                                std::vector<std::string> labels = {},
                                std::vector<double> const& bounds = latency_buckets());

    // Runs before each render(): copies numbers kept elsewhere into this registry's metrics.
    // Returns an id for remove_collector (a collector must not outlive what it reads).
    std::size_t add_collector(std::function<void()> collect);
    void remove_collector(std::size_t id);

    // The whole page, families in registration order.
    [[nodiscard]] std::string render();

private:
    struct entry {
        enum class kind { counter, gauge, histogram } type;
        std::unique_ptr<counter_family> c;
        std::unique_ptr<gauge_family> g;
        std::unique_ptr<histogram_family> h;
    };
    entry* find(std::string_view name);
    entry& add(std::string_view name, entry::kind type, std::vector<std::string> const& labels);

    std::mutex mutex_;
    std::deque<entry> entries_;
    std::map<std::size_t, std::function<void()>> collectors_;
    std::size_t next_collector_ = 0;
};

// "a\"b" → "a\\\"b": a label value as the text format writes it.
std::string escape_label_value(std::string_view v);

// Time since construction, for histograms of durations.
class stopwatch {
public:
    stopwatch() noexcept
        : start_(std::chrono::steady_clock::now()) {}
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept {
        return std::chrono::steady_clock::now() - start_;
    }
    [[nodiscard]] double seconds() const noexcept {
        return std::chrono::duration<double>(elapsed()).count();
    }

private:
    std::chrono::steady_clock::time_point start_;
};

// mcpd_limit_hits_total{limit}: how often each budget refused something, labelled with the
// budget's setting name ("max-batch", "max-connections-per-client", …; docs/operations.md lists
// them). Counting does nothing until attached to a registry. Safe from any thread.
class limit_meter {
public:
    void attach(registry& reg);
    void hit(std::string_view limit);

private:
    std::atomic<counter_family*> family_{nullptr};
};

} // namespace mcpd::metrics

// core/metrics.cpp — the registry and the text exposition format. See metrics.hpp.
#include "mcpd/core/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mcpd::metrics {

histogram::histogram(std::vector<double> const& bounds)
    : bounds_(bounds)
    , buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
        std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
        throw std::logic_error("histogram bounds must be strictly increasing");
}

void histogram::observe(double v) noexcept {
    // Linear: a dozen bounds, and most observations land in the first few.
    std::size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i])
        ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
    snapshot s;
    s.bounds = bounds_;
    s.cumulative.resize(bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        running += buckets_[i].load(std::memory_order_relaxed);
        s.cumulative[i] = running;
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    // The count is the +Inf bucket: read apart, the two could disagree mid-update.
    s.count = running;
    return s;
}

std::vector<double> const& latency_buckets() {
    static std::vector<double> const b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
    return b;
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

namespace {

bool valid_name(std::string_view n, bool label) {
    if (n.empty())
        return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return !(label && n.starts_with("__"));
}

std::string escape_help(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

// Prometheus writes floats in Go's %g-like shortest form; "+Inf", "-Inf", "NaN" for the rest.
std::string number(double v) {
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

// {a="x",b="y"} plus an optional extra pair (le for buckets); "" when there are none.
std::string label_text(std::vector<std::string> const& names,
                       std::vector<std::string> const& values, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
    if (names.empty() && extra_name.empty())
        return {};
    std::string out = "{";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0)
            out += ',';
        out += names[i];
        out += "=\"";
        out += escape_label_value(i < values.size() ? values[i] : std::string());
        out += '"';
    }
    if (!extra_name.empty()) {
        if (!names.empty())
            out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
    return out;
}

template <class T>
std::unique_ptr<family<T>> make_family(std::string_view name, std::string_view help,
                                       std::vector<std::string> labels,
                                       std::function<std::unique_ptr<T>()> make) {
    return std::make_unique<family<T>>(std::string(name), std::string(help), std::move(labels),
                                       std::move(make));
}

} // namespace

registry::entry* registry::find(std::string_view name) {
    for (auto& e : entries_) {
        std::string const& n = e.c ? e.c->name() : e.g ? e.g->name() : e.h->name();
        if (n == name)
            return &e;
    }
    return nullptr;
}

registry::entry& registry::add(std::string_view name, entry::kind type,
                               std::vector<std::string> const& labels) {
    if (!valid_name(name, false))
        throw std::logic_error("metric name \"" + std::string(name) + "\" is not valid");
    for (auto const& l : labels)
        if (!valid_name(l, true) || l == "le")
            throw std::logic_error("label name \"" + l + "\" of " + std::string(name) +
                                   " is not valid");
    if (auto* e = find(name)) {
        auto const& have = e->c ? e->c->labels() : e->g ? e->g->labels() : e->h->labels();
        if (e->type != type || have != labels)
            throw std::logic_error("metric " + std::string(name) +
                                   " registered twice with different types or labels");
        return *e;
    }
    entries_.push_back(entry{type, nullptr, nullptr, nullptr});
    return entries_.back();
}

counter_family& registry::counter(std::string_view name, std::string_view help,
                                  std::vector<std::string> labels) {
    std::lock_guard lock(mutex_);
    auto& e = add(name, entry::kind::counter, labels);
    if (!e.c) {
        bool plain = labels.empty();
        e.c = make_family<metrics::counter>(name, help, std::move(labels),
                                            [] { return std::make_unique<metrics::counter>(); });
        if (plain)
            e.c->get();
    }
    return *e.c;
}

gauge_family& registry::gauge(std::string_view name, std::string_view help,
                              std::vector<std::string> labels) {
    std::lock_guard lock(mutex_);
    auto& e = add(name, entry::kind::gauge, labels);
    if (!e.g) {
        bool plain = labels.empty();
        e.g = make_family<metrics::gauge>(name, help, std::move(labels),
                                          [] { return std::make_unique<metrics::gauge>(); });
        if (plain)
            e.g->get();
    }
    return *e.g;
}

histogram_family& registry::histogram(std::string_view name, std::string_view help,
                                      std::vector<std::string> labels,
                                      std::vector<double> const& bounds) {
    std::lock_guard lock(mutex_);
    auto& e = add(name, entry::kind::histogram, labels);
    if (!e.h) {
        bool plain = labels.empty();
        e.h = make_family<metrics::histogram>(name, help, std::move(labels), [bounds] {
            return std::make_unique<metrics::histogram>(bounds);
        });
        if (plain)
            e.h->get();
    }
    return *e.h;
}

std::size_t registry::add_collector(std::function<void()> collect) {
    std::lock_guard lock(mutex_);
    auto id = next_collector_++;
    collectors_.emplace(id, std::move(collect));
    return id;
}

void registry::remove_collector(std::size_t id) {
    std::lock_guard lock(mutex_);
    collectors_.erase(id);
}

std::string registry::render() {
    std::lock_guard lock(mutex_);
    for (auto& [id, collect] : collectors_)
        collect();
    std::string out;
    out.reserve(16 * 1024);
    auto head = [&out](std::string const& name, std::string const& help, char const* type) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += escape_help(help);
        out += "\n# TYPE ";
        out += name;
        out += ' ';
        out += type;
        out += '\n';
    };
    for (auto const& e : entries_) {
        if (e.c) {
            head(e.c->name(), e.c->help(), "counter");
            e.c->for_each([&](auto const& values, metrics::counter const& c) {
                out += e.c->name() + label_text(e.c->labels(), values) + ' ' +
                       std::to_string(c.value()) + '\n';
            });
        } else if (e.g) {
            head(e.g->name(), e.g->help(), "gauge");
            e.g->for_each([&](auto const& values, metrics::gauge const& g) {
                out += e.g->name() + label_text(e.g->labels(), values) + ' ' + number(g.value()) +
                       '\n';
            });
        } else {
            auto const& f = *e.h;
            head(f.name(), f.help(), "histogram");
            f.for_each([&](auto const& values, metrics::histogram const& h) {
                auto s = h.read();
                for (std::size_t i = 0; i <= s.bounds.size(); ++i) {
                    auto le = i < s.bounds.size() ? number(s.bounds[i]) : std::string("+Inf");
                    out += f.name() + "_bucket" + label_text(f.labels(), values, "le", le) + ' ' +
                           std::to_string(s.cumulative[i]) + '\n';
                }
                out +=
                    f.name() + "_sum" + label_text(f.labels(), values) + ' ' + number(s.sum) + '\n';
                out += f.name() + "_count" + label_text(f.labels(), values) + ' ' +
                       std::to_string(s.count) + '\n';
            });
        }
    }
    return out;
}

void limit_meter::attach(registry& reg) {
    family_ = &reg.counter("mcpd_limit_hits_total",
                           "Work refused because a budget was reached, by the budget's setting",
                           {"limit"});
}

void limit_meter::hit(std::string_view limit) {
    if (auto* f = family_.load(std::memory_order_acquire))
        f->with({std::string(limit)}).inc();
}

} // namespace mcpd::metrics

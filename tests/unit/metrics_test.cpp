// tests/unit/metrics_test.cpp — core/metrics: what the text exposition page says for each kind
// of metric, label escaping, histogram buckets, collectors, and the guards' families. (The
// page of a real mcpd is read by the Prometheus parser in integration/mcpd_ops_test.cpp.)
#include "mcpd/core/metrics.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using namespace mcpd::metrics;

namespace {

bool has_line(std::string const& page, std::string const& line) {
    return page.find("\n" + line + "\n") != std::string::npos || page.starts_with(line + "\n");
}

TEST(core_metrics, counters_and_gauges_render_with_help_type_and_labels) {
    registry reg;
    auto& calls = reg.counter("t_calls_total", "Calls\nby tool", {"tool", "outcome"});
    calls.with({"echo", "ok"}).inc();
    calls.with({"echo", "ok"}).inc(2);
    calls.with({"a\"b\\c\nd", "error"}).inc();
    reg.gauge("t_open", "Open things").get().set(2.5);
    reg.counter("t_plain_total", "Never touched");
    auto page = reg.render();
    EXPECT_TRUE(has_line(page, "# HELP t_calls_total Calls\\nby tool")) << page;
    EXPECT_TRUE(has_line(page, "# TYPE t_calls_total counter")) << page;
    EXPECT_TRUE(has_line(page, "t_calls_total{tool=\"echo\",outcome=\"ok\"} 3")) << page;
    EXPECT_TRUE(has_line(page, "t_calls_total{tool=\"a\\\"b\\\\c\\nd\",outcome=\"error\"} 1"))
        << page;
    EXPECT_TRUE(has_line(page, "# TYPE t_open gauge")) << page;
    EXPECT_TRUE(has_line(page, "t_open 2.5")) << page;
    EXPECT_TRUE(has_line(page, "t_plain_total 0")) << page;
}

TEST(core_metrics, histograms_have_cumulative_buckets_sum_and_count) {
    registry reg;
    auto& h = reg.histogram("t_seconds", "Latency", {"op"}, {0.1, 1});
    h.with({"get"}).observe(0.05);
    h.with({"get"}).observe(0.1); // on a bound: that bucket (le is "less or equal")
    h.with({"get"}).observe(0.5);
    h.with({"get"}).observe(7);
    auto page = reg.render();
    EXPECT_TRUE(has_line(page, "# TYPE t_seconds histogram")) << page;
    EXPECT_TRUE(has_line(page, "t_seconds_bucket{op=\"get\",le=\"0.1\"} 2")) << page;
    EXPECT_TRUE(has_line(page, "t_seconds_bucket{op=\"get\",le=\"1\"} 3")) << page;
    EXPECT_TRUE(has_line(page, "t_seconds_bucket{op=\"get\",le=\"+Inf\"} 4")) << page;
    EXPECT_TRUE(has_line(page, "t_seconds_sum{op=\"get\"} 7.65")) << page;
    EXPECT_TRUE(has_line(page, "t_seconds_count{op=\"get\"} 4")) << page;
}

TEST(core_metrics, registering_again_returns_the_family_and_mismatches_throw) {
    registry reg;
    auto& a = reg.counter("t_total", "x", {"k"});
    EXPECT_EQ(&a, &reg.counter("t_total", "x", {"k"}));
    EXPECT_THROW(reg.counter("t_total", "x", {"other"}), std::logic_error);
    EXPECT_THROW(reg.gauge("t_total", "x", {"k"}), std::logic_error);
    EXPECT_THROW(reg.counter("bad name", "x"), std::logic_error);
    EXPECT_THROW(reg.counter("t2_total", "x", {"le"}), std::logic_error);
    EXPECT_THROW(reg.histogram("t3", "x", {}, {1, 0.5}), std::logic_error);
}

TEST(core_metrics, collectors_run_at_each_render_until_removed) {
    registry reg;
    auto& g = reg.gauge("t_live", "Live").get();
    int calls = 0;
    auto id = reg.add_collector([&] { g.set(++calls); });
    EXPECT_TRUE(has_line(reg.render(), "t_live 1"));
    EXPECT_TRUE(has_line(reg.render(), "t_live 2"));
    reg.remove_collector(id);
    EXPECT_TRUE(has_line(reg.render(), "t_live 2"));
}

} // namespace

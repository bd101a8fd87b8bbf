// server/registry.hpp — the server's tables, as the dispatcher reads them (internal to server/).
//
// Each table keeps registration order (lists are paged in that order, so cursors stay valid
// while nothing changes) with an index by name or URI.
#pragma once

#include "mcpd/core/metrics.hpp"
#include "mcpd/server/server.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::server {

struct server::registry {
    struct tool_entry {
        tool def;
        tool_handler handler;
    };
    struct resource_entry {
        resource def;
        resource_handler handler;
    };
    struct template_entry {
        resource_template def;
        template_handler handler;
    };
    struct prompt_entry {
        prompt def;
        prompt_handler handler;
    };
    template <class Entry>
    struct table {
        std::vector<std::pair<std::string, Entry>> items;
        Entry* find(std::string_view key) {
            auto it = std::find_if(items.begin(), items.end(),
                                   [&](auto const& kv) { return kv.first == key; });
            return it == items.end() ? nullptr : &it->second;
        }
    };

    template <class Entry>
    void upsert(table<Entry>& t, std::string const& key, Entry e) {
        if (auto* existing = t.find(key))
            *existing = std::move(e);
        else
            t.items.emplace_back(key, std::move(e));
    }
    template <class Entry>
    bool erase(table<Entry>& t, std::string_view key) {
        auto it = std::find_if(t.items.begin(), t.items.end(),
                               [&](auto const& kv) { return kv.first == key; });
        if (it == t.items.end())
            return false;
        t.items.erase(it);
        return true;
    }
    void changed(std::string_view notification) {
        if (on_list_changed)
            on_list_changed(notification);
    }

    // Stateless input rounds carry their state through the client: sealed with HMAC-SHA256 under
    // state_key (random per process unless server_options::state_key shares one in a fleet).
    [[nodiscard]] std::string seal_state(boost::json::object const& state) const;
    [[nodiscard]] std::optional<boost::json::object> open_state(std::string_view sealed) const;
    [[nodiscard]] std::string hmac_hex(std::string_view text) const;
    std::array<unsigned char, 32> state_key{};

    server_options opts;
    table<tool_entry> tools;
    table<resource_entry> resources;
    table<template_entry> templates;
    table<prompt_entry> prompts;
    completion_handler complete;

    // Set by the dispatcher that serves this server.
    std::function<void(std::string_view method)> on_list_changed;
    std::function<void(std::string_view uri)> on_resource_updated;
    // Budgets refused here (the dispatcher's and a handler's context's): counted on /metrics as
    // mcpd_limit_hits_total{limit} once the dispatcher attaches its registry.
    metrics::limit_meter limit_hits;
};

} // namespace mcpd::server

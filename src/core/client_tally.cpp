// core/client_tally.cpp — see client_tally.hpp.
#include "mcpd/core/client_tally.hpp"

#include <functional>
#include <mutex>
#include <unordered_map>

namespace mcpd {

namespace {
constexpr std::size_t shard_count = 64;
}

namespace {
// Looked up by string_view, with no string made for it.
struct address_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
using counts = std::array<std::size_t, 3>;
} // namespace

struct client_tally::shard {
    std::mutex mutex;
    std::unordered_map<std::string, counts, address_hash, std::equal_to<>> held;
};

client_tally::client_tally()
    : shards_(std::make_unique<shard[]>(shard_count)) {}

client_tally::~client_tally() = default;

client_tally::shard& client_tally::shard_of(std::string_view client) const {
    return shards_[std::hash<std::string_view>{}(client) % shard_count];
}

bool client_tally::try_add(std::string_view client, kind what, std::size_t max) {
    auto i = static_cast<std::size_t>(what);
    auto& s = shard_of(client);
    {
        std::lock_guard lock(s.mutex);
        auto it = s.held.find(client);
        if (it == s.held.end()) {
            if (max == 0)
                return false;
            it = s.held.emplace(std::string(client), counts{}).first;
        } else if (it->second[i] >= max) {
            return false;
        }
        ++it->second[i];
    }
    totals_[i].fetch_add(1, std::memory_order_relaxed);
    return true;
}

void client_tally::add(std::string_view client, kind what) {
    (void)try_add(client, what, SIZE_MAX);
}

void client_tally::remove(std::string_view client, kind what) {
    auto i = static_cast<std::size_t>(what);
    auto& s = shard_of(client);
    std::lock_guard lock(s.mutex);
    auto it = s.held.find(client);
    if (it == s.held.end() || it->second[i] == 0)
        return;
    --it->second[i];
    totals_[i].fetch_sub(1, std::memory_order_relaxed);
    if (it->second == counts{})
        s.held.erase(it);
}

client_tally::holding client_tally::held(std::string_view client) const {
    auto& s = shard_of(client);
    std::lock_guard lock(s.mutex);
    auto it = s.held.find(client);
    if (it == s.held.end())
        return {};
    auto const& c = it->second;
    return {c[static_cast<std::size_t>(kind::connections)],
            c[static_cast<std::size_t>(kind::sessions)],
            c[static_cast<std::size_t>(kind::streams)]};
}

std::size_t client_tally::total(kind what) const noexcept {
    return totals_[static_cast<std::size_t>(what)].load(std::memory_order_relaxed);
}

} // namespace mcpd

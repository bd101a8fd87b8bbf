// store/record_memo.cpp — see record_memo.hpp.
#include "store/record_memo.hpp"

#include "store/session.hpp"

#include <boost/json/monotonic_resource.hpp>

namespace json = boost::json;

namespace mcpd::store {

record_memo::record_memo(std::size_t max_entries, std::size_t max_text_bytes)
    : max_entries_(max_entries)
    , max_text_bytes_(max_text_bytes) {}

result<json::object> record_memo::parse(std::string_view key, std::string_view text) {
    {
        std::lock_guard lock(mu_);
        if (auto it = by_key_.find(key); it != by_key_.end() && it->second->text == text) {
            lru_.splice(lru_.begin(), lru_, it->second);
            ++hits_;
            // The same one-arena layout parse_record gives: a bump allocation per string.
            auto arena =
                json::make_shared_resource<json::monotonic_resource>(2 * text.size() + 256);
            return json::object(it->second->record, arena);
        }
    }
    auto parsed = parse_record(text);
    if (!parsed || text.size() > max_text_bytes_)
        return parsed;
    json::object kept(*parsed); // default storage: independent of the caller's arena
    std::lock_guard lock(mu_);
    if (auto it = by_key_.find(key); it != by_key_.end())
        drop(it);
    lru_.push_front(entry{std::string(key), std::string(text), std::move(kept)});
    by_key_.emplace(lru_.front().key, lru_.begin());
    text_bytes_ += text.size();
    evict_while_over_budget();
    return parsed;
}

void record_memo::forget(std::string_view key) {
    std::lock_guard lock(mu_);
    if (auto it = by_key_.find(key); it != by_key_.end())
        drop(it);
}

void record_memo::clear() {
    std::lock_guard lock(mu_);
    by_key_.clear();
    lru_.clear();
    text_bytes_ = 0;
}

// The index entry goes first: its key is a view into the list entry.
void record_memo::drop(index::iterator it) {
    auto held = it->second;
    by_key_.erase(it);
    text_bytes_ -= held->text.size();
    lru_.erase(held);
}

void record_memo::evict_while_over_budget() {
    while (!lru_.empty() && (lru_.size() > max_entries_ || text_bytes_ > max_text_bytes_))
        drop(by_key_.find(lru_.back().key));
}

std::size_t record_memo::size() const {
    std::lock_guard lock(mu_);
    return lru_.size();
}

std::size_t record_memo::hits() const {
    std::lock_guard lock(mu_);
    return hits_;
}

} // namespace mcpd::store

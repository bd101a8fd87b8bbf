// store/record_memo.hpp — parsed session records remembered with the exact text they were parsed
// from, so that a record read again unchanged is copied instead of parsed again.
//
// Why: listing an identity's sessions (which a gateway does on every page load and every tab)
// spends four fifths of its client time in the JSON parser; Redis returns the same bytes each
// time until the record changes. The memo never decides what a read returns: the backend still
// fetches the record's text on every read, and a remembered object is used only when that text
// is byte for byte the one it was parsed from. So nothing can be stale, whatever other processes
// write.
//
// Bounded by entries and by bytes of text; the least recently used go first. Thread-safe.
#pragma once

#include "core/error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpd::store {

class record_memo {
public:
    explicit record_memo(std::size_t max_entries = 4096, std::size_t max_text_bytes = 8 << 20);

    // The record `text` (read from `key`) holds: a copy of the remembered object when `text`
    // is the text it was parsed from, else parsed (parse_record) and remembered. The result
    // owns its memory (one arena per record).
    result<boost::json::object> parse(std::string_view key, std::string_view text);

    // The key's record changed or is gone (written or removed through this process).
    void forget(std::string_view key);
    void clear();

    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] std::size_t hits() const;

private:
    struct entry {
        std::string key;
        std::string text;
        boost::json::object record;
    };
    using lru_list = std::list<entry>;
    using index = std::unordered_map<std::string_view, lru_list::iterator>;

    void drop(index::iterator it);
    void evict_while_over_budget();

    std::size_t max_entries_;
    std::size_t max_text_bytes_;
    mutable std::mutex mu_;
    lru_list lru_; // most recently used first
    index by_key_; // keys are views into lru_'s entries
    std::size_t text_bytes_ = 0;
    std::size_t hits_ = 0;
};

} // namespace mcpd::store

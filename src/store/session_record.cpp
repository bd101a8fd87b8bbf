// store/session_record.cpp — see session_record.hpp.
//
// Reading a record's text is one pass of Boost.JSON's SAX parser (basic_parser) with a handler
// that keeps the top-level fields a lister reads and builds nothing else: the whole text is
// still checked, as parse_record() checks it.
#include "mcpd/store/session_record.hpp"

#include "mcpd/store/error.hpp"
#include "mcpd/store/secret_box.hpp"
#include "mcpd/store/session.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace mcpd::store {

namespace json = boost::json;
using boost::system::error_code;

namespace {

constexpr std::array<std::string_view, 7> string_field_names = {
    "identity", "sessionId", "serverId", "serverName", "serverUrl", "transportType", "callbackUrl"};

} // namespace

// The SAX handler: depth 1 is the record's own fields; anything deeper is only checked.
class record_reader {
public:
    constexpr static std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
    constexpr static std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
    constexpr static std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
    constexpr static std::size_t max_string_size = std::numeric_limits<std::size_t>::max();

    explicit record_reader(session_record& into)
        : r_(into) {}

    bool root_was_object() const noexcept { return root_object_; }
    bool saw_non_finite() const noexcept { return non_finite_; }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) {
        if (depth_ == 0)
            root_object_ = true;
        else
            value_at_top(); // a field that holds an object: not one the record keeps
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t, error_code&) {
        --depth_;
        return true;
    }
    bool on_array_begin(error_code&) {
        value_at_top();
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, error_code&) {
        --depth_;
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, error_code&) {
        if (depth_ == 1)
            key_.append(s.data(), s.size());
        return true;
    }
    bool on_key(json::string_view s, std::size_t, error_code&) {
        if (depth_ == 1)
            key_.append(s.data(), s.size());
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, error_code&) {
        if (depth_ == 1)
            part_.append(s.data(), s.size());
        return true;
    }
    bool on_string(json::string_view s, std::size_t, error_code&) {
        if (depth_ != 1)
            return true;
        std::string_view text(s.data(), s.size());
        if (!part_.empty()) {
            part_.append(text);
            text = part_;
        }
        auto name = std::string_view(key_);
        if (!r_.keep_string(name, text)) {
            if (std::find(secret_fields.begin(), secret_fields.end(), name) != secret_fields.end())
                r_.sealed_ = r_.sealed_ || secret_box::is_sealed(text);
            forget(name);
        }
        part_.clear();
        end_value();
        return true;
    }
    bool on_number_part(json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t v, json::string_view, error_code&) { return number(v); }
    bool on_uint64(std::uint64_t v, json::string_view, error_code&) { return number(v); }
    // A number too large for a double (read as an infinity): parse_record refuses the record
    // unless a later duplicate key replaced it, which only the whole object tells; parse() asks
    // it then (core/json_finite.hpp).
    bool on_double(double v, json::string_view, error_code&) {
        if (!std::isfinite(v))
            non_finite_ = true;
        return number(v);
    }
    bool on_bool(bool v, error_code&) {
        if (depth_ == 1) {
            if (key_ == "active")
                r_.active_ = v;
            else
                forget(key_);
            end_value();
        }
        return true;
    }
    bool on_null(error_code&) {
        if (depth_ == 1) {
            forget(key_);
            end_value();
        }
        return true;
    }
    bool on_comment_part(json::string_view, error_code&) { return true; }
    bool on_comment(json::string_view, error_code&) { return true; }

private:
    template <class Number>
    bool number(Number v) {
        if (depth_ == 1) {
            if (key_ == "createdAt")
                r_.created_at_ = v;
            else
                forget(key_);
            end_value();
        }
        return true;
    }
    // A field of the record whose value is an object or an array.
    void value_at_top() {
        if (depth_ == 1) {
            forget(key_);
            end_value();
        }
    }
    // A later duplicate of a kept field that is not of the kept type replaces it (the last
    // one wins, as in the parsed object).
    void forget(std::string_view name) {
        if (r_.drop_string(name))
            return;
        if (name == "createdAt")
            r_.created_at_ = nullptr;
        else if (name == "active")
            r_.active_.reset();
    }
    void end_value() { key_.clear(); }

    session_record& r_;
    std::size_t depth_ = 0;
    bool root_object_ = false;
    bool non_finite_ = false;
    std::string key_;  // the current field's name at depth 1
    std::string part_; // a string value that came in parts
};

result<session_record> session_record::parse(std::string_view text) {
    session_record r;
    json::basic_parser<record_reader> p(json::parse_options{}, r);
    error_code ec;
    auto n = p.write_some(false, text.data(), text.size(), ec);
    if (!ec && n != text.size())
        ec = json::error::extra_data;
    if (ec)
        return error(store_errc::corrupt_record, ec.message());
    if (!p.handler().root_was_object())
        return error(store_errc::corrupt_record, "not an object");
    if (p.handler().saw_non_finite())
        if (auto whole = parse_record(text); !whole)
            return whole.error();
    r.text_.assign(text);
    return r;
}

session_record::session_record(json::object record) {
    for (auto name : string_field_names)
        if (auto const* v = record.if_contains(name); v && v->is_string())
            keep_string(name, v->get_string());
    if (auto const* v = record.if_contains("createdAt"); v && v->is_number())
        created_at_ = *v;
    if (auto const* v = record.if_contains("active"); v && v->is_bool())
        active_ = v->get_bool();
    for (auto name : secret_fields)
        if (auto const* v = record.if_contains(name); v && secret_box::is_sealed(*v))
            sealed_ = true;
    object_ = std::move(record);
}

namespace {

std::optional<unsigned> string_field_index(std::string_view name) noexcept {
    auto it = std::find(string_field_names.begin(), string_field_names.end(), name);
    if (it == string_field_names.end())
        return std::nullopt;
    return static_cast<unsigned>(it - string_field_names.begin());
}

} // namespace

bool session_record::keep_string(std::string_view name, std::string_view text) {
    auto i = string_field_index(name);
    if (!i)
        return false;
    strings_[*i].assign(text);
    present_ = static_cast<unsigned char>(present_ | (1u << *i));
    return true;
}

bool session_record::drop_string(std::string_view name) noexcept {
    auto i = string_field_index(name);
    if (!i)
        return false;
    present_ = static_cast<unsigned char>(present_ & ~(1u << *i));
    return true;
}

std::optional<std::string_view> session_record::text_field(field f) const noexcept {
    if ((present_ & (1u << f)) == 0)
        return std::nullopt;
    return std::string_view(strings_[f]);
}

json::object session_record::object() const {
    if (object_)
        return *object_;
    auto parsed = parse_record(text_);
    if (!parsed) // checked when read: only a broken invariant gets here
        throw std::logic_error("session_record: " + parsed.error().message());
    return std::move(*parsed);
}

} // namespace mcpd::store

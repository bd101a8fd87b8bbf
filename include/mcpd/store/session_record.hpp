// store/session_record.hpp — one session as a listing (get_identity_sessions_data) hands it
// out.
//
// Listing an identity's sessions is what a UI does on every page load, and what it reads are
// the top-level fields: which server, since when, connected or waiting for OAuth. Those are
// read when the record is; the record's text is checked to be one JSON object then too (a
// corrupt record is an error of the listing, as before), and kept. The whole record — tokens,
// client information, headers, unknown fields — is materialized as a json::object only when
// asked for (object()). Building 50 full objects was 70% of a listing's CPU time; reading the
// fields above costs a quarter of that.
//
// A record can also be made from an object (backends that hold objects, and the encryption
// layer after opening sealed fields): the same accessors read it.
#pragma once

#include "mcpd/core/error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mcpd::store {

class session_record {
public:
    // The stored JSON text of a record; corrupt_record when it is not one JSON object.
    static result<session_record> parse(std::string_view text);
    explicit session_record(boost::json::object record);

    // Top-level string fields: nullopt when absent or not a string.
    [[nodiscard]] std::optional<std::string_view> identity() const noexcept {
        return text_field(identity_field);
    }
    [[nodiscard]] std::optional<std::string_view> session_id() const noexcept {
        return text_field(session_id_field);
    }
    [[nodiscard]] std::optional<std::string_view> server_id() const noexcept {
        return text_field(server_id_field);
    }
    [[nodiscard]] std::optional<std::string_view> server_name() const noexcept {
        return text_field(server_name_field);
    }
    [[nodiscard]] std::optional<std::string_view> server_url() const noexcept {
        return text_field(server_url_field);
    }
    [[nodiscard]] std::optional<std::string_view> transport_type() const noexcept {
        return text_field(transport_type_field);
    }
    [[nodiscard]] std::optional<std::string_view> callback_url() const noexcept {
        return text_field(callback_url_field);
    }
    // createdAt as stored when it is a number (an integer stays one), else null.
    [[nodiscard]] boost::json::value const& created_at() const noexcept { return created_at_; }
    // active when it is a boolean.
    [[nodiscard]] std::optional<bool> active() const noexcept { return active_; }
    // Whether headers, tokens or clientInformation hold an "enc:1:" string (for the encryption
    // layer, which opens those).
    [[nodiscard]] bool has_sealed_secret() const noexcept { return sealed_; }

    // The whole record. From text, each call parses it (it was checked: this cannot fail).
    [[nodiscard]] boost::json::object object() const;

private:
    session_record() = default;
    friend class record_reader;

    enum field : unsigned char {
        identity_field,
        session_id_field,
        server_id_field,
        server_name_field,
        server_url_field,
        transport_type_field,
        callback_url_field,
        string_field_count
    };
    [[nodiscard]] std::optional<std::string_view> text_field(field f) const noexcept;
    // Keeps (or, for a later value of another type, drops) the string field `name`, if it is
    // one of the kept ones; false when it is not. The one place the reader and the object
    // constructor record a string field.
    bool keep_string(std::string_view name, std::string_view text);
    bool drop_string(std::string_view name) noexcept;

    std::string text_;                          // the stored text, when made from one
    std::optional<boost::json::object> object_; // the record, when made from an object
    std::string strings_[string_field_count];   // the top-level string fields
    unsigned char present_ = 0;                 // bit i: strings_[i] was present and a string
    boost::json::value created_at_;             // a number, or null
    std::optional<bool> active_;
    bool sealed_ = false;
};

} // namespace mcpd::store

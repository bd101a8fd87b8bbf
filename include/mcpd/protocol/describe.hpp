// protocol/describe.hpp — how a described struct says what its members mean.
//
// Boost.Describe lists a struct's members but has no attributes, so typed tools attach the rest
// (the struct's title and description, each member's description, numeric range, JSON name, and
// whether a member may be omitted in favour of its default) through one constexpr function that
// argument-dependent lookup finds next to the type:
//
//     struct forecast_args { std::string city; int days = 3; };
//     BOOST_DESCRIBE_STRUCT(forecast_args, (), (city, days))
//
//     constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<forecast_args>) {
//         using mcpd::protocol::field;
//         return mcpd::protocol::document("Forecast request", "Where and how far ahead.",
//                                         field("city", "City name, e.g. Paris"),
//                                         field("days", "Days ahead").range(1, 16).defaulted());
//     }
//
// Members are named by their C++ names as strings; schema.hpp checks every name, range and flag
// against the described members at compile time (static_assert), so a typo does not compile.
// The function must be constexpr and declared before the first use of json_schema_for,
// from_json or to_json on the type. Types without it still work: no descriptions, all
// non-optional members required.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string_view>

namespace mcpd::protocol {

// The argument of mcpd_schema_doc: it carries T so that ADL looks in T's namespace.
template <class T>
struct type_tag {};

// What one member means. Built with field() and the chained setters below.
struct field_doc {
    std::string_view member;       // the C++ member name, as listed in BOOST_DESCRIBE_STRUCT
    std::string_view description;  // goes to the property's "description"; empty: none
    std::string_view json_name;    // the JSON property name; empty: the member name
    std::optional<double> minimum; // inclusive; numeric members (or optional numerics) only
    std::optional<double> maximum; // inclusive
    bool has_default = false;      // may be omitted: keeps its default member initializer

    // An inclusive range for a numeric member. For integer members the bounds must be
    // integers a JavaScript client can hold exactly (|bound| <= 2^53 - 1).
    [[nodiscard]] constexpr field_doc range(double lo, double hi) const {
        field_doc f = *this;
        f.minimum = lo;
        f.maximum = hi;
        return f;
    }
    [[nodiscard]] constexpr field_doc at_least(double lo) const {
        field_doc f = *this;
        f.minimum = lo;
        return f;
    }
    [[nodiscard]] constexpr field_doc at_most(double hi) const {
        field_doc f = *this;
        f.maximum = hi;
        return f;
    }
    // The member is not "required": a client may leave it out, and then it keeps the value its
    // default member initializer gives (T{}), which the schema advertises as "default".
    // Not for std::optional members, which are optional already.
    [[nodiscard]] constexpr field_doc defaulted() const {
        field_doc f = *this;
        f.has_default = true;
        return f;
    }
    // The JSON property name when it cannot be the C++ name (a keyword such as "namespace",
    // or camelCase output next to snake_case code).
    [[nodiscard]] constexpr field_doc named(std::string_view json) const {
        field_doc f = *this;
        f.json_name = json;
        return f;
    }
    [[nodiscard]] constexpr std::string_view property_name() const {
        return json_name.empty() ? member : json_name;
    }
};

[[nodiscard]] constexpr field_doc field(std::string_view member,
                                        std::string_view description = {}) {
    return field_doc{.member = member, .description = description};
}

// What a struct means: its title, description and the documented members (any subset of them,
// in any order).
template <std::size_t N>
struct schema_doc {
    std::string_view title;
    std::string_view description;
    std::array<field_doc, N> fields{};
    bool closed = false;

    // Unknown properties become errors: the schema says "additionalProperties": false and
    // from_json rejects them by name. The default is open, as the official TypeScript SDK is:
    // unknown arguments are ignored, and the schema does not forbid them.
    [[nodiscard]] constexpr schema_doc reject_unknown() const {
        schema_doc d = *this;
        d.closed = true;
        return d;
    }
};

template <class... F>
requires(std::same_as<F, field_doc>&&...)
    [[nodiscard]] constexpr schema_doc<sizeof...(F)> document(std::string_view title,
                                                              std::string_view description,
                                                              F const&... fields) {
    return schema_doc<sizeof...(F)>{title, description, {fields...}};
}

} // namespace mcpd::protocol

// protocol/schema.hpp — typed tool arguments and results: JSON Schema from C++ types, and
// validated conversion between JSON and those types.
//
// A tool declares its arguments (and optionally its result) as a struct listed with
// BOOST_DESCRIBE_STRUCT, documented with mcpd_schema_doc (describe.hpp). Then
//
//     json_schema_for<T>()   is the tool's inputSchema / outputSchema,
//     from_json<T>(args)     validates and converts "arguments" before the handler runs; every
//                            problem is reported with the path of the field that caused it,
//     to_json(result)        makes structuredContent.
//
// The three agree on one mapping (docs/typed-tools.md has the table): bool, integers,
// float/double, std::string, described enums (by name), std::optional (member not required),
// std::vector, std::map / std::unordered_map with std::string keys, nested described structs,
// boost::json::value (anything) and boost::json::object (any object). What from_json accepts is
// what the schema allows (tests/integration/ajv_agrees.mjs has ajv confirm it), with two
// exceptions the schema could only say with noise: the range of a 32- or 64-bit integer and of
// a float (32-bit) are checked but not advertised.
//
// The schemas carry no "$schema": they use only keywords that mean the same in draft-07 and
// 2020-12, and MCP 2025-11-25 (SEP-1613) reads a schema without "$schema" as 2020-12, while
// older clients that assume draft-07 read it the same way.
//
// Templates here only walk the type; messages, paths and schema assembly live in schema.cpp.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/protocol/describe.hpp"

#include <boost/describe/enumerators.hpp>
#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/mp11/algorithm.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mcpd::protocol {

// A struct whose public members BOOST_DESCRIBE_STRUCT lists: the shape of tool arguments.
template <class T>
concept described_struct = std::is_class_v<T> && boost::describe::has_describe_members<T>::value;

// An enum listed with BOOST_DESCRIBE_ENUM: in JSON, a string naming one enumerator.
template <class T>
concept described_enum = std::is_enum_v<T> && boost::describe::has_describe_enumerators<T>::value;

// The JSON Schema of T (cached after the first call). For a described struct it is
// {"type": "object", "properties": {...}, "required": [...]}: an MCP inputSchema as it stands.
template <class T>
boost::json::object json_schema_for();

// Converts JSON to T, checking it against json_schema_for<T>(). On failure the error's code is
// errc::invalid_argument and its detail lists every problem (up to ten), separated by "; ":
//   argument "user.tags[2]": expected string, got number
//   missing required argument "city"
//   argument "units": expected one of "celsius", "fahrenheit", got "kelvin"
//   argument "days": 20 is above the maximum 16
template <class T>
result<T> from_json(boost::json::value const& json);

// Converts T to JSON: members in declaration order, empty optionals omitted, enums by name.
// Throws mcpd::exception (errc::invalid_argument) for an enum value with no described name.
template <class T>
boost::json::value to_json(T const& value);

namespace detail {

// ---- what kind of type is this -------------------------------------------------------------

template <class T>
struct optional_traits : std::false_type {};
template <class U>
struct optional_traits<std::optional<U>> : std::true_type {
    using element = U;
};

template <class T>
struct vector_traits : std::false_type {};
template <class U, class A>
struct vector_traits<std::vector<U, A>> : std::true_type {};

template <class T>
struct string_map_traits : std::false_type {};
template <class U, class C, class A>
struct string_map_traits<std::map<std::string, U, C, A>> : std::true_type {};
template <class U, class H, class E, class A>
struct string_map_traits<std::unordered_map<std::string, U, H, E, A>> : std::true_type {};

template <class T>
constexpr bool is_character_v =
    std::is_same_v<T, char> || std::is_same_v<T, wchar_t> || std::is_same_v<T, char8_t> ||
    std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>;

// Integers are JSON integers; bool is a boolean and char is text, so neither counts.
template <class T>
constexpr bool is_integer_v =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !is_character_v<T>;

template <class T>
constexpr bool is_number_v = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <class T>
struct unwrap_optional {
    using type = T;
};
template <class U>
struct unwrap_optional<std::optional<U>> {
    using type = U;
};

template <class>
constexpr bool unsupported_type = false;

// ---- the struct's documentation ------------------------------------------------------------

template <class T>
constexpr auto find_doc() {
    if constexpr (requires { mcpd_schema_doc(type_tag<T>{}); })
        return mcpd_schema_doc(type_tag<T>{});
    else
        return schema_doc<0>{};
}

template <class T>
struct doc_of {
    static constexpr auto value = find_doc<T>();
};

template <class T>
using public_members = boost::describe::describe_members<T, boost::describe::mod_public |
                                                                boost::describe::mod_inherited>;

template <class T, class D>
using member_type = std::remove_cvref_t<decltype(std::declval<T&>().*D::pointer)>;

template <std::size_t N>
constexpr std::size_t find_field(schema_doc<N> const& doc, std::string_view member) {
    for (std::size_t i = 0; i < N; ++i)
        if (doc.fields[i].member == member)
            return i;
    return N;
}

// The facts about a member that the compile-time checks of its documentation need.
struct member_facts {
    std::string_view name;
    bool optional = false;
    bool integer = false;
    bool number = false;
    double type_min = 0; // integers only: the type's range, as doubles (enough to spot
    double type_max = 0; // a documented range that no value of the type can meet)
};

template <class T, class D>
constexpr member_facts facts_of() {
    using M = member_type<T, D>;
    using V = typename unwrap_optional<M>::type;
    member_facts f{.name = D::name, .optional = optional_traits<M>::value};
    if constexpr (is_integer_v<V>) {
        f.integer = true;
        f.type_min = static_cast<double>(std::numeric_limits<V>::min());
        f.type_max = static_cast<double>(std::numeric_limits<V>::max());
    }
    f.number = is_number_v<V>;
    return f;
}

template <class T>
struct members_of {
    static constexpr auto facts = []<template <class...> class L, class... D>(L<D...>*) {
        return std::array<member_facts, sizeof...(D)>{facts_of<T, D>()...};
    }(static_cast<public_members<T>*>(nullptr));
};

enum class doc_problem {
    none,
    unknown_member,
    documented_twice,
    duplicate_property_name,
    range_on_non_number,
    range_not_finite,
    integer_range_not_safe_integer,
    empty_range,
    default_on_optional,
};

inline constexpr double max_safe_integer = 9007199254740991.0; // 2^53 - 1

constexpr doc_problem check_doc(std::span<field_doc const> fields,
                                std::span<member_facts const> members) {
    auto property_name = [&](std::string_view member) {
        for (auto const& f : fields)
            if (f.member == member)
                return f.property_name();
        return member;
    };
    for (std::size_t i = 0; i < fields.size(); ++i) {
        auto const& f = fields[i];
        for (std::size_t j = 0; j < i; ++j)
            if (fields[j].member == f.member)
                return doc_problem::documented_twice;
        // An index, not a pointer: GCC's UBSan instrumentation makes comparing a pointer into
        // a constexpr array with nullptr non-constant.
        std::size_t k = members.size();
        for (std::size_t candidate = 0; candidate < members.size(); ++candidate)
            if (members[candidate].name == f.member)
                k = candidate;
        if (k == members.size())
            return doc_problem::unknown_member;
        member_facts const* m = &members[k];
        if (f.has_default && m->optional)
            return doc_problem::default_on_optional;
        if (!f.minimum && !f.maximum)
            continue;
        if (!m->integer && !m->number)
            return doc_problem::range_on_non_number;
        for (auto bound : {f.minimum, f.maximum}) {
            if (!bound)
                continue;
            if (!(*bound >= -std::numeric_limits<double>::max() &&
                  *bound <= std::numeric_limits<double>::max()))
                return doc_problem::range_not_finite;
            if (m->integer && (*bound > max_safe_integer || *bound < -max_safe_integer ||
                               *bound != static_cast<double>(static_cast<std::int64_t>(*bound))))
                return doc_problem::integer_range_not_safe_integer;
        }
        if (f.minimum && f.maximum && *f.minimum > *f.maximum)
            return doc_problem::empty_range;
        if (m->integer &&
            ((f.minimum && *f.minimum > m->type_max) || (f.maximum && *f.maximum < m->type_min)))
            return doc_problem::empty_range;
    }
    for (std::size_t i = 0; i < members.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (property_name(members[i].name) == property_name(members[j].name))
                return doc_problem::duplicate_property_name;
    return doc_problem::none;
}

// Fails the build, naming the mistake, when T's mcpd_schema_doc does not fit T.
template <class T>
constexpr void check_doc_of() {
    constexpr doc_problem p = check_doc(doc_of<T>::value.fields, members_of<T>::facts);
    static_assert(
        p != doc_problem::unknown_member,
        "mcpd_schema_doc: field() names a member that BOOST_DESCRIBE_STRUCT does not list "
        "as public");
    static_assert(p != doc_problem::documented_twice,
                  "mcpd_schema_doc: the same member is documented twice");
    static_assert(p != doc_problem::duplicate_property_name,
                  "mcpd_schema_doc: two members have the same JSON name (see .named())");
    static_assert(p != doc_problem::range_on_non_number,
                  "mcpd_schema_doc: range/at_least/at_most on a member that is not a number");
    static_assert(p != doc_problem::range_not_finite,
                  "mcpd_schema_doc: a range bound is not a finite number");
    static_assert(p != doc_problem::integer_range_not_safe_integer,
                  "mcpd_schema_doc: an integer member's range bounds must be integers within "
                  "+-(2^53 - 1)");
    static_assert(p != doc_problem::empty_range,
                  "mcpd_schema_doc: the range admits no value of the member's type");
    static_assert(p != doc_problem::default_on_optional,
                  "mcpd_schema_doc: .defaulted() on a std::optional member, which is optional "
                  "already");
}

template <class T>
struct property_names_of {
    static constexpr auto value = []<template <class...> class L, class... D>(L<D...>*) {
        auto name = [](std::string_view member) {
            auto const& doc = doc_of<T>::value;
            auto i = find_field(doc, member);
            return i < doc.fields.size() ? doc.fields[i].property_name() : member;
        };
        return std::array<std::string_view, sizeof...(D)>{name(D::name)...};
    }(static_cast<public_members<T>*>(nullptr));
};

// Where member D's documentation is in T's doc (the doc's size when it has none). Compile-time
// tests go through this index and never compare a constexpr pointer with nullptr: GCC 12 with
// -fsanitize=undefined refuses that in constant expressions.
template <class T, class D>
constexpr std::size_t field_index_of = find_field(doc_of<T>::value, D::name);

template <class T, class D>
constexpr bool documented = field_index_of<T, D> < doc_of<T>::value.fields.size();

// The documentation of member D, or nullptr: for the walks, which test it at run time.
template <class T, class D>
field_doc const* field_doc_of() {
    if constexpr (documented<T, D>)
        return &doc_of<T>::value.fields[field_index_of<T, D>];
    else
        return nullptr;
}

template <class T, class D>
constexpr bool defaulted_member() {
    if constexpr (documented<T, D>)
        return doc_of<T>::value.fields[field_index_of<T, D>].has_default;
    else
        return false;
}

template <class T, class D>
constexpr std::string_view property_name_of() {
    if constexpr (documented<T, D>)
        return doc_of<T>::value.fields[field_index_of<T, D>].property_name();
    else
        return D::name;
}

template <class T, class D>
constexpr std::string_view description_of() {
    if constexpr (documented<T, D>)
        return doc_of<T>::value.fields[field_index_of<T, D>].description;
    else
        return {};
}

template <class E>
struct enum_of {
    static constexpr auto names = []<template <class...> class L, class... D>(L<D...>*) {
        return std::array<std::string_view, sizeof...(D)>{D::name...};
    }(static_cast<boost::describe::describe_enumerators<E>*>(nullptr));
    static constexpr auto values = []<template <class...> class L, class... D>(L<D...>*) {
        return std::array<E, sizeof...(D)>{D::value...};
    }(static_cast<boost::describe::describe_enumerators<E>*>(nullptr));
};

// ---- integer and number bounds: the type's range meets the documented one ------------------

template <class I>
struct integer_bounds {
    I min;
    I max;
};

template <class I>
constexpr integer_bounds<I> bounds_of(field_doc const* fd) {
    integer_bounds<I> b{std::numeric_limits<I>::min(), std::numeric_limits<I>::max()};
    // check_doc made the documented bounds exact integers inside I's range or beyond it.
    if (fd != nullptr && fd->minimum && *fd->minimum > static_cast<double>(b.min))
        b.min = static_cast<I>(*fd->minimum);
    if (fd != nullptr && fd->maximum && *fd->maximum < static_cast<double>(b.max))
        b.max = static_cast<I>(*fd->maximum);
    return b;
}

// ---- type-independent work, in schema.cpp --------------------------------------------------

// Walks the input, records where it is, and collects the problems it finds.
class reader {
public:
    void enter(std::string_view key) { path_.push_back({key, 0, false}); }
    void enter(std::size_t index) { path_.push_back({{}, index, true}); }
    void leave() { path_.pop_back(); }

    // Each read_* returns whether `json` fit; if not, the problem is recorded and `out` is
    // unchanged.
    bool read_bool(boost::json::value const& json, bool& out);
    bool read_string(boost::json::value const& json, std::string& out);
    bool read_signed(boost::json::value const& json, std::int64_t min, std::int64_t max,
                     std::int64_t& out);
    bool read_unsigned(boost::json::value const& json, std::uint64_t min, std::uint64_t max,
                       std::uint64_t& out);
    // bits: 32 or 64, the floating-point type's size, for its overflow check and message.
    bool read_number(boost::json::value const& json, std::optional<double> min,
                     std::optional<double> max, int bits, double& out);
    std::optional<std::size_t> read_enum(boost::json::value const& json,
                                         std::span<std::string_view const> names);
    boost::json::object const* read_object(boost::json::value const& json);
    boost::json::array const* read_array(boost::json::value const& json);

    void missing(std::string_view key);
    void reject_unknown(boost::json::object const& object, std::span<std::string_view const> known);

    [[nodiscard]] bool failed() const { return !problems_.empty(); }
    [[nodiscard]] error to_error() const;

private:
    struct segment {
        std::string_view key;
        std::size_t index;
        bool is_index;
    };
    void expected(std::string_view what, boost::json::value const& got);
    void problem(std::string message);
    [[nodiscard]] std::string path() const;
    [[nodiscard]] std::string subject() const;

    std::vector<segment> path_;
    std::vector<std::string> problems_;
    std::size_t more_problems_ = 0;
};

boost::json::object boolean_schema();
boost::json::object string_schema();
boost::json::object any_schema();
boost::json::object any_object_schema();
boost::json::object integer_schema(boost::json::value minimum, boost::json::value maximum);
boost::json::object number_schema(std::optional<double> minimum, std::optional<double> maximum);
boost::json::object enum_schema(std::span<std::string_view const> names);
boost::json::object array_schema(boost::json::object items);
boost::json::object map_schema(boost::json::object values);
boost::json::object struct_schema(std::string_view title, std::string_view description);
void add_property(boost::json::object& schema, std::string_view name, std::string_view description,
                  boost::json::object property, bool required,
                  boost::json::value const* default_value);
void finish_struct_schema(boost::json::object& schema, bool closed);

boost::json::value number_to_json(double x);
boost::json::value string_to_json(std::string_view s);
[[noreturn]] void throw_unnamed_enum(long long value);

// ---- the walks -----------------------------------------------------------------------------

template <class T>
void read_value(boost::json::value const& json, T& out, reader& r, field_doc const* fd = nullptr);

template <class T>
void read_struct(boost::json::value const& json, T& out, reader& r) {
    check_doc_of<T>();
    auto const* object = r.read_object(json);
    if (object == nullptr)
        return;
    boost::mp11::mp_for_each<public_members<T>>([&](auto d) {
        using D = decltype(d);
        using M = member_type<T, D>;
        constexpr std::string_view name = property_name_of<T, D>();
        auto it = object->find(name);
        if (it == object->end()) {
            // Absent optional or defaulted members keep what T{} gave them.
            if constexpr (!optional_traits<M>::value && !defaulted_member<T, D>())
                r.missing(name);
            return;
        }
        r.enter(name);
        read_value(it->value(), out.*D::pointer, r, field_doc_of<T, D>());
        r.leave();
    });
    if constexpr (doc_of<T>::value.closed)
        r.reject_unknown(*object, property_names_of<T>::value);
}

template <class T>
void read_value(boost::json::value const& json, T& out, reader& r, field_doc const* fd) {
    if constexpr (std::is_same_v<T, bool>) {
        r.read_bool(json, out);
    } else if constexpr (is_integer_v<T> && std::is_signed_v<T>) {
        auto const b = bounds_of<T>(fd);
        std::int64_t x = 0;
        if (r.read_signed(json, b.min, b.max, x))
            out = static_cast<T>(x);
    } else if constexpr (is_integer_v<T>) {
        auto const b = bounds_of<T>(fd);
        std::uint64_t x = 0;
        if (r.read_unsigned(json, b.min, b.max, x))
            out = static_cast<T>(x);
    } else if constexpr (is_number_v<T>) {
        double x = 0;
        if (r.read_number(json, fd ? fd->minimum : std::nullopt, fd ? fd->maximum : std::nullopt,
                          sizeof(T) == 4 ? 32 : 64, x))
            out = static_cast<T>(x);
    } else if constexpr (std::is_same_v<T, std::string>) {
        r.read_string(json, out);
    } else if constexpr (described_enum<T>) {
        if (auto i = r.read_enum(json, enum_of<T>::names))
            out = enum_of<T>::values[*i];
    } else if constexpr (optional_traits<T>::value) {
        out.emplace();
        read_value(json, *out, r, fd);
    } else if constexpr (vector_traits<T>::value) {
        auto const* array = r.read_array(json);
        if (array == nullptr)
            return;
        out.clear();
        out.reserve(array->size());
        for (std::size_t i = 0; i < array->size(); ++i) {
            typename T::value_type item{};
            r.enter(i);
            read_value((*array)[i], item, r);
            r.leave();
            out.push_back(std::move(item));
        }
    } else if constexpr (string_map_traits<T>::value) {
        auto const* object = r.read_object(json);
        if (object == nullptr)
            return;
        out.clear();
        for (auto const& kv : *object) {
            typename T::mapped_type item{};
            r.enter(std::string_view(kv.key()));
            read_value(kv.value(), item, r);
            r.leave();
            out.insert_or_assign(std::string(kv.key()), std::move(item));
        }
    } else if constexpr (std::is_same_v<T, boost::json::value>) {
        out = json;
    } else if constexpr (std::is_same_v<T, boost::json::object>) {
        if (auto const* object = r.read_object(json))
            out = *object;
    } else if constexpr (described_struct<T>) {
        read_struct(json, out, r);
    } else {
        static_assert(unsupported_type<T>,
                      "mcpd::protocol: unsupported type. Use bool, integers, float, double, "
                      "std::string, described enums and structs, std::optional, std::vector, "
                      "std::map/unordered_map with std::string keys, boost::json::value or "
                      "boost::json::object");
    }
}

template <class T>
boost::json::object schema_of(field_doc const* fd = nullptr);

template <class T>
boost::json::object struct_schema_of() {
    check_doc_of<T>();
    auto const& doc = doc_of<T>::value;
    auto schema = struct_schema(doc.title, doc.description);
    constexpr bool any_default = [] {
        for (auto const& f : doc_of<T>::value.fields)
            if (f.has_default)
                return true;
        return false;
    }();
    // The "default" of a defaulted member is what T{} holds.
    std::optional<T> defaults;
    if constexpr (any_default) {
        static_assert(std::is_default_constructible_v<T>,
                      "mcpd_schema_doc: .defaulted() needs a default-constructible struct");
        defaults.emplace();
    }
    boost::mp11::mp_for_each<public_members<T>>([&](auto d) {
        using D = decltype(d);
        using M = member_type<T, D>;
        constexpr bool defaulted = defaulted_member<T, D>();
        boost::json::value default_value;
        if constexpr (defaulted)
            default_value = to_json((*defaults).*D::pointer);
        add_property(schema, property_name_of<T, D>(), description_of<T, D>(),
                     schema_of<M>(field_doc_of<T, D>()), !optional_traits<M>::value && !defaulted,
                     defaulted ? &default_value : nullptr);
    });
    finish_struct_schema(schema, doc.closed);
    return schema;
}

// The integer bounds a schema states: the documented ones, the type's own when they are small
// (8 and 16 bits), and 0 below every unsigned type. A 32- or 64-bit range would only be noise
// (and 64-bit bounds do not fit a JavaScript number); from_json still enforces it.
template <class T>
boost::json::object integer_schema_of(field_doc const* fd) {
    auto const b = bounds_of<T>(fd);
    constexpr bool small = sizeof(T) <= 2;
    boost::json::value min;
    boost::json::value max;
    if (small || std::is_unsigned_v<T> || (fd != nullptr && fd->minimum))
        min = b.min;
    if (small || (fd != nullptr && fd->maximum))
        max = b.max;
    return integer_schema(std::move(min), std::move(max));
}

template <class T>
boost::json::object schema_of(field_doc const* fd) {
    if constexpr (std::is_same_v<T, bool>)
        return boolean_schema();
    else if constexpr (is_integer_v<T>)
        return integer_schema_of<T>(fd);
    else if constexpr (is_number_v<T>)
        return number_schema(fd ? fd->minimum : std::nullopt, fd ? fd->maximum : std::nullopt);
    else if constexpr (std::is_same_v<T, std::string>)
        return string_schema();
    else if constexpr (described_enum<T>)
        return enum_schema(enum_of<T>::names);
    else if constexpr (optional_traits<T>::value)
        return schema_of<typename optional_traits<T>::element>(fd);
    else if constexpr (vector_traits<T>::value)
        return array_schema(schema_of<typename T::value_type>());
    else if constexpr (string_map_traits<T>::value)
        return map_schema(schema_of<typename T::mapped_type>());
    else if constexpr (std::is_same_v<T, boost::json::value>)
        return any_schema();
    else if constexpr (std::is_same_v<T, boost::json::object>)
        return any_object_schema();
    else if constexpr (described_struct<T>)
        return struct_schema_of<T>();
    else
        static_assert(unsupported_type<T>,
                      "mcpd::protocol: unsupported type. Use bool, integers, float, double, "
                      "std::string, described enums and structs, std::optional, std::vector, "
                      "std::map/unordered_map with std::string keys, boost::json::value or "
                      "boost::json::object");
}

} // namespace detail

template <class T>
boost::json::object json_schema_for() {
    static boost::json::object const schema = detail::schema_of<T>();
    return schema;
}

template <class T>
result<T> from_json(boost::json::value const& json) {
    static_assert(std::is_default_constructible_v<T>,
                  "from_json<T>: T must be default-constructible (absent members keep T{})");
    detail::reader r;
    T out{};
    detail::read_value(json, out, r);
    if (r.failed())
        return r.to_error();
    return out;
}

template <class T>
boost::json::value to_json(T const& value) {
    using namespace detail;
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, boost::json::object>) {
        return boost::json::value(value);
    } else if constexpr (is_integer_v<T> && std::is_signed_v<T>) {
        return boost::json::value(static_cast<std::int64_t>(value));
    } else if constexpr (is_integer_v<T>) {
        return boost::json::value(static_cast<std::uint64_t>(value));
    } else if constexpr (is_number_v<T>) {
        return number_to_json(static_cast<double>(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
        return string_to_json(value);
    } else if constexpr (described_enum<T>) {
        for (std::size_t i = 0; i < enum_of<T>::values.size(); ++i)
            if (enum_of<T>::values[i] == value)
                return string_to_json(enum_of<T>::names[i]);
        throw_unnamed_enum(static_cast<long long>(value));
    } else if constexpr (optional_traits<T>::value) {
        return value ? to_json(*value) : boost::json::value(nullptr);
    } else if constexpr (vector_traits<T>::value) {
        boost::json::array array;
        array.reserve(value.size());
        for (auto const& item : value)
            array.push_back(to_json(item));
        return array;
    } else if constexpr (string_map_traits<T>::value) {
        boost::json::object object;
        object.reserve(value.size());
        for (auto const& [key, item] : value)
            object.emplace(key, to_json(item));
        return object;
    } else if constexpr (std::is_same_v<T, boost::json::value>) {
        return value;
    } else if constexpr (described_struct<T>) {
        check_doc_of<T>();
        boost::json::object object;
        boost::mp11::mp_for_each<public_members<T>>([&](auto d) {
            using D = decltype(d);
            auto const& member = value.*D::pointer;
            if constexpr (optional_traits<member_type<T, D>>::value)
                if (!member)
                    return;
            object.emplace(property_name_of<T, D>(), to_json(member));
        });
        return object;
    } else {
        static_assert(unsupported_type<T>,
                      "mcpd::protocol: unsupported type. Use bool, integers, float, double, "
                      "std::string, described enums and structs, std::optional, std::vector, "
                      "std::map/unordered_map with std::string keys, boost::json::value or "
                      "boost::json::object");
    }
}

} // namespace mcpd::protocol

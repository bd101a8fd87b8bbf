// protocol/schema.cpp — the type-independent half of schema.hpp: reading JSON scalars with
// their checks, wording the problems with the path of the field, and assembling schemas.
// Kept out of the header so that each tool's struct instantiates only the walk over its type.
#include "mcpd/protocol/schema.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/system/errc.hpp>
#include <fmt/format.h>

#include <cmath>

namespace mcpd::protocol::detail {

namespace {

constexpr std::size_t max_problems = 10;   // a reply an LLM can act on, not a wall of text
constexpr std::size_t max_shown_text = 64; // bytes of a key or string value quoted in a message

// The JSON type a value has, in JSON Schema's words.
std::string_view kind_name(boost::json::value const& v) {
    switch (v.kind()) {
    case boost::json::kind::null:
        return "null";
    case boost::json::kind::bool_:
        return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
        return "number";
    case boost::json::kind::string:
        return "string";
    case boost::json::kind::array:
        return "array";
    case boost::json::kind::object:
        return "object";
    }
    return "value";
}

// `s` as a JSON string literal (escaped), cut to max_shown_text bytes on a UTF-8 boundary.
std::string quoted(std::string_view s) {
    bool const cut = s.size() > max_shown_text;
    if (cut) {
        std::size_t n = max_shown_text;
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
            --n; // s[n] continues a multi-byte character: cut before that character
        s = s.substr(0, n);
    }
    auto text = boost::json::serialize(boost::json::string(s.data(), s.size()));
    if (cut)
        text.insert(text.size() - 1, "...");
    return text;
}

std::string double_text(double d) {
    return fmt::format("{}", d);
}

// A number as the client wrote it, near enough: integers exactly, doubles shortest.
std::string number_text(boost::json::value const& v) {
    if (auto const* i = v.if_int64())
        return std::to_string(*i);
    if (auto const* u = v.if_uint64())
        return std::to_string(*u);
    return double_text(v.get_double());
}

bool is_identifier(std::string_view key) {
    if (key.empty() || (key[0] >= '0' && key[0] <= '9'))
        return false;
    for (char c : key)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

bool is_integral(double d) {
    return std::isfinite(d) && std::trunc(d) == d;
}

constexpr double two_to_63 = 9223372036854775808.0;
constexpr double two_to_64 = 18446744073709551616.0;

} // namespace

// ---- reader ------------------------------------------------------------------------------

std::string reader::path() const {
    std::string out;
    for (auto const& s : path_) {
        if (s.is_index)
            out += fmt::format("[{}]", s.index);
        else if (!is_identifier(s.key) || s.key.size() > max_shown_text)
            out += "[" + quoted(s.key) + "]";
        else {
            if (!out.empty())
                out += '.';
            out += s.key;
        }
    }
    return out;
}

// What a message is about: "arguments" for the whole input, else `argument "user.tags[2]"`.
std::string reader::subject() const {
    return path_.empty() ? std::string("arguments") : "argument \"" + path() + "\"";
}

void reader::problem(std::string message) {
    if (problems_.size() < max_problems)
        problems_.push_back(std::move(message));
    else
        ++more_problems_;
}

void reader::expected(std::string_view what, boost::json::value const& got) {
    problem(fmt::format("{}: expected {}, got {}", subject(), what, kind_name(got)));
}

error reader::to_error() const {
    std::string detail;
    for (auto const& p : problems_) {
        if (!detail.empty())
            detail += "; ";
        detail += p;
    }
    if (more_problems_ > 0)
        detail +=
            fmt::format("; and {} more problem{}", more_problems_, more_problems_ == 1 ? "" : "s");
    return {make_error_code(boost::system::errc::invalid_argument), std::move(detail)};
}

bool reader::read_bool(boost::json::value const& json, bool& out) {
    if (auto const* b = json.if_bool()) {
        out = *b;
        return true;
    }
    expected("boolean", json);
    return false;
}

bool reader::read_string(boost::json::value const& json, std::string& out) {
    if (auto const* s = json.if_string()) {
        out.assign(s->data(), s->size());
        return true;
    }
    expected("string", json);
    return false;
}

// Integers: a JSON integer, or a double with no fraction (2.0 is an integer to JSON Schema and
// to a JavaScript client alike). The range is checked exactly, without going through double.
bool reader::read_signed(boost::json::value const& json, std::int64_t min, std::int64_t max,
                         std::int64_t& out) {
    auto above = [&] {
        problem(fmt::format("{}: {} is above the maximum {}", subject(), number_text(json), max));
        return false;
    };
    auto below = [&] {
        problem(fmt::format("{}: {} is below the minimum {}", subject(), number_text(json), min));
        return false;
    };
    std::int64_t x = 0;
    if (auto const* i = json.if_int64()) {
        x = *i;
    } else if (auto const* u = json.if_uint64()) {
        if (*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return above();
        x = static_cast<std::int64_t>(*u);
    } else if (auto const* d = json.if_double()) {
        if (!is_integral(*d)) {
            problem(fmt::format("{}: expected integer, got {}", subject(), double_text(*d)));
            return false;
        }
        if (*d >= two_to_63)
            return above();
        if (*d < -two_to_63)
            return below();
        x = static_cast<std::int64_t>(*d);
    } else {
        expected("integer", json);
        return false;
    }
    if (x < min)
        return below();
    if (x > max)
        return above();
    out = x;
    return true;
}

bool reader::read_unsigned(boost::json::value const& json, std::uint64_t min, std::uint64_t max,
                           std::uint64_t& out) {
    auto above = [&] {
        problem(fmt::format("{}: {} is above the maximum {}", subject(), number_text(json), max));
        return false;
    };
    auto below = [&] {
        problem(fmt::format("{}: {} is below the minimum {}", subject(), number_text(json), min));
        return false;
    };
    std::uint64_t x = 0;
    if (auto const* i = json.if_int64()) {
        if (*i < 0)
            return below();
        x = static_cast<std::uint64_t>(*i);
    } else if (auto const* u = json.if_uint64()) {
        x = *u;
    } else if (auto const* d = json.if_double()) {
        if (!is_integral(*d)) {
            problem(fmt::format("{}: expected integer, got {}", subject(), double_text(*d)));
            return false;
        }
        if (*d < 0)
            return below();
        if (*d >= two_to_64)
            return above();
        x = static_cast<std::uint64_t>(*d);
    } else {
        expected("integer", json);
        return false;
    }
    if (x < min)
        return below();
    if (x > max)
        return above();
    out = x;
    return true;
}

bool reader::read_number(boost::json::value const& json, std::optional<double> min,
                         std::optional<double> max, int bits, double& out) {
    double x = 0;
    if (auto const* i = json.if_int64())
        x = static_cast<double>(*i);
    else if (auto const* u = json.if_uint64())
        x = static_cast<double>(*u);
    else if (auto const* d = json.if_double())
        x = *d;
    else {
        expected("number", json);
        return false;
    }
    // The parser turns 1e400 into infinity; a float cannot hold 1e39.
    double const limit = bits == 32 ? static_cast<double>(std::numeric_limits<float>::max())
                                    : std::numeric_limits<double>::max();
    if (!(std::fabs(x) <= limit)) {
        problem(fmt::format("{}: number is out of range for a {}-bit float", subject(), bits));
        return false;
    }
    if (min && x < *min) {
        problem(fmt::format("{}: {} is below the minimum {}", subject(), number_text(json),
                            double_text(*min)));
        return false;
    }
    if (max && x > *max) {
        problem(fmt::format("{}: {} is above the maximum {}", subject(), number_text(json),
                            double_text(*max)));
        return false;
    }
    out = x;
    return true;
}

std::optional<std::size_t> reader::read_enum(boost::json::value const& json,
                                             std::span<std::string_view const> names) {
    auto const* s = json.if_string();
    if (s != nullptr) {
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == std::string_view(s->data(), s->size()))
                return i;
    }
    std::string choices;
    for (auto name : names) {
        if (!choices.empty())
            choices += ", ";
        choices += quoted(name);
    }
    auto const got = s != nullptr ? quoted(std::string_view(s->data(), s->size()))
                                  : std::string(kind_name(json));
    problem(fmt::format("{}: expected one of {}, got {}", subject(), choices, got));
    return std::nullopt;
}

boost::json::object const* reader::read_object(boost::json::value const& json) {
    if (auto const* o = json.if_object())
        return o;
    expected("object", json);
    return nullptr;
}

boost::json::array const* reader::read_array(boost::json::value const& json) {
    if (auto const* a = json.if_array())
        return a;
    expected("array", json);
    return nullptr;
}

void reader::missing(std::string_view key) {
    enter(key);
    problem(fmt::format("missing required argument \"{}\"", path()));
    leave();
}

void reader::reject_unknown(boost::json::object const& object,
                            std::span<std::string_view const> known) {
    for (auto const& kv : object) {
        std::string_view const key(kv.key().data(), kv.key().size());
        bool is_known = false;
        for (auto k : known)
            is_known = is_known || k == key;
        if (is_known)
            continue;
        enter(key);
        problem(fmt::format("unknown argument \"{}\"", path()));
        leave();
    }
}

// ---- schemas -----------------------------------------------------------------------------

boost::json::object boolean_schema() {
    return {{"type", "boolean"}};
}

boost::json::object string_schema() {
    return {{"type", "string"}};
}

boost::json::object any_schema() {
    return {};
}

boost::json::object any_object_schema() {
    return {{"type", "object"}};
}

boost::json::object integer_schema(boost::json::value minimum, boost::json::value maximum) {
    boost::json::object schema{{"type", "integer"}};
    if (!minimum.is_null())
        schema["minimum"] = std::move(minimum);
    if (!maximum.is_null())
        schema["maximum"] = std::move(maximum);
    return schema;
}

boost::json::object number_schema(std::optional<double> minimum, std::optional<double> maximum) {
    boost::json::object schema{{"type", "number"}};
    if (minimum)
        schema["minimum"] = number_to_json(*minimum);
    if (maximum)
        schema["maximum"] = number_to_json(*maximum);
    return schema;
}

boost::json::object enum_schema(std::span<std::string_view const> names) {
    boost::json::array values;
    values.reserve(names.size());
    for (auto name : names)
        values.push_back(string_to_json(name));
    return {{"type", "string"}, {"enum", std::move(values)}};
}

boost::json::object array_schema(boost::json::object items) {
    return {{"type", "array"}, {"items", std::move(items)}};
}

boost::json::object map_schema(boost::json::object values) {
    return {{"type", "object"}, {"additionalProperties", std::move(values)}};
}

boost::json::object struct_schema(std::string_view title, std::string_view description) {
    boost::json::object schema{{"type", "object"}};
    if (!title.empty())
        schema["title"] = string_to_json(title);
    if (!description.empty())
        schema["description"] = string_to_json(description);
    // Always present, even when empty: some clients read "properties" without checking.
    schema["properties"] = boost::json::object();
    return schema;
}

void add_property(boost::json::object& schema, std::string_view name, std::string_view description,
                  boost::json::object property, bool required,
                  boost::json::value const* default_value) {
    // The member's description is more specific than its type's, so it wins.
    if (!description.empty())
        property["description"] = string_to_json(description);
    if (default_value != nullptr)
        property["default"] = *default_value;
    boost::json::string_view const key(name.data(), name.size());
    schema["properties"].as_object()[key] = std::move(property);
    if (required) {
        auto& list = schema["required"];
        if (!list.is_array())
            list = boost::json::array();
        list.as_array().push_back(string_to_json(name));
    }
}

void finish_struct_schema(boost::json::object& schema, bool closed) {
    if (closed)
        schema["additionalProperties"] = false;
}

// Doubles with no fraction are written as integers: "2", not Boost.JSON's "2E0". Only up to
// 2^53, where every integer is exact; infinities and NaN, which JSON cannot hold, become null.
boost::json::value number_to_json(double x) {
    if (!std::isfinite(x))
        return nullptr;
    if (is_integral(x) && std::fabs(x) <= max_safe_integer)
        return static_cast<std::int64_t>(x);
    return x;
}

boost::json::value string_to_json(std::string_view s) {
    return boost::json::string(s.data(), s.size());
}

void throw_unnamed_enum(long long value) {
    throw exception(error(make_error_code(boost::system::errc::invalid_argument),
                          fmt::format("to_json: enum value {} has no described name", value)));
}

} // namespace mcpd::protocol::detail

// Unit tests for src/protocol/schema.hpp: the JSON Schema of every supported kind of member,
// from_json's conversions and every one of its error messages (exact text, with field paths),
// to_json, round trips, and the compile-time checks of mcpd_schema_doc (through check_doc).
#include "mcpd/protocol/schema.hpp"

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/errc.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace weather {

enum class temperature_unit { celsius, fahrenheit };
BOOST_DESCRIBE_ENUM(temperature_unit, celsius, fahrenheit)

// A realistic tool's arguments: a required string, an optional enum, a defaulted bounded int.
struct forecast_args {
    std::string city;
    std::optional<temperature_unit> units;
    int days = 3;
};
BOOST_DESCRIBE_STRUCT(forecast_args, (), (city, units, days))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<forecast_args>) {
    using mcpd::protocol::field;
    return mcpd::protocol::document(
        "Forecast request", "Where and how far ahead to forecast.",
        field("city", "City name, e.g. Paris"),
        field("units", "Temperature units; the city's own convention when absent"),
        field("days", "Days ahead, today included").range(1, 16).defaulted());
}

struct day_forecast {
    std::string date;
    double high = 0;
    double low = 0;
    std::optional<std::string> summary;
};
BOOST_DESCRIBE_STRUCT(day_forecast, (), (date, high, low, summary))

struct forecast_result {
    std::string city;
    temperature_unit units = temperature_unit::celsius;
    std::vector<day_forecast> days;
};
BOOST_DESCRIBE_STRUCT(forecast_result, (), (city, units, days))

} // namespace weather

namespace kinds {

enum class color { red, green, blue };
BOOST_DESCRIBE_ENUM(color, red, green, blue)

struct point {
    int x = 0;
    int y = 0;
};
BOOST_DESCRIBE_STRUCT(point, (), (x, y))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<point>) {
    return mcpd::protocol::document("Point", "A point on the grid.");
}

// One member of every supported kind.
struct all {
    bool flag = false;
    std::int8_t i8 = 0;
    std::uint8_t u8 = 0;
    std::int16_t i16 = 0;
    std::uint16_t u16 = 0;
    std::int32_t i32 = 0;
    std::uint32_t u32 = 0;
    std::int64_t i64 = 0;
    std::uint64_t u64 = 0;
    float f = 0;
    double d = 0;
    std::string s;
    color c = color::red;
    std::optional<std::string> maybe;
    std::vector<std::string> list;
    std::map<std::string, int> counts;
    std::unordered_map<std::string, bool> switches;
    point where;
    boost::json::value anything;
    boost::json::object extra;
};
BOOST_DESCRIBE_STRUCT(all, (),
                      (flag, i8, u8, i16, u16, i32, u32, i64, u64, f, d, s, c, maybe, list, counts,
                       switches, where, anything, extra))

struct empty {};
BOOST_DESCRIBE_STRUCT(empty, (), ())

} // namespace kinds

namespace nested {

struct person {
    std::string name;
    std::vector<std::string> tags;
    std::map<std::string, std::string> labels;
};
BOOST_DESCRIBE_STRUCT(person, (), (name, tags, labels))

struct item {
    std::string name;
    int quantity = 0;
};
BOOST_DESCRIBE_STRUCT(item, (), (name, quantity))

struct order {
    person user;
    std::vector<item> items;
    std::vector<std::vector<int>> grid;
    std::optional<item> gift;
};
BOOST_DESCRIBE_STRUCT(order, (), (user, items, grid, gift))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<order>) {
    using mcpd::protocol::field;
    return mcpd::protocol::document("", "", field("user", "Who orders"),
                                    field("gift", "Wrapped separately"));
}

} // namespace nested

namespace docs {

// Ranges, defaults, JSON names and closed objects.
struct options {
    std::string name_space;
    double ratio = 0.5;
    std::optional<int> limit;
    std::int8_t level = 0;
    std::uint32_t count = 10;
    bool verbose = false;
    std::vector<std::string> tags{"a", "b"};
};
BOOST_DESCRIBE_STRUCT(options, (), (name_space, ratio, limit, level, count, verbose, tags))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<options>) {
    using mcpd::protocol::field;
    return mcpd::protocol::document(
               "Options", "", field("name_space", "Kubernetes namespace").named("namespace"),
               field("ratio").range(0.25, 0.75).defaulted(), field("limit").at_least(1),
               field("level").range(-5, 1000), field("count").at_most(100).defaulted(),
               field("verbose").defaulted(), field("tags", "Labels").defaulted())
        .reject_unknown();
}

struct base {
    std::string id;
};
BOOST_DESCRIBE_STRUCT(base, (), (id))

struct derived : base {
    int extra = 0;
};
BOOST_DESCRIBE_STRUCT(derived, (base), (extra))

} // namespace docs

namespace {

namespace json = boost::json;
using mcpd::protocol::from_json;
using mcpd::protocol::json_schema_for;
using mcpd::protocol::to_json;

using int_map = std::map<std::string, int>;

json::value parse(std::string_view text) {
    return json::parse(text);
}

json::object parse_object(std::string_view text) {
    return json::parse(text).as_object();
}

// The detail of from_json<T>'s error on `text`; fails the test when it converts.
template <class T>
std::string error_of(std::string_view text) {
    auto r = from_json<T>(parse(text));
    if (r.has_value()) {
        ADD_FAILURE() << "converted: " << text;
        return {};
    }
    EXPECT_EQ(r.error().code, make_error_code(boost::system::errc::invalid_argument));
    return r.error().detail;
}

template <class T>
T value_of(std::string_view text) {
    auto r = from_json<T>(parse(text));
    if (!r.has_value()) {
        ADD_FAILURE() << text << ": " << r.error().message();
        return T{};
    }
    return *r;
}

// ---- schemas -------------------------------------------------------------------------------

TEST(protocol_schema, every_kind_of_member) {
    auto const want = parse_object(R"({
      "type": "object",
      "properties": {
        "flag": {"type": "boolean"},
        "i8": {"type": "integer", "minimum": -128, "maximum": 127},
        "u8": {"type": "integer", "minimum": 0, "maximum": 255},
        "i16": {"type": "integer", "minimum": -32768, "maximum": 32767},
        "u16": {"type": "integer", "minimum": 0, "maximum": 65535},
        "i32": {"type": "integer"},
        "u32": {"type": "integer", "minimum": 0},
        "i64": {"type": "integer"},
        "u64": {"type": "integer", "minimum": 0},
        "f": {"type": "number"},
        "d": {"type": "number"},
        "s": {"type": "string"},
        "c": {"type": "string", "enum": ["red", "green", "blue"]},
        "maybe": {"type": "string"},
        "list": {"type": "array", "items": {"type": "string"}},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "switches": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "where": {"type": "object", "title": "Point", "description": "A point on the grid.",
                  "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                  "required": ["x", "y"]},
        "anything": {},
        "extra": {"type": "object"}
      },
      "required": ["flag", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f", "d", "s",
                   "c", "list", "counts", "switches", "where", "anything", "extra"]
    })");
    EXPECT_EQ(json_schema_for<kinds::all>(), want)
        << json::serialize(json_schema_for<kinds::all>());
}

TEST(protocol_schema, schemas_of_non_struct_types) {
    EXPECT_EQ(json_schema_for<bool>(), parse_object(R"({"type": "boolean"})"));
    EXPECT_EQ(json_schema_for<std::uint8_t>(),
              parse_object(R"({"type": "integer", "minimum": 0, "maximum": 255})"));
    EXPECT_EQ(json_schema_for<long long>(), parse_object(R"({"type": "integer"})"));
    EXPECT_EQ(json_schema_for<unsigned long>(),
              parse_object(R"({"type": "integer", "minimum": 0})"));
    EXPECT_EQ(json_schema_for<std::vector<std::optional<double>>>(),
              parse_object(R"({"type": "array", "items": {"type": "number"}})"));
    EXPECT_EQ(json_schema_for<kinds::color>(),
              parse_object(R"({"type": "string", "enum": ["red", "green", "blue"]})"));
    EXPECT_EQ(json_schema_for<json::value>(), json::object{});
}

TEST(protocol_schema, keys_come_in_a_readable_order) {
    EXPECT_EQ(json::serialize(json_schema_for<kinds::point>()),
              R"({"type":"object","title":"Point","description":"A point on the grid.",)"
              R"("properties":{"x":{"type":"integer"},"y":{"type":"integer"}},)"
              R"("required":["x","y"]})");
}

TEST(protocol_schema, an_empty_struct_still_has_properties) {
    EXPECT_EQ(json::serialize(json_schema_for<kinds::empty>()),
              R"({"type":"object","properties":{}})");
    EXPECT_TRUE(from_json<kinds::empty>(parse("{}")).has_value());
    EXPECT_TRUE(from_json<kinds::empty>(parse(R"({"anything": 1})")).has_value());
    EXPECT_EQ(to_json(kinds::empty{}), json::object{});
}

TEST(protocol_schema, the_weather_tool) {
    EXPECT_EQ(json::serialize(json_schema_for<weather::forecast_args>()),
              R"({"type":"object","title":"Forecast request",)"
              R"("description":"Where and how far ahead to forecast.","properties":{)"
              R"("city":{"type":"string","description":"City name, e.g. Paris"},)"
              R"("units":{"type":"string","enum":["celsius","fahrenheit"],)"
              R"("description":"Temperature units; the city's own convention when absent"},)"
              R"("days":{"type":"integer","minimum":1,"maximum":16,)"
              R"("description":"Days ahead, today included","default":3}},)"
              R"("required":["city"]})");
}

TEST(protocol_schema, result_schema_nests_arrays_of_structs) {
    auto const want = parse_object(R"({
      "type": "object",
      "properties": {
        "city": {"type": "string"},
        "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "array", "items": {
          "type": "object",
          "properties": {"date": {"type": "string"}, "high": {"type": "number"},
                         "low": {"type": "number"}, "summary": {"type": "string"}},
          "required": ["date", "high", "low"]}}
      },
      "required": ["city", "units", "days"]
    })");
    EXPECT_EQ(json_schema_for<weather::forecast_result>(), want);
}

TEST(protocol_schema, member_description_overrides_the_nested_type_s) {
    auto const schema = json_schema_for<nested::order>();
    auto const& props = schema.at("properties").as_object();
    EXPECT_EQ(props.at("user").at("description"), "Who orders");
    EXPECT_EQ(props.at("gift").at("description"), "Wrapped separately");
    EXPECT_FALSE(schema.contains("title")); // an empty title is left out
    EXPECT_FALSE(schema.contains("description"));
    EXPECT_EQ(schema.at("required"), parse(R"(["user", "items", "grid"])"));
    EXPECT_EQ(props.at("grid"),
              parse(R"({"type":"array","items":{"type":"array","items":{"type":"integer"}}})"));
}

TEST(protocol_schema, ranges_defaults_names_and_closed_objects) {
    auto const want = parse_object(R"({
      "type": "object",
      "title": "Options",
      "properties": {
        "namespace": {"type": "string", "description": "Kubernetes namespace"},
        "ratio": {"type": "number", "minimum": 0.25, "maximum": 0.75, "default": 0.5},
        "limit": {"type": "integer", "minimum": 1},
        "level": {"type": "integer", "minimum": -5, "maximum": 127},
        "count": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10},
        "verbose": {"type": "boolean", "default": false},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "Labels",
                 "default": ["a", "b"]}
      },
      "required": ["namespace", "level"],
      "additionalProperties": false
    })");
    EXPECT_EQ(json_schema_for<docs::options>(), want)
        << json::serialize(json_schema_for<docs::options>());
}

TEST(protocol_schema, integral_double_bounds_are_written_as_integers) {
    auto const schema = json_schema_for<docs::options>();
    auto const& ratio = schema.at("properties").at("ratio").as_object();
    EXPECT_TRUE(ratio.at("minimum").is_double());
    EXPECT_TRUE(ratio.at("default").is_double());
    EXPECT_TRUE(schema.at("properties").at("limit").at("minimum").is_int64());
}

TEST(protocol_schema, inherited_members_are_included) {
    auto const want = parse_object(R"({
      "type": "object",
      "properties": {"id": {"type": "string"}, "extra": {"type": "integer"}},
      "required": ["id", "extra"]
    })");
    EXPECT_EQ(json_schema_for<docs::derived>(), want);
    auto const d = value_of<docs::derived>(R"({"id": "x", "extra": 4})");
    EXPECT_EQ(d.id, "x");
    EXPECT_EQ(d.extra, 4);
    EXPECT_EQ(to_json(d), parse(R"({"id": "x", "extra": 4})"));
}

TEST(protocol_schema, schema_is_computed_once_and_copied) {
    auto a = json_schema_for<weather::forecast_args>();
    a["type"] = "changed";
    EXPECT_EQ(json_schema_for<weather::forecast_args>().at("type"), "object");
}

// ---- from_json: conversions ----------------------------------------------------------------

TEST(protocol_from_json, converts_every_kind) {
    auto const a = value_of<kinds::all>(R"({
      "flag": true, "i8": -128, "u8": 255, "i16": -32768, "u16": 65535,
      "i32": -2147483648, "u32": 4294967295, "i64": -9223372036854775808,
      "u64": 18446744073709551615, "f": 1.5, "d": -2.25e10, "s": "héllo\u0000x",
      "c": "blue", "maybe": "here", "list": ["a", "b"], "counts": {"x": 1, "y": -2},
      "switches": {"on": true}, "where": {"x": 3, "y": 4}, "anything": [1, {"a": null}],
      "extra": {"k": "v"}
    })");
    EXPECT_TRUE(a.flag);
    EXPECT_EQ(a.i8, -128);
    EXPECT_EQ(a.u8, 255);
    EXPECT_EQ(a.i16, -32768);
    EXPECT_EQ(a.u16, 65535);
    EXPECT_EQ(a.i32, std::numeric_limits<std::int32_t>::min());
    EXPECT_EQ(a.u32, std::numeric_limits<std::uint32_t>::max());
    EXPECT_EQ(a.i64, std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(a.u64, std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(a.f, 1.5F);
    EXPECT_EQ(a.d, -2.25e10);
    EXPECT_EQ(a.s, std::string("h\xC3\xA9llo\0x", 8));
    EXPECT_EQ(a.c, kinds::color::blue);
    EXPECT_EQ(a.maybe, "here");
    EXPECT_EQ(a.list, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(a.counts, (std::map<std::string, int>{{"x", 1}, {"y", -2}}));
    EXPECT_EQ(a.switches, (std::unordered_map<std::string, bool>{{"on", true}}));
    EXPECT_EQ(a.where.x, 3);
    EXPECT_EQ(a.where.y, 4);
    EXPECT_EQ(a.anything, parse(R"([1, {"a": null}])"));
    EXPECT_EQ(a.extra, parse_object(R"({"k": "v"})"));
}

TEST(protocol_from_json, integers_accept_numbers_without_a_fraction) {
    auto const a = value_of<weather::forecast_args>(R"({"city": "Oslo", "days": 4.0})");
    EXPECT_EQ(a.days, 4);
    EXPECT_EQ(value_of<weather::forecast_args>(R"({"city": "Oslo", "days": 1e1})").days, 10);
    EXPECT_EQ(value_of<std::int64_t>("-9223372036854775808.0"),
              std::numeric_limits<std::int64_t>::min());
    // The largest double below 2^64.
    EXPECT_EQ(value_of<std::uint64_t>("18446744073709549568.0"), 18446744073709549568ULL);
    EXPECT_EQ(value_of<std::uint8_t>("-0.0"), 0);
}

TEST(protocol_from_json, numbers_accept_integers) {
    EXPECT_EQ(value_of<double>("3"), 3.0);
    EXPECT_EQ(value_of<double>("18446744073709551615"), 18446744073709551615.0);
    EXPECT_EQ(value_of<float>("-7"), -7.0F);
}

TEST(protocol_from_json, the_weather_tool) {
    auto const a = value_of<weather::forecast_args>(R"({"city": "Paris"})");
    EXPECT_EQ(a.city, "Paris");
    EXPECT_EQ(a.units, std::nullopt);
    EXPECT_EQ(a.days, 3); // the default member initializer
    auto const b = value_of<weather::forecast_args>(
        R"({"city": "Austin", "units": "fahrenheit", "days": 16})");
    EXPECT_EQ(b.units, weather::temperature_unit::fahrenheit);
    EXPECT_EQ(b.days, 16);
}

TEST(protocol_from_json, unknown_members_are_ignored_unless_the_type_is_closed) {
    auto const a = value_of<weather::forecast_args>(R"({"city": "Rome", "country": "IT"})");
    EXPECT_EQ(a.city, "Rome");
    EXPECT_FALSE(json_schema_for<weather::forecast_args>().contains("additionalProperties"));
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "x", "level": 1, "colour": "red",
                                           "name_space": "y"})"),
              R"(unknown argument "colour"; unknown argument "name_space")");
}

TEST(protocol_from_json, defaulted_members_keep_their_default_when_absent) {
    auto const a = value_of<docs::options>(R"({"namespace": "prod", "level": 2})");
    EXPECT_EQ(a.name_space, "prod");
    EXPECT_EQ(a.ratio, 0.5);
    EXPECT_EQ(a.limit, std::nullopt);
    EXPECT_EQ(a.level, 2);
    EXPECT_EQ(a.count, 10U);
    EXPECT_FALSE(a.verbose);
    EXPECT_EQ(a.tags, (std::vector<std::string>{"a", "b"}));

    auto const b = value_of<docs::options>(
        R"({"namespace": "p", "level": -5, "ratio": 0.75, "limit": 1, "count": 0,
            "verbose": true, "tags": []})");
    EXPECT_EQ(b.ratio, 0.75);
    EXPECT_EQ(b.limit, 1);
    EXPECT_EQ(b.level, -5);
    EXPECT_EQ(b.count, 0U);
    EXPECT_TRUE(b.verbose);
    EXPECT_TRUE(b.tags.empty());
}

TEST(protocol_from_json, nested_values_convert) {
    auto const o = value_of<nested::order>(R"({
      "user": {"name": "ada", "tags": ["x"], "labels": {"team": "core"}},
      "items": [{"name": "pen", "quantity": 2}, {"name": "ink", "quantity": 1}],
      "grid": [[1, 2], [], [3]],
      "gift": {"name": "card", "quantity": 1}
    })");
    EXPECT_EQ(o.user.name, "ada");
    EXPECT_EQ(o.user.labels.at("team"), "core");
    ASSERT_EQ(o.items.size(), 2U);
    EXPECT_EQ(o.items[1].name, "ink");
    EXPECT_EQ(o.grid, (std::vector<std::vector<int>>{{1, 2}, {}, {3}}));
    ASSERT_TRUE(o.gift.has_value());
    EXPECT_EQ(o.gift->name, "card");
}

TEST(protocol_from_json, vectors_of_bool_work) {
    EXPECT_EQ(value_of<std::vector<bool>>("[true, false, true]"),
              (std::vector<bool>{true, false, true}));
}

// ---- from_json: every error, word for word -------------------------------------------------

TEST(protocol_from_json_errors, arguments_that_are_not_an_object) {
    EXPECT_EQ(error_of<weather::forecast_args>("[]"), "arguments: expected object, got array");
    EXPECT_EQ(error_of<weather::forecast_args>("null"), "arguments: expected object, got null");
    EXPECT_EQ(error_of<weather::forecast_args>("\"Paris\""),
              "arguments: expected object, got string");
    EXPECT_EQ(error_of<int>("true"), "arguments: expected integer, got boolean");
}

TEST(protocol_from_json_errors, missing_required_argument) {
    EXPECT_EQ(error_of<weather::forecast_args>("{}"), R"(missing required argument "city")");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"City": "Paris"})"),
              R"(missing required argument "city")");
}

TEST(protocol_from_json_errors, wrong_json_type_for_each_kind) {
    auto const base = parse_object(R"({
      "flag": true, "i8": 0, "u8": 0, "i16": 0, "u16": 0, "i32": 0, "u32": 0, "i64": 0,
      "u64": 0, "f": 0, "d": 0, "s": "", "c": "red", "list": [], "counts": {},
      "switches": {}, "where": {"x": 0, "y": 0}, "anything": null, "extra": {}
    })");
    ASSERT_TRUE(from_json<kinds::all>(base).has_value());
    struct bad_case {
        char const* member;
        char const* value;
        std::string want;
    };
    std::vector<bad_case> const cases{
        {"flag", "1", R"(argument "flag": expected boolean, got number)"},
        {"flag", "\"true\"", R"(argument "flag": expected boolean, got string)"},
        {"i8", "\"1\"", R"(argument "i8": expected integer, got string)"},
        {"u64", "null", R"(argument "u64": expected integer, got null)"},
        {"i32", "2.5", R"(argument "i32": expected integer, got 2.5)"},
        {"i64", "-0.001", R"(argument "i64": expected integer, got -0.001)"},
        {"u32", "1e-7", R"(argument "u32": expected integer, got 1e-07)"},
        {"f", "false", R"(argument "f": expected number, got boolean)"},
        {"d", "[]", R"(argument "d": expected number, got array)"},
        {"s", "42", R"(argument "s": expected string, got number)"},
        {"s", "{}", R"(argument "s": expected string, got object)"},
        {"c", "\"purple\"",
         R"(argument "c": expected one of "red", "green", "blue", got "purple")"},
        {"c", "\"Red\"", R"(argument "c": expected one of "red", "green", "blue", got "Red")"},
        {"c", "0", R"(argument "c": expected one of "red", "green", "blue", got number)"},
        {"maybe", "null", R"(argument "maybe": expected string, got null)"},
        {"list", "\"a\"", R"(argument "list": expected array, got string)"},
        {"list", "[\"a\", 2]", R"(argument "list[1]": expected string, got number)"},
        {"counts", "[]", R"(argument "counts": expected object, got array)"},
        {"counts", R"({"x": "1"})", R"(argument "counts.x": expected integer, got string)"},
        {"switches", R"({"on": 1})", R"(argument "switches.on": expected boolean, got number)"},
        {"where", "[0, 0]", R"(argument "where": expected object, got array)"},
        {"where", R"({"x": 0})", R"(missing required argument "where.y")"},
        {"extra", "[]", R"(argument "extra": expected object, got array)"},
    };
    for (auto const& c : cases) {
        auto input = base;
        input[c.member] = parse(c.value);
        auto r = from_json<kinds::all>(input);
        ASSERT_FALSE(r.has_value()) << c.member << " = " << c.value;
        EXPECT_EQ(r.error().detail, c.want) << c.member << " = " << c.value;
    }
}

TEST(protocol_from_json_errors, integers_out_of_the_type_s_range) {
    EXPECT_EQ(error_of<std::int8_t>("128"), "arguments: 128 is above the maximum 127");
    EXPECT_EQ(error_of<std::int8_t>("-129"), "arguments: -129 is below the minimum -128");
    EXPECT_EQ(error_of<std::uint8_t>("256"), "arguments: 256 is above the maximum 255");
    EXPECT_EQ(error_of<std::uint8_t>("-1"), "arguments: -1 is below the minimum 0");
    EXPECT_EQ(error_of<std::uint32_t>("-1.0"), "arguments: -1 is below the minimum 0");
    EXPECT_EQ(error_of<std::int32_t>("3000000000"),
              "arguments: 3000000000 is above the maximum 2147483647");
    EXPECT_EQ(error_of<std::int64_t>("9223372036854775808"),
              "arguments: 9223372036854775808 is above the maximum 9223372036854775807");
    EXPECT_EQ(error_of<std::int64_t>("-1e19"),
              "arguments: -1e+19 is below the minimum -9223372036854775808");
    // Beyond int64, the parser gives a double, and -2^63 - 1 rounds to -2^63, which fits.
    EXPECT_EQ(value_of<std::int64_t>("-9223372036854775809"),
              std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(error_of<std::int64_t>("9223372036854775808.0"),
              "arguments: 9.223372036854776e+18 is above the maximum 9223372036854775807");
    EXPECT_EQ(error_of<std::uint64_t>("18446744073709551616"),
              "arguments: 1.8446744073709552e+19 is above the maximum 18446744073709551615");
    EXPECT_EQ(error_of<std::int64_t>("1e400"), "arguments: expected integer, got inf");
}

TEST(protocol_from_json_errors, numbers_a_float_cannot_hold) {
    EXPECT_EQ(error_of<double>("1e400"), "arguments: number is out of range for a 64-bit float");
    EXPECT_EQ(error_of<double>("-1e400"), "arguments: number is out of range for a 64-bit float");
    EXPECT_EQ(error_of<float>("1e39"), "arguments: number is out of range for a 32-bit float");
    EXPECT_EQ(value_of<float>("3.4028234e38"), std::numeric_limits<float>::max());
}

TEST(protocol_from_json_errors, documented_ranges) {
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "days": 0})"),
              R"(argument "days": 0 is below the minimum 1)");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "days": 17})"),
              R"(argument "days": 17 is above the maximum 16)");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "days": 20.0})"),
              R"(argument "days": 20 is above the maximum 16)");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "days": 2.5})"),
              R"(argument "days": expected integer, got 2.5)");
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": 0, "ratio": 0.2})"),
              R"(argument "ratio": 0.2 is below the minimum 0.25)");
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": 0, "ratio": 1})"),
              R"(argument "ratio": 1 is above the maximum 0.75)");
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": 0, "limit": 0})"),
              R"(argument "limit": 0 is below the minimum 1)");
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": -6})"),
              R"(argument "level": -6 is below the minimum -5)");
    // The documented maximum 1000 is beyond int8_t: the type's own 127 applies.
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": 128})"),
              R"(argument "level": 128 is above the maximum 127)");
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": 0, "count": 101})"),
              R"(argument "count": 101 is above the maximum 100)");
    EXPECT_EQ(error_of<docs::options>(R"({"namespace": "n", "level": 0, "count": -1})"),
              R"(argument "count": -1 is below the minimum 0)");
}

TEST(protocol_from_json_errors, the_weather_tool) {
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": 75001})"),
              R"(argument "city": expected string, got number)");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "units": "kelvin"})"),
              R"(argument "units": expected one of "celsius", "fahrenheit", got "kelvin")");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "units": null})"),
              R"(argument "units": expected one of "celsius", "fahrenheit", got null)");
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"city": "Oslo", "days": "3"})"),
              R"(argument "days": expected integer, got string)");
}

TEST(protocol_from_json_errors, paths_through_nested_values) {
    auto const good_user = R"("user": {"name": "a", "tags": [], "labels": {}})";
    auto with_user = [&](std::string const& rest) {
        return std::string("{") + good_user + ", " + rest + "}";
    };
    EXPECT_EQ(error_of<nested::order>(
                  R"({"user": {"name": "a", "tags": ["x", "y", 3], "labels": {}}, "items": [],
                      "grid": []})"),
              R"(argument "user.tags[2]": expected string, got number)");
    EXPECT_EQ(error_of<nested::order>(R"({"user": {"tags": [], "labels": {}}, "items": [],
                                          "grid": []})"),
              R"(missing required argument "user.name")");
    EXPECT_EQ(error_of<nested::order>(with_user(R"("items": [{"name": "a", "quantity": 1},
                                                              {"quantity": 2}], "grid": [])")),
              R"(missing required argument "items[1].name")");
    EXPECT_EQ(error_of<nested::order>(with_user(R"("items": [], "grid": [[1], [2, "3"]])")),
              R"(argument "grid[1][1]": expected integer, got string)");
    EXPECT_EQ(error_of<nested::order>(with_user(R"("items": [], "grid": [], "gift": {"name": 1,
                                                   "quantity": 1})")),
              R"(argument "gift.name": expected string, got number)");
    EXPECT_EQ(error_of<nested::order>(
                  R"({"user": {"name": "a", "tags": [], "labels": {"env": 1}}, "items": [],
                      "grid": []})"),
              R"(argument "user.labels.env": expected string, got number)");
}

TEST(protocol_from_json_errors, keys_that_are_not_identifiers_are_quoted) {
    EXPECT_EQ(error_of<nested::order>(
                  R"({"user": {"name": "a", "tags": [], "labels": {"a b": 1}}, "items": [],
                      "grid": []})"),
              R"(argument "user.labels["a b"]": expected string, got number)");
    EXPECT_EQ(error_of<int_map>(R"({"": true})"),
              R"(argument "[""]": expected integer, got boolean)");
    EXPECT_EQ(error_of<int_map>(R"({"9lives": true})"),
              R"(argument "["9lives"]": expected integer, got boolean)");
    EXPECT_EQ(error_of<int_map>(R"({"quote\"d": true})"),
              R"(argument "["quote\"d"]": expected integer, got boolean)");
    EXPECT_EQ(error_of<std::vector<int>>(R"([1, null])"),
              R"(argument "[1]": expected integer, got null)");
}

TEST(protocol_from_json_errors, long_text_in_messages_is_cut_on_a_character_boundary) {
    // 63 ASCII bytes, then a 2-byte character that straddles the 64-byte cut.
    std::string const long_name = std::string(63, 'k') + "\xC3\xA9" + std::string(100, 'z');
    json::object input{{"city", "x"}, {"units", json::string(long_name)}};
    auto r = from_json<weather::forecast_args>(input);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().detail,
              R"(argument "units": expected one of "celsius", "fahrenheit", got ")" +
                  std::string(63, 'k') + R"(...")");
    std::string const long_key(200, 'q');
    json::object map_input{{long_key, "not a number"}};
    auto m = from_json<int_map>(map_input);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().detail,
              R"(argument "[")" + std::string(64, 'q') + R"(..."]": expected integer, got string)");
}

TEST(protocol_from_json_errors, control_characters_are_escaped) {
    EXPECT_EQ(error_of<kinds::color>("\"a\\nb\\u0001\""),
              R"(arguments: expected one of "red", "green", "blue", got "a\nb\u0001")");
}

TEST(protocol_from_json_errors, every_problem_is_reported_at_once) {
    EXPECT_EQ(error_of<weather::forecast_args>(R"({"units": "kelvin", "days": 99})"),
              R"(missing required argument "city"; )"
              R"(argument "units": expected one of "celsius", "fahrenheit", got "kelvin"; )"
              R"(argument "days": 99 is above the maximum 16)");
    EXPECT_EQ(error_of<docs::options>(R"({"level": 1000, "extra": 1})"),
              R"(missing required argument "namespace"; )"
              R"(argument "level": 1000 is above the maximum 127; )"
              R"(unknown argument "extra")");
}

TEST(protocol_from_json_errors, at_most_ten_problems_are_spelled_out) {
    EXPECT_EQ(error_of<std::vector<bool>>("[0,1,2,3,4,5,6,7,8,9,10,11]"),
              R"(argument "[0]": expected boolean, got number; )"
              R"(argument "[1]": expected boolean, got number; )"
              R"(argument "[2]": expected boolean, got number; )"
              R"(argument "[3]": expected boolean, got number; )"
              R"(argument "[4]": expected boolean, got number; )"
              R"(argument "[5]": expected boolean, got number; )"
              R"(argument "[6]": expected boolean, got number; )"
              R"(argument "[7]": expected boolean, got number; )"
              R"(argument "[8]": expected boolean, got number; )"
              R"(argument "[9]": expected boolean, got number; and 2 more problems)");
    EXPECT_TRUE(
        error_of<std::vector<bool>>("[0,1,2,3,4,5,6,7,8,9,10]")
            .ends_with(R"(argument "[9]": expected boolean, got number; and 1 more problem)"));
}

TEST(protocol_from_json_errors, the_error_message_names_the_code_too) {
    auto r = from_json<weather::forecast_args>(parse("{}"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), R"(missing required argument "city": Invalid argument)");
    EXPECT_THROW((void)r.value(), mcpd::exception);
}

// ---- to_json -------------------------------------------------------------------------------

TEST(protocol_to_json, result_struct) {
    weather::forecast_result const r{
        .city = "Oslo",
        .units = weather::temperature_unit::fahrenheit,
        .days = {{.date = "2026-01-02", .high = 30.5, .low = 21, .summary = "snow"},
                 {.date = "2026-01-03", .high = -4.25, .low = -10}}};
    EXPECT_EQ(json::serialize(to_json(r)),
              R"({"city":"Oslo","units":"fahrenheit","days":[)"
              R"({"date":"2026-01-02","high":3.05E1,"low":21,"summary":"snow"},)"
              R"({"date":"2026-01-03","high":-4.25E0,"low":-10}]})");
}

TEST(protocol_to_json, every_kind) {
    kinds::all a;
    a.flag = true;
    a.i8 = -1;
    a.u64 = std::numeric_limits<std::uint64_t>::max();
    a.i64 = std::numeric_limits<std::int64_t>::min();
    a.f = 0.5F;
    a.d = 1e300;
    a.s = "text";
    a.c = kinds::color::green;
    a.list = {"x"};
    a.counts = {{"k", 2}};
    a.switches = {{"s", false}};
    a.where = {1, 2};
    a.anything = parse(R"({"nested": [true]})");
    a.extra = parse_object(R"({"e": 1})");
    auto const want = parse(R"({
      "flag": true, "i8": -1, "u8": 0, "i16": 0, "u16": 0, "i32": 0, "u32": 0,
      "i64": -9223372036854775808, "u64": 18446744073709551615, "f": 0.5, "d": 1e300,
      "s": "text", "c": "green", "list": ["x"], "counts": {"k": 2}, "switches": {"s": false},
      "where": {"x": 1, "y": 2}, "anything": {"nested": [true]}, "extra": {"e": 1}
    })");
    EXPECT_EQ(to_json(a), want) << json::serialize(to_json(a));
    EXPECT_FALSE(to_json(a).as_object().contains("maybe"));
    a.maybe = "";
    EXPECT_EQ(to_json(a).at("maybe"), "");
}

TEST(protocol_to_json, numbers) {
    EXPECT_TRUE(to_json(2.0).is_int64());
    EXPECT_EQ(to_json(2.0), 2);
    EXPECT_EQ(to_json(-0.0), 0);
    EXPECT_TRUE(to_json(2.5).is_double());
    EXPECT_TRUE(to_json(1e300).is_double()); // integral, but beyond 2^53: stays a double
    EXPECT_TRUE(to_json(std::nan("")).is_null());
    EXPECT_TRUE(to_json(std::numeric_limits<double>::infinity()).is_null());
    EXPECT_TRUE(to_json(std::uint8_t{200}).is_uint64());
    EXPECT_TRUE(to_json(short{-3}).is_int64());
    EXPECT_EQ(to_json(std::optional<int>{}), nullptr);
    EXPECT_EQ(to_json(std::optional<int>{4}), 4);
}

TEST(protocol_to_json, json_names_are_used) {
    docs::options o;
    o.name_space = "prod";
    auto const j = to_json(o);
    EXPECT_EQ(j.at("namespace"), "prod");
    EXPECT_FALSE(j.as_object().contains("name_space"));
}

TEST(protocol_to_json, an_enum_value_without_a_name_throws) {
    auto const bad = static_cast<kinds::color>(42);
    try {
        (void)to_json(bad);
        FAIL() << "no exception";
    } catch (mcpd::exception const& e) {
        EXPECT_EQ(e.err().detail, "to_json: enum value 42 has no described name");
        EXPECT_EQ(e.err().code, make_error_code(boost::system::errc::invalid_argument));
    }
}

// ---- round trips ---------------------------------------------------------------------------

template <class T>
void expect_json_round_trip(std::string_view text) {
    auto const json = parse(text);
    auto const converted = from_json<T>(json);
    ASSERT_TRUE(converted.has_value()) << text << ": " << converted.error().message();
    EXPECT_EQ(to_json(*converted), json) << text;
}

TEST(protocol_round_trip, json_to_struct_to_json) {
    expect_json_round_trip<weather::forecast_args>(
        R"({"city": "Lima", "units": "celsius", "days": 7})");
    expect_json_round_trip<weather::forecast_result>(
        R"({"city": "Lima", "units": "celsius", "days": [{"date": "d", "high": 1.5, "low": 0}]})");
    expect_json_round_trip<nested::order>(
        R"({"user": {"name": "n", "tags": ["t"], "labels": {"a": "b"}},
            "items": [{"name": "i", "quantity": -3}], "grid": [[1], []],
            "gift": {"name": "g", "quantity": 0}})");
    expect_json_round_trip<docs::options>(
        R"({"namespace": "x", "ratio": 0.5, "limit": 2, "level": -5, "count": 100,
            "verbose": true, "tags": []})");
    expect_json_round_trip<kinds::all>(R"({
      "flag": false, "i8": 127, "u8": 1, "i16": -1, "u16": 2, "i32": 3, "u32": 4,
      "i64": 9223372036854775807, "u64": 5, "f": 0.25, "d": 0.1, "s": "\u00e9\ud83d\ude00",
      "c": "red", "maybe": "m", "list": [], "counts": {}, "switches": {"a": true},
      "where": {"x": -1, "y": 1}, "anything": "any", "extra": {}
    })");
}

TEST(protocol_round_trip, struct_to_json_to_struct) {
    weather::forecast_result const r{
        .city = "Quito",
        .units = weather::temperature_unit::celsius,
        .days = {{.date = "a", .high = 0.1, .low = -0.1, .summary = std::nullopt}}};
    auto const back = from_json<weather::forecast_result>(to_json(r));
    ASSERT_TRUE(back.has_value()) << back.error().message();
    EXPECT_EQ(back->city, r.city);
    EXPECT_EQ(back->units, r.units);
    ASSERT_EQ(back->days.size(), 1U);
    EXPECT_EQ(back->days[0].high, 0.1);
    EXPECT_EQ(back->days[0].low, -0.1);
    EXPECT_EQ(back->days[0].summary, std::nullopt);
}

// ---- the compile-time checks of mcpd_schema_doc ---------------------------------------------

using mcpd::protocol::field;
using mcpd::protocol::detail::check_doc;
using mcpd::protocol::detail::doc_problem;
using mcpd::protocol::detail::member_facts;

constexpr member_facts text_member{.name = "text"};
constexpr member_facts optional_member{.name = "maybe", .optional = true};
constexpr member_facts int8_member{
    .name = "small", .integer = true, .type_min = -128, .type_max = 127};
constexpr member_facts uint_member{
    .name = "count", .integer = true, .type_min = 0, .type_max = 4294967295.0};
constexpr member_facts double_member{.name = "ratio", .number = true};
constexpr std::array members{text_member, optional_member, int8_member, uint_member, double_member};

constexpr doc_problem check(std::initializer_list<mcpd::protocol::field_doc> fields) {
    return check_doc(std::span(fields.begin(), fields.size()), members);
}

TEST(protocol_doc_checks, a_good_doc_passes) {
    static_assert(check({field("text", "t"), field("maybe"), field("small").range(-128, 127),
                         field("count").at_most(10).defaulted(), field("ratio").range(0.1, 0.2)}) ==
                  doc_problem::none);
    static_assert(check({field("text", "t").defaulted(), field("maybe").named("m"),
                         field("small").range(-100, 100), field("count").at_least(-5),
                         field("ratio").at_least(-1e300)}) == doc_problem::none);
    static_assert(check({}) == doc_problem::none);
    SUCCEED();
}

TEST(protocol_doc_checks, every_mistake_is_caught) {
    static_assert(check({field("txt")}) == doc_problem::unknown_member);
    static_assert(check({field("text"), field("text")}) == doc_problem::documented_twice);
    static_assert(check({field("text").named("ratio")}) == doc_problem::duplicate_property_name);
    static_assert(check({field("text").named("x"), field("maybe").named("x")}) ==
                  doc_problem::duplicate_property_name);
    static_assert(check({field("text").range(1, 2)}) == doc_problem::range_on_non_number);
    static_assert(check({field("ratio").at_most(std::numeric_limits<double>::infinity())}) ==
                  doc_problem::range_not_finite);
    static_assert(check({field("ratio").at_least(std::numeric_limits<double>::quiet_NaN())}) ==
                  doc_problem::range_not_finite);
    static_assert(check({field("small").at_least(0.5)}) ==
                  doc_problem::integer_range_not_safe_integer);
    static_assert(check({field("count").at_most(9007199254740992.0)}) ==
                  doc_problem::integer_range_not_safe_integer);
    static_assert(check({field("count").at_most(1e30)}) ==
                  doc_problem::integer_range_not_safe_integer);
    static_assert(check({field("ratio").range(2, 1)}) == doc_problem::empty_range);
    static_assert(check({field("small").at_least(200)}) == doc_problem::empty_range);
    static_assert(check({field("count").at_most(-1)}) == doc_problem::empty_range);
    static_assert(check({field("maybe").defaulted()}) == doc_problem::default_on_optional);
    SUCCEED();
}

} // namespace

// Emits the material for the ajv cross-check (run_ajv_check.sh): for several argument structs,
// json_schema_for<T>() and sample instances, each with from_json<T>'s verdict and, when it
// converts, to_json of the result. ajv_agrees.mjs then asks ajv, a JSON Schema 2020-12
// validator no one here wrote, whether it agrees on every instance. Prints one JSON document.
#include "mcpd/protocol/schema.hpp"

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace samples {

enum class temperature_unit { celsius, fahrenheit };
BOOST_DESCRIBE_ENUM(temperature_unit, celsius, fahrenheit)

struct forecast_args {
    std::string city;
    std::optional<temperature_unit> units;
    int days = 3;
};
BOOST_DESCRIBE_STRUCT(forecast_args, (), (city, units, days))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<forecast_args>) {
    using mcpd::protocol::field;
    return mcpd::protocol::document("Forecast request", "Where and how far ahead.",
                                    field("city", "City name"),
                                    field("days", "Days ahead").range(1, 16).defaulted());
}

struct point {
    int x = 0;
    int y = 0;
};
BOOST_DESCRIBE_STRUCT(point, (), (x, y))

struct all_kinds {
    bool flag = false;
    std::int8_t i8 = 0;
    std::uint8_t u8 = 0;
    std::int16_t i16 = 0;
    std::uint16_t u16 = 0;
    std::uint32_t u32 = 0;
    std::int64_t i64 = 0;
    std::uint64_t u64 = 0;
    double d = 0;
    std::string s;
    temperature_unit unit = temperature_unit::celsius;
    std::optional<std::string> maybe;
    std::vector<std::string> list;
    std::map<std::string, int> counts;
    std::unordered_map<std::string, bool> switches;
    point where;
    boost::json::value anything;
    boost::json::object extra;
};
BOOST_DESCRIBE_STRUCT(all_kinds, (),
                      (flag, i8, u8, i16, u16, u32, i64, u64, d, s, unit, maybe, list, counts,
                       switches, where, anything, extra))

struct options {
    std::string name_space;
    double ratio = 0.5;
    std::optional<int> limit;
    std::uint32_t count = 10;
};
BOOST_DESCRIBE_STRUCT(options, (), (name_space, ratio, limit, count))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<options>) {
    using mcpd::protocol::field;
    return mcpd::protocol::document("Options", "", field("name_space").named("namespace"),
                                    field("ratio").range(0.25, 0.75).defaulted(),
                                    field("limit").at_least(1),
                                    field("count").at_most(100).defaulted())
        .reject_unknown();
}

struct item {
    std::string name;
    int quantity = 0;
};
BOOST_DESCRIBE_STRUCT(item, (), (name, quantity))

struct order {
    std::vector<item> items;
    std::vector<std::vector<int>> grid;
    std::optional<item> gift;
};
BOOST_DESCRIBE_STRUCT(order, (), (items, grid, gift))

struct nothing {};
BOOST_DESCRIBE_STRUCT(nothing, (), ())

} // namespace samples

namespace {

namespace json = boost::json;

// One instance: its JSON text, and what mcpd says of it. `schema_looser` marks the documented
// places where the schema allows what from_json refuses (the range of a 32- or 64-bit integer,
// float overflow): there ajv must accept and from_json refuse, and nowhere else may they differ.
// (1e400 is no such place: JavaScript reads it as Infinity, which ajv refuses as a number.)
struct instance {
    std::string_view text;
    bool schema_looser = false;
};

template <class T>
json::object make_case(std::string_view name, std::initializer_list<instance> instances) {
    json::array out;
    for (auto const& i : instances) {
        auto const value = json::parse(i.text);
        auto const converted = mcpd::protocol::from_json<T>(value);
        json::object entry{{"text", i.text},
                           {"accepted", converted.has_value()},
                           {"schema_looser", i.schema_looser}};
        if (converted.has_value())
            entry["to_json"] = mcpd::protocol::to_json(*converted);
        else
            entry["error"] = converted.error().detail;
        out.push_back(std::move(entry));
    }
    return {{"name", name},
            {"schema", mcpd::protocol::json_schema_for<T>()},
            {"instances", std::move(out)}};
}

} // namespace

int main() {
    using namespace samples;
    json::array cases;
    cases.push_back(make_case<forecast_args>(
        "forecast_args", {
                             {R"({"city": "Paris"})"},
                             {R"({"city": "Paris", "units": "celsius", "days": 16})"},
                             {R"({"city": "Paris", "days": 1.0})"},
                             {R"({"city": "Paris", "unknown": [1, 2]})"},
                             {R"({})"},
                             {R"([])"},
                             {R"(null)"},
                             {R"({"city": 1})"},
                             {R"({"city": "Paris", "units": "kelvin"})"},
                             {R"({"city": "Paris", "units": null})"},
                             {R"({"city": "Paris", "days": 0})"},
                             {R"({"city": "Paris", "days": 17})"},
                             {R"({"city": "Paris", "days": 2.5})"},
                             {R"({"city": "Paris", "days": "3"})"},
                         }));
    cases.push_back(make_case<all_kinds>(
        "all_kinds",
        {
            {R"({"flag": true, "i8": -128, "u8": 255, "i16": 32767, "u16": 0, "u32": 4294967295,
                 "i64": -9007199254740991, "u64": 9007199254740991, "d": -1.5e300, "s": "",
                 "unit": "fahrenheit", "maybe": "m", "list": ["a"], "counts": {"a": 1},
                 "switches": {}, "where": {"x": 1, "y": -1}, "anything": [null],
                 "extra": {"k": {}}})"},
            {R"({"flag": false, "i8": 0, "u8": 0, "i16": 0, "u16": 0, "u32": 0, "i64": 0,
                 "u64": 0, "d": 0, "s": "x", "unit": "celsius", "list": [], "counts": {},
                 "switches": {"on": true}, "where": {"x": 0, "y": 0}, "anything": null,
                 "extra": {}})"},
            {R"({"flag": 1, "i8": 128, "u8": -1, "i16": -32769, "u16": 65536, "u32": -1,
                 "i64": 0.5, "u64": -2, "d": "1", "s": null, "unit": "Celsius",
                 "maybe": null, "list": [1], "counts": {"a": 1.5}, "switches": [],
                 "where": {"x": 0}, "anything": 1, "extra": []})"},
            {R"({"flag": false, "i8": 0, "u8": 0, "i16": 0, "u16": 0, "u32": 4294967296,
                 "i64": 0, "u64": 0, "d": 0, "s": "x", "unit": "celsius", "list": [],
                 "counts": {}, "switches": {}, "where": {"x": 0, "y": 0}, "anything": null,
                 "extra": {}})",
             true},
            {R"({"flag": false, "i8": 0, "u8": 0, "i16": 0, "u16": 0, "u32": 0, "i64": 0,
                 "u64": 0, "d": 0, "s": "x", "unit": "celsius", "list": [], "counts": {},
                 "switches": {}, "where": {"x": 3000000000, "y": 0}, "anything": null,
                 "extra": {}})",
             true},
            {R"({"flag": false, "i8": 0, "u8": 0, "i16": 0, "u16": 0, "u32": 0, "i64": 0,
                 "u64": 0, "d": 1e400, "s": "x", "unit": "celsius", "list": [], "counts": {},
                 "switches": {}, "where": {"x": 0, "y": 0}, "anything": null, "extra": {}})"},
        }));
    cases.push_back(make_case<options>("options (closed, ranges, defaults, JSON names)",
                                       {
                                           {R"({"namespace": "n"})"},
                                           {R"({"namespace": "n", "ratio": 0.25, "limit": 1,
                                                "count": 100})"},
                                           {R"({"namespace": "n", "ratio": 0.75, "count": 0})"},
                                           {R"({"namespace": "n", "name_space": "n"})"},
                                           {R"({"name_space": "n"})"},
                                           {R"({"namespace": "n", "ratio": 0.2})"},
                                           {R"({"namespace": "n", "ratio": 0.8})"},
                                           {R"({"namespace": "n", "limit": 0})"},
                                           {R"({"namespace": "n", "count": 101})"},
                                           {R"({"namespace": "n", "count": -1})"},
                                       }));
    cases.push_back(
        make_case<order>("order (nested)",
                         {
                             {R"({"items": [{"name": "a", "quantity": 1}], "grid": [[1, 2], []]})"},
                             {R"({"items": [], "grid": [], "gift": {"name": "g", "quantity": 0}})"},
                             {R"({"items": [{"name": "a"}], "grid": []})"},
                             {R"({"items": [], "grid": [[1, "2"]]})"},
                             {R"({"items": [], "grid": [], "gift": null})"},
                             {R"({"items": {}, "grid": []})"},
                         }));
    cases.push_back(make_case<nothing>("nothing (no arguments)", {
                                                                     {R"({})"},
                                                                     {R"({"a": 1})"},
                                                                     {R"([])"},
                                                                 }));
    std::cout << json::serialize(cases) << "\n";
}

// Compile-fail cases for protocol/schema.hpp: each MCPD_CASE must be refused by the compiler
// with the message tests/unit/CMakeLists.txt expects (a mistake in mcpd_schema_doc, or a member
// type the schema cannot express). MCPD_CASE 0 must compile: it shows the harness itself works.
#include "mcpd/protocol/schema.hpp"

#include <boost/describe/class.hpp>

#include <optional>
#include <set>
#include <string>

namespace cases {

struct args {
    std::string city;
    std::optional<int> days;
    int count = 1;
};
BOOST_DESCRIBE_STRUCT(args, (), (city, days, count))

constexpr auto mcpd_schema_doc(mcpd::protocol::type_tag<args>) {
    using mcpd::protocol::field;
#if MCPD_CASE == 0
    return mcpd::protocol::document("", "", field("city"), field("count").range(1, 5).defaulted());
#elif MCPD_CASE == 1
    return mcpd::protocol::document("", "", field("cty", "a typo"));
#elif MCPD_CASE == 2
    return mcpd::protocol::document("", "", field("city").at_least(1));
#elif MCPD_CASE == 3
    return mcpd::protocol::document("", "", field("days").defaulted());
#elif MCPD_CASE == 4
    return mcpd::protocol::document("", "", field("count").range(0.5, 2));
#else
    return mcpd::protocol::document("", "");
#endif
}

struct unsupported {
    std::set<int> numbers;
};
BOOST_DESCRIBE_STRUCT(unsupported, (), (numbers))

} // namespace cases

int main() {
#if MCPD_CASE == 5
    (void)mcpd::protocol::json_schema_for<cases::unsupported>();
#else
    (void)mcpd::protocol::json_schema_for<cases::args>();
#endif
}

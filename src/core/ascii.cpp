// core/ascii.cpp — see ascii.hpp.
#include "core/ascii.hpp"

namespace mcpd {

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = ascii_lower(c);
    return out;
}

} // namespace mcpd

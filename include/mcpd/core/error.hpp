// core/error.hpp — how errors cross layer boundaries in mcpd.
//
// A failing operation returns mcpd::result<T>: either a T or an mcpd::error, which carries an
// error_code to branch on (our categories, Asio's, or the system's) and a detail string for
// humans (the server's message, the file name, the setting). Nothing is logged-and-dropped:
// the caller decides. At the API edge result<T>::value() throws mcpd::exception.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>

namespace mcpd {

struct error {
    boost::system::error_code code;
    std::string detail; // free text for humans; may be empty

    error() = default;
    error(boost::system::error_code c, std::string d = {}) // NOLINT: implicit from a code is handy
        : code(c)
        , detail(std::move(d)) {}

    // "detail: code message" (or just the code's message when there is no detail).
    [[nodiscard]] std::string message() const;
    friend bool operator==(error const& e, boost::system::error_code const& c) {
        return e.code == c;
    }
};

template <class T>
using result = boost::system::result<T, error>;

// Thrown by result<T>::value() on an error, and by APIs that report errors as exceptions.
class exception : public std::runtime_error {
public:
    explicit exception(error e);
    [[nodiscard]] error const& err() const noexcept { return err_; }

private:
    error err_;
};

// Found by ADL from boost::system::result<T, mcpd::error>::value().
[[noreturn]] void throw_exception_from_error(error const& e, boost::source_location const& loc);

} // namespace mcpd

// The one translation unit that compiles Boost.Asio and Asio SSL (BOOST_ASIO_SEPARATE_COMPILATION
// is set for every target by mcpd_build_settings).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>

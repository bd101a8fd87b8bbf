// The one translation unit that compiles Boost.Beast (BOOST_BEAST_SEPARATE_COMPILATION is set for
// every target by mcpd_build_settings). Beast stays inside src/http/: its headers never reach a
// public header.
#include <boost/beast/src.hpp>

// core/error_category.hpp — the one way mcpd declares an error_code category.
//
// Each layer's error.cpp defines its categories with declare_category(): a name, unique across
// mcpd ("mcpd.<layer>[.<what>]"), and a function from a code to its message. A code the function
// has no message for (it returns "") reads "unknown <name> error <code>". A category is made once
// and never destroyed, so codes stay valid in the destructors of other statics:
//
//   boost::system::error_category const& store_category() noexcept {
//       static auto const& c = declare_category("mcpd.store", [](int ev) -> std::string {
//           switch (static_cast<store_errc>(ev)) { case store_errc::conflict: return "…"; … }
//           return {};
//       });
//       return c;
//   }
//
// declared_category_names() lists every category made so far in this process; the unit test
// core_error_category makes each of mcpd's and checks that no name is taken twice.
#pragma once

#include <boost/system/error_category.hpp>

#include <string>
#include <vector>

namespace mcpd {

using error_messages = std::string (*)(int code);

boost::system::error_category const& declare_category(char const* name, error_messages messages);

std::vector<std::string> declared_category_names();

} // namespace mcpd

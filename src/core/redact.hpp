// core/redact.hpp — one way to show a connection string without its secrets, whatever its form:
// for `mcpd config print`, logs and error messages.
//
//   redact("redis://app:s3cret@h:6379/0")              → "redis://app:***@h:6379/0"
//   redact("redis://h?password=s3cret&db=1")           → "redis://h?password=***&db=1"
//   redact("postgresql://u@h/db?sslpassword=x")        → "postgresql://u@h/db?sslpassword=***"
//   redact("host=h user=u password='a b' dbname=d")    → "host=h user=u password=*** dbname=d"
//
// A URL's password (after "user:") is masked, and so is every query parameter or key=value
// pair whose name says it is a secret (password, pass, pwd, secret, token, key, … in any case,
// also as a suffix: client_secret, access_token, api_key). Anything else is shown as written.
#pragma once

#include <string>
#include <string_view>

namespace mcpd {

std::string redact(std::string_view url_or_dsn);

// Whether a parameter name names a secret (the test redact() applies).
bool is_secret_name(std::string_view name) noexcept;

} // namespace mcpd

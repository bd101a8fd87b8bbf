// core/redact.cpp — see redact.hpp.
#include "core/redact.hpp"

#include "core/ascii.hpp"

#include <array>

namespace mcpd {

bool is_secret_name(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 9> secret_words = {
        "password", "passwd", "pass", "pwd", "secret", "token", "key", "credential", "auth"};
    auto lower = ascii_lower(name);
    std::string_view n = lower;
    for (auto word : secret_words) {
        if (n == word)
            return true;
        // client_secret, access_token, api_key, sslpassword, x-api-key, apikey
        if (n.size() > word.size() && n.ends_with(word)) {
            char before = n[n.size() - word.size() - 1];
            if (before == '_' || before == '-' || before == '.' || word == "password" ||
                word == "key")
                return true;
        }
    }
    return false;
}

namespace {

// The end of a value in a key=value string starting at `at`: a quoted value ends at its closing
// quote (backslash escapes), another at the next blank.
std::size_t value_end(std::string_view s, std::size_t at) {
    if (at < s.size() && s[at] == '\'') {
        for (auto i = at + 1; i < s.size(); ++i) {
            if (s[i] == '\\')
                ++i;
            else if (s[i] == '\'')
                return i + 1;
        }
        return s.size();
    }
    auto end = s.find_first_of(" \t\r\n", at);
    return end == std::string_view::npos ? s.size() : end;
}

// A URL's query from `from` on: "name=value" pairs separated by '&' or ';'.
std::string mask_query(std::string_view s, std::size_t from) {
    std::string out(s.substr(0, from));
    while (from < s.size()) {
        auto end = s.find_first_of("&;", from);
        if (end == std::string_view::npos)
            end = s.size();
        auto pair = s.substr(from, end - from);
        auto eq = pair.find('=');
        if (eq != std::string_view::npos && is_secret_name(pair.substr(0, eq)))
            out.append(pair.substr(0, eq + 1)).append("***");
        else
            out.append(pair);
        if (end < s.size())
            out += s[end];
        from = end + 1;
    }
    return out;
}

// libpq's key=value form: "key = value" pairs separated by blanks, a value quoted with '…' when
// it holds blanks (backslash escapes), blanks allowed around '='.
std::string mask_dsn(std::string_view s) {
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        auto start = i;
        while (i < s.size() && blank(s[i]))
            ++i;
        auto key_start = i;
        while (i < s.size() && !blank(s[i]) && s[i] != '=')
            ++i;
        auto key = s.substr(key_start, i - key_start);
        while (i < s.size() && blank(s[i]))
            ++i;
        if (i >= s.size() || s[i] != '=') { // not a pair: as written
            out.append(s.substr(start, i - start));
            continue;
        }
        ++i;
        while (i < s.size() && blank(s[i]))
            ++i;
        auto value_start = i;
        i = value_end(s, i);
        out.append(s.substr(start, value_start - start));
        out.append(is_secret_name(key) ? std::string_view("***")
                                       : s.substr(value_start, i - value_start));
    }
    return out;
}

} // namespace

std::string redact(std::string_view s) {
    auto scheme_end = s.find("://");
    bool url = scheme_end != std::string_view::npos &&
               s.find_first_of(" \t=") > scheme_end; // "host=h …" is a DSN, "x://…" a URL
    if (!url)
        return mask_dsn(s);
    std::string out(s);
    // user:password@ in the authority.
    auto authority = scheme_end + 3;
    auto authority_end = out.find_first_of("/?#", authority);
    if (authority_end == std::string::npos)
        authority_end = out.size();
    auto at = out.rfind('@', authority_end);
    if (at != std::string::npos && at > authority) {
        auto colon = out.find(':', authority);
        if (colon != std::string::npos && colon < at)
            out.replace(colon + 1, at - colon - 1, "***");
    }
    auto query = out.find('?');
    if (query == std::string::npos)
        return out;
    auto fragment = out.find('#', query);
    auto tail = fragment == std::string::npos ? std::string() : out.substr(fragment);
    auto head = fragment == std::string::npos ? out : out.substr(0, fragment);
    return mask_query(head, query + 1) + tail;
}

} // namespace mcpd

// guard/keys.cpp — key layout, canonical JSON, SHA-256, hash slots and key templates.
#include "mcpd/guard/keys.hpp"

#include <boost/json/serialize.hpp>
#include <boost/system/errc.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace mcpd::guard {

namespace json = boost::json;

namespace {

void append_canonical(std::string& out, json::value const& v) {
    switch (v.kind()) {
    case json::kind::object: {
        auto const& o = v.get_object();
        std::vector<json::key_value_pair const*> members;
        members.reserve(o.size());
        for (auto const& kv : o)
            members.push_back(&kv);
        std::sort(members.begin(), members.end(),
                  [](auto const* a, auto const* b) { return a->key() < b->key(); });
        out += '{';
        bool first = true;
        for (auto const* kv : members) {
            if (!first)
                out += ',';
            first = false;
            out += json::serialize(json::string_view(kv->key()));
            out += ':';
            append_canonical(out, kv->value());
        }
        out += '}';
        return;
    }
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (auto const& e : v.get_array()) {
            if (!first)
                out += ',';
            first = false;
            append_canonical(out, e);
        }
        out += ']';
        return;
    }
    case json::kind::double_: {
        double d = v.get_double();
        // Integral values within int64's range are written as integers, so 1.0 == 1.
        if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.2e18) {
            out += std::to_string(static_cast<std::int64_t>(d));
            return;
        }
        out += json::serialize(v);
        return;
    }
    case json::kind::uint64:
        if (v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
            out += std::to_string(static_cast<std::int64_t>(v.get_uint64()));
            return;
        }
        out += json::serialize(v);
        return;
    default:
        out += json::serialize(v);
        return;
    }
}

std::string_view hash_tag(std::string_view key) {
    auto open = key.find('{');
    if (open == std::string_view::npos)
        return {};
    auto close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1)
        return {};
    return key.substr(open + 1, close - open - 1);
}

error invalid(std::string detail) {
    return error(make_error_code(boost::system::errc::invalid_argument), std::move(detail));
}

} // namespace

std::string canonical_json(json::value const& v) {
    std::string out;
    append_canonical(out, v);
    return out;
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("EVP_Digest(SHA-256) failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(std::size_t{2} * len, '\0');
    for (std::size_t i = 0; i < len; ++i) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xF];
    }
    return out;
}

std::string key_space::tool_cache_key(std::string_view tool, json::object const& arguments,
                                      cache_scope scope, std::string_view session) const {
    // The session is hashed together with the arguments: "s:<len>:<session>" cannot be confused
    // with the arguments' JSON, which starts with '{'.
    std::string material;
    if (scope == cache_scope::session) {
        material = "s:" + std::to_string(session.size()) + ":";
        material += session;
    }
    material += canonical_json(arguments);
    std::string key = prefix_;
    key += "cache:";
    key += tool;
    key += ':';
    key += sha256_hex(material);
    return key;
}

std::string key_space::cache_key(std::string_view key) const {
    return prefix_ + "cache:" + std::string(key);
}

std::string key_space::fill_lock_key(std::string_view cache_key) {
    return std::string(cache_key) + std::string(fill_lock_suffix);
}

std::string key_space::rate_log_key(std::string_view session, std::string_view tool) const {
    return prefix_ + "ratelimit:" + std::string(session) + ":" + std::string(tool);
}

std::string key_space::rate_counter_key(std::string_view session, std::string_view tool) const {
    return prefix_ + "ratecount:" + std::string(session) + ":" + std::string(tool);
}

std::string key_space::lock_key(std::string_view resource) const {
    return prefix_ + "lock:" + std::string(resource);
}

std::string fence_key(std::string_view lock_key) {
    // A tag cannot contain '}': a key with one and no tag of its own has no slot-mate.
    if (!hash_tag(lock_key).empty() || lock_key.find('}') != std::string_view::npos)
        return std::string(lock_key) + ":fence";
    return "{" + std::string(lock_key) + "}:fence";
}

std::uint16_t hash_slot(std::string_view key) {
    auto tag = hash_tag(key);
    auto data = tag.empty() ? key : tag;
    std::uint16_t crc = 0; // CRC16/XMODEM: polynomial 0x1021, initial value 0
    for (char c : data) {
        crc ^= static_cast<std::uint16_t>(static_cast<unsigned char>(c) << 8);
        for (int i = 0; i < 8; ++i)
            crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return static_cast<std::uint16_t>(crc % 16384);
}

result<std::vector<std::string>> key_template_fields(std::string_view tmpl) {
    std::vector<std::string> fields;
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        char c = tmpl[i];
        if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
            ++i;
            continue;
        }
        if (c == '}')
            return invalid("lock key template \"" + std::string(tmpl) +
                           "\": '}' without '{' (write \"}}\" for a literal brace)");
        if (c != '{')
            continue;
        auto close = tmpl.find('}', i + 1);
        if (close == std::string_view::npos)
            return invalid("lock key template \"" + std::string(tmpl) +
                           "\": '{' is not closed (write \"{{\" for a literal brace)");
        auto name = tmpl.substr(i + 1, close - i - 1);
        if (name.empty())
            return invalid("lock key template \"" + std::string(tmpl) +
                           "\": \"{}\" names no argument");
        fields.emplace_back(name);
        i = close;
    }
    return fields;
}

result<std::string> fill_key_template(std::string_view tmpl, json::object const& arguments) {
    auto fields = key_template_fields(tmpl);
    if (!fields)
        return fields.error();
    std::string out;
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        char c = tmpl[i];
        if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
            out += c;
            ++i;
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        auto close = tmpl.find('}', i + 1);
        auto name = tmpl.substr(i + 1, close - i - 1);
        auto const* v = arguments.if_contains(name);
        if (v == nullptr || v->is_null())
            return invalid("the lock key \"" + std::string(tmpl) + "\" needs the argument \"" +
                           std::string(name) + "\"");
        // Braces in values are escaped, so that an argument cannot add a hash tag to the key
        // (and '%' too, so that the escaping stays one-to-one).
        auto text = v->is_string() ? std::string(v->get_string()) : canonical_json(*v);
        for (char ch : text) {
            if (ch == '{')
                out += "%7B";
            else if (ch == '}')
                out += "%7D";
            else if (ch == '%')
                out += "%25";
            else
                out += ch;
        }
        i = close;
    }
    return out;
}

} // namespace mcpd::guard

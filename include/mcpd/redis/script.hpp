// redis/script.hpp — a Lua script sent by its SHA1 (EVALSHA), with its body at hand for the
// fallback to EVAL when the server does not know it (after a restart or a failover).
#pragma once

#include <string>
#include <string_view>

namespace mcpd::redis {

class script {
public:
    explicit script(std::string body);

    [[nodiscard]] std::string_view body() const noexcept { return body_; }
    [[nodiscard]] std::string_view sha1() const noexcept { return sha1_; } // 40 lowercase hex

private:
    std::string body_;
    std::string sha1_;
};

// The SHA1 of `data` as 40 lowercase hex digits (what SCRIPT LOAD returns).
std::string sha1_hex(std::string_view data);

} // namespace mcpd::redis

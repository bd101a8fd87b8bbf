// core/log.cpp — the spdlog sink behind mcpd::log: one stderr logger, text or JSON lines.
#include "core/log.hpp"

#include "core/random.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <charconv>
#include <unistd.h>

namespace mcpd::log {
namespace {

std::atomic<level> g_level{level::info};

spdlog::level::level_enum to_spdlog(level l) {
    switch (l) {
    case level::trace:
        return spdlog::level::trace;
    case level::debug:
        return spdlog::level::debug;
    case level::info:
        return spdlog::level::info;
    case level::warn:
        return spdlog::level::warn;
    case level::error:
        return spdlog::level::err;
    case level::off:
        return spdlog::level::off;
    }
    return spdlog::level::info;
}

constexpr char const* text_pattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";
// JSON lines; write() hands over the rest of the object's fields ("msg", "req"), escaped.
constexpr char const* json_pattern = R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})";

std::atomic<bool> g_json{false};

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> instance = [] {
        auto l = spdlog::stderr_color_mt("mcpd");
        l->set_level(spdlog::level::trace); // filtering happens in get_level()
        bool json = ::isatty(STDERR_FILENO) == 0;
        g_json = json;
        l->set_pattern(json ? json_pattern : text_pattern, spdlog::pattern_time_type::utc);
        return l;
    }();
    return *instance;
}

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20)
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            else
                out += c;
        }
    }
    return out;
}

} // namespace

void set_level(level l) {
    g_level = l;
}
level get_level() noexcept {
    return g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view text, level& out) {
    if (text == "trace")
        out = level::trace;
    else if (text == "debug")
        out = level::debug;
    else if (text == "info")
        out = level::info;
    else if (text == "warn" || text == "warning")
        out = level::warn;
    else if (text == "error")
        out = level::error;
    else if (text == "off")
        out = level::off;
    else
        return false;
    return true;
}

void set_json(bool json) {
    logger().set_pattern(json ? json_pattern : text_pattern, spdlog::pattern_time_type::utc);
    g_json = json;
}

bool is_json() {
    logger(); // the default (TTY or not) is decided on first use
    return g_json.load(std::memory_order_relaxed);
}

void write(level l, std::string_view message, std::string_view request_id) {
    auto& lg = logger();
    if (g_json) {
        std::string fields = "\"msg\":\"" + json_escape(message) + '"';
        if (!request_id.empty())
            fields += ",\"req\":\"" + json_escape(request_id) + '"';
        lg.log(to_spdlog(l), "{}", fields);
    } else if (!request_id.empty()) {
        lg.log(to_spdlog(l), "req={} {}", request_id, message);
    } else {
        lg.log(to_spdlog(l), "{}", message);
    }
}

std::string what_of(std::exception_ptr const& e) {
    try {
        std::rethrow_exception(e);
    } catch (std::exception const& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

std::string new_request_id() {
    static std::string const prefix = random_hex(3);
    static std::atomic<std::uint64_t> next{0};
    // By hand, not fmt::format: one of these is made for every HTTP request.
    std::array<char, 24> digits{};
    auto n = next.fetch_add(1, std::memory_order_relaxed) + 1;
    auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n, 16).ptr;
    std::string id;
    id.reserve(prefix.size() + 1 + static_cast<std::size_t>(end - digits.data()));
    id.append(prefix).append(1, '-').append(digits.data(), end);
    return id;
}

} // namespace mcpd::log

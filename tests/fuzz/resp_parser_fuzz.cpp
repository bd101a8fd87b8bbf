// tests/fuzz/resp_parser_fuzz.cpp — libFuzzer target for the RESP parser (src/redis/resp.hpp).
//
// Input layout: byte 0 picks how the rest is fed and which limits apply; bytes 1.. are the stream
// the "server" sent. The stream is parsed twice:
//   - whole: offered at once, the way a large read delivers it;
//   - in chunks whose sizes come from byte 0 (fixed, or pseudo-random from a seed in byte 0), the
//     way small reads deliver it: the harness keeps unconsumed bytes and offers them again with
//     the next chunk, as the connection does.
// Both must give the same values (compared by to_debug_string, which also compares NaNs), end in
// the same status and the same error message. Also checked: consumed never exceeds what was
// offered, no attribute is returned as a top-level value, an error persists until reset(), and a
// command built from the input survives encode_command + parse unchanged. Any mismatch aborts.
//
// Built by run_resp_parser_fuzz.sh with clang++ -fsanitize=fuzzer,address,undefined, or without
// libFuzzer together with fuzz_driver.cpp (see README.md).
#include "fuzz_check.hpp"
#include "mcpd/redis/resp.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mcpd::redis::parse_status;
using mcpd::redis::parser_limits;
using mcpd::redis::resp_parser;
using mcpd::redis::resp_type;

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

struct outcome {
    std::vector<std::string> values;
    parse_status last = parse_status::need_more;
    std::string error;
};

// Tiny deterministic generator for chunk sizes (xorshift32).
struct chunker {
    std::uint32_t state;
    std::size_t max_chunk;
    bool random;

    std::size_t next() {
        if (!random)
            return max_chunk;
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return 1 + state % max_chunk;
    }
};

outcome run(std::string_view stream, parser_limits const& limits, chunker* chunks) {
    resp_parser p(limits);
    outcome out;
    std::string buffer;
    std::size_t offered = 0;
    while (offered < stream.size()) {
        std::size_t n = chunks != nullptr ? chunks->next() : stream.size();
        if (n > stream.size() - offered)
            n = stream.size() - offered;
        buffer.append(stream.substr(offered, n));
        offered += n;
        for (;;) {
            std::size_t consumed = 0;
            out.last = p.parse(buffer, consumed);
            check(consumed <= buffer.size(), "consumed more than offered");
            buffer.erase(0, consumed);
            if (out.last == parse_status::done) {
                mcpd::redis::value v = p.take();
                check(v.type != resp_type::attribute, "attribute returned as a top-level value");
                out.values.push_back(mcpd::redis::to_debug_string(v));
                continue;
            }
            if (out.last == parse_status::error) {
                out.error = std::string(p.error_message());
                check(!out.error.empty(), "error without a message");
                std::size_t again = 1;
                check(p.parse("+OK\r\n", again) == parse_status::error && again == 0,
                      "error did not persist");
                p.reset();
                check(p.parse("+OK\r\n", again) == parse_status::done && again == 5,
                      "reset did not recover");
                return out;
            }
            break; // need_more
        }
    }
    return out;
}

// Splits the stream into up to 8 arguments, encodes them as a command and parses it back.
void check_encode_round_trip(std::string_view stream) {
    std::vector<std::string> args;
    std::size_t start = 0;
    for (std::size_t i = 0; i < stream.size() && args.size() < 7; ++i) {
        if (stream[i] == ' ') {
            args.emplace_back(stream.substr(start, i - start));
            start = i + 1;
        }
    }
    args.emplace_back(stream.substr(start));
    std::string wire;
    mcpd::redis::encode_command(wire, args);
    resp_parser p;
    std::size_t consumed = 0;
    check(p.parse(wire, consumed) == parse_status::done, "encoded command did not parse");
    check(consumed == wire.size(), "encoded command not consumed whole");
    mcpd::redis::value v = p.take();
    check(v.type == resp_type::array && v.elements.size() == args.size(), "wrong argument count");
    for (std::size_t i = 0; i < args.size(); ++i)
        check(v.elements[i].type == resp_type::bulk_string && v.elements[i].str == args[i],
              "argument changed in the round trip");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0)
        return 0;
    std::uint8_t const mode = data[0];
    std::string_view const stream(reinterpret_cast<char const*>(data + 1), size - 1);

    // Bit 7: tight limits, so the limit checks are reached with small inputs.
    parser_limits limits;
    if ((mode & 0x80) != 0) {
        limits.max_bulk_length = 64;
        limits.max_aggregate_size = 16;
        limits.max_depth = 6;
        limits.max_line_length = 24;
    }
    // Bits 0-2: largest chunk (1 to 128 bytes). Bit 3: pseudo-random sizes up to that, seeded
    // from bits 4-6 and the stream length; otherwise every chunk has the largest size.
    chunker chunks{0x9e3779b9u ^ (static_cast<std::uint32_t>(mode >> 4) << 8) ^
                       static_cast<std::uint32_t>(stream.size()),
                   std::size_t{1} << (mode & 7), (mode & 8) != 0};

    outcome const whole = run(stream, limits, nullptr);
    outcome const split = run(stream, limits, &chunks);
    check(whole.values == split.values, "chunked parse gave different values");
    check(whole.last == split.last, "chunked parse ended differently");
    check(whole.error == split.error, "chunked parse failed differently");

    if (stream.size() <= 4096)
        check_encode_round_trip(stream);
    return 0;
}

// redis/resp.hpp — RESP2/RESP3 values, the incremental reply parser, and command encoding.
//
// Sans-I/O: the parser is fed bytes and says how many it consumed and whether a complete
// top-level value is ready; it never reads a socket. It parses UNTRUSTED input: any byte
// stream must end in a value or an error, never a crash, an unbounded allocation or a hang
// (tests/fuzz/resp_parser_fuzz.cpp checks this). Limits bound bulk length, element counts and
// nesting depth; a declared count never pre-allocates more than a small amount.
//
// Data structure: a reply is a tree of `value`. Aggregates keep their children in `elements`;
// maps and attributes store them flat (key, value, key, value…). RESP2 null bulk ($-1) and null
// array (*-1) both become resp_type::null.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::redis {

enum class resp_type : std::uint8_t {
    simple_string,   // +
    simple_error,    // -
    integer,         // :
    bulk_string,     // $
    array,           // *
    null,            // _  (and RESP2 $-1 / *-1)
    double_type,     // ,
    boolean,         // #
    blob_error,      // !
    verbatim_string, // =  (str holds the payload after "xxx:", verbatim_format the "xxx")
    big_number,      // (  (str holds the digits)
    map,             // %
    set,             // ~
    attribute,       // |  (never a top-level value: attached to the next value's `attributes`)
    push,            // >
};

std::string_view to_string(resp_type t) noexcept;

struct value {
    resp_type type = resp_type::null;
    std::string str;               // string kinds, error kinds, big_number digits, double as sent
    std::int64_t integer = 0;      // integer; boolean as 0/1
    double number = 0;             // double_type (inf, -inf and nan included)
    std::string verbatim_format;   // verbatim_string only: "txt", "mkd", …
    std::vector<value> elements;   // array, set, push; map flat (k, v, k, v…)
    std::vector<value> attributes; // RESP3 attribute that preceded this value, flat (k, v…)

    [[nodiscard]] bool is_error() const noexcept {
        return type == resp_type::simple_error || type == resp_type::blob_error;
    }
    [[nodiscard]] bool is_null() const noexcept { return type == resp_type::null; }
    [[nodiscard]] bool is_aggregate() const noexcept {
        return type == resp_type::array || type == resp_type::map || type == resp_type::set ||
               type == resp_type::push || type == resp_type::attribute;
    }
    // Text of string-like kinds (simple, bulk, verbatim, big number, errors); nullopt otherwise.
    [[nodiscard]] std::optional<std::string_view> as_string() const noexcept;
    // integer; or a simple/bulk string holding a base-10 int64 (RESP2 replies to INCR etc. are
    // integers already, but some commands send numbers as bulk strings).
    [[nodiscard]] std::optional<std::int64_t> as_integer() const noexcept;

    friend bool operator==(value const&, value const&) = default;
};

// Human-readable rendering for tests and logs: `"bulk"`, `(integer) 3`, `[1, 2]`, `{k: v}`,
// `(error) ERR …`, `(nil)`.
std::string to_debug_string(value const& v);

struct parser_limits {
    std::size_t max_bulk_length = std::size_t{512} * 1024 * 1024; // Redis's own proto-max-bulk-len
    std::size_t max_aggregate_size = 1u << 26;            // elements declared in one aggregate
    std::size_t max_depth = 128;                          // nesting of aggregates
    std::size_t max_line_length = std::size_t{64} * 1024; // simple strings, errors, numbers
};

enum class parse_status {
    need_more, // every byte offered that belongs to a complete element was consumed; feed more
    done,      // a complete top-level value is ready: take() it
    error,     // not RESP; the stream cannot be resynchronised (drop the connection)
};

// Incremental RESP2/RESP3 parser.
//
// Usage: `auto st = p.parse(bytes, consumed);` consumes a prefix of `bytes` (never past the end of
// the first complete top-level value); on `done` call `take()` and continue with the rest of the
// bytes. Work is proportional to the bytes consumed: an element is consumed only when complete,
// and partial aggregates live on an internal stack, so a value arriving in many small reads is
// not re-parsed from its start.
class resp_parser {
public:
    explicit resp_parser(parser_limits limits = {});

    parse_status parse(std::string_view bytes, std::size_t& consumed);
    value take(); // precondition: the last parse() returned done
    [[nodiscard]] std::string_view error_message() const noexcept { return error_; }
    void reset(); // forget any partial value (after a reconnect)

private:
    struct frame {
        value v;                       // the aggregate being filled (children in v.elements)
        std::size_t remaining;         // children still expected (a map counts keys and values)
        std::vector<value> attributes; // attribute k/v waiting for the next child of this frame
    };
    // Attaches a complete value to the frame on top (or makes it the reply); true when a
    // top-level value is done. `v` may be ready_ itself.
    bool push_complete(value&& v);
    parse_status fail(std::string message);

    parser_limits limits_;
    std::vector<frame> stack_;              // partial aggregates, outermost first
    std::vector<value> pending_attributes_; // top level: attribute k/v waiting for the next value
    value ready_;            // scalars are built here; then the top-level value take() returns
    bool has_ready_ = false; // ready_ holds a complete top-level value not yet taken
    std::string error_;      // non-empty once parse() failed, until reset()
};

// Appends the RESP encoding of one command (an array of bulk strings) to `out`.
void encode_command(std::string& out, std::span<std::string const> args);

} // namespace mcpd::redis

// client/stream_state.cpp — SSE stream bookkeeping and the reconnect decision. See
// stream_state.hpp.
#include "client/stream_state.hpp"

#include "core/log.hpp"
#include "mcpd/client/error.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <cmath>

namespace mcpd::client {

namespace json = boost::json;

stream_state::stream_state(std::vector<json::value> awaited, reconnect_policy policy,
                           http::sse_parser_limits limits)
    : awaited_(std::move(awaited))
    , post_stream_(!awaited_.empty())
    , policy_(policy)
    , limits_(limits)
    , parser_(limits) {}

result<void> stream_state::feed(std::string_view bytes, std::vector<json::object>& out) {
    std::vector<http::sse_message> events;
    bool ok = parser_.feed(bytes, events);
    // An id seen counts even before its event is dispatched: a priming event has no data. A new
    // id is progress: the stream works again.
    if (!parser_.last_event_id().empty() && parser_.last_event_id() != last_event_id_) {
        last_event_id_ = parser_.last_event_id();
        attempts_ = 0;
    }
    if (parser_.retry_ms())
        retry_ms_ = parser_.retry_ms();
    for (auto& ev : events) {
        attempts_ = 0;
        if (ev.type != "message" || ev.data.empty())
            continue; // MCP sends its messages as the default event type; a priming event
                      // ("data:" with nothing) only carries an id
        boost::system::error_code ec;
        auto v = json::parse(ev.data, ec);
        auto add = [&](json::value& m) {
            auto* o = m.if_object();
            if (o == nullptr) {
                ++skipped_;
                return;
            }
            // An answer (id, no method) to one of the POST's requests.
            if (auto const* id = o->if_contains("id"); id != nullptr && !o->contains("method"))
                forget(*id);
            out.push_back(std::move(*o));
        };
        if (ec) {
            ++skipped_;
            log::warn("mcp client: SSE event data is not JSON ({}); skipped", ec.message());
            continue;
        }
        if (auto* arr = v.if_array()) {
            for (auto& m : *arr)
                add(m);
        } else {
            add(v);
        }
    }
    if (!ok)
        return error{errc::invalid_response, parser_.error()};
    return {};
}

void stream_state::forget(json::value const& id) {
    std::erase(awaited_, id);
}

stream_state::decision stream_state::ended(error const* cause) {
    if (all_answered())
        return {};
    static error const clean{errc::connection_lost, "the server ended the SSE stream"};
    return next(cause != nullptr ? *cause : clean);
}

stream_state::decision stream_state::reconnect_failed(error const& cause) {
    return next(cause);
}

void stream_state::resumed() {
    parser_ = http::sse_parser(limits_);
}

stream_state::decision stream_state::next(error const& cause) {
    decision d;
    if (post_stream_ && last_event_id_.empty()) {
        d.what = decision::kind::give_up;
        d.why = error{errc::connection_lost,
                      "the answer's SSE stream ended before the answer, without an event id to "
                      "resume from (" +
                          cause.message() + ")"};
        return d;
    }
    if (attempts_ >= policy_.max_attempts) {
        d.what = decision::kind::give_up;
        d.why = error{errc::connection_lost, "the SSE stream could not be resumed after " +
                                                 std::to_string(attempts_) +
                                                 " attempts (last: " + cause.message() + ")"};
        return d;
    }
    d.what = decision::kind::reconnect;
    d.delay = delay_for(attempts_);
    d.last_event_id = last_event_id_;
    ++attempts_;
    return d;
}

duration stream_state::delay_for(int attempt) const {
    double base = retry_ms_ ? static_cast<double>(*retry_ms_)
                            : static_cast<double>(policy_.initial_delay.count());
    double ms = base * std::pow(policy_.growth, attempt);
    double cap = static_cast<double>(policy_.max_delay.count());
    return duration(static_cast<duration::rep>(std::min(ms, cap)));
}

} // namespace mcpd::client

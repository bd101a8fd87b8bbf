// server/outgoing_request.hpp — a request the server sent to a client (sampling, elicitation,
// roots), waiting for the client's response.
#pragma once

#include "core/wakeup.hpp"
#include "mcpd/server/session.hpp"

#include <boost/json/object.hpp>

#include <optional>

namespace mcpd::server {

struct outgoing_request {
    explicit outgoing_request(boost::asio::any_io_executor ex)
        : done(std::move(ex)) {}
    wakeup done;
    std::optional<boost::json::object> reply; // the response message (result or error)
};

} // namespace mcpd::server

// client/transports.hpp — the two transports (transport.hpp) on mcpd's HTTP client.
#pragma once

#include "http/client.hpp"
#include "mcpd/client/transport.hpp"

#include <memory>

namespace mcpd::client {

std::shared_ptr<transport> make_streamable_http_transport(boost::asio::any_io_executor ex,
                                                          std::shared_ptr<http::client> http,
                                                          http::url endpoint,
                                                          transport_options opts);
std::shared_ptr<transport> make_sse_transport(boost::asio::any_io_executor ex,
                                              std::shared_ptr<http::client> http, http::url sse_url,
                                              transport_options opts);

} // namespace mcpd::client

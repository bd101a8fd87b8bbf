// core/ — the bottom layer of mcpd: errors, randomness, logging and durations that every
// other layer uses. It includes no other mcpd layer and parses no untrusted input except
// duration strings from configuration (parse_duration rejects anything it does not know).
//
// Separate compilation: Asio, Asio SSL, JSON and URL are compiled once, in asio_impl.cpp,
// json_impl.cpp and url_impl.cpp; every target links mcpd_build_settings, which defines the
// macros that tell the headers not to compile themselves again.
#pragma once

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/random.hpp"

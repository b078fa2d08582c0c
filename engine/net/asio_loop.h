// The Asio side of EventLoop, for the files of engine/net that run on it
// (the HttpServer). Private to engine/net: nothing else includes it.
#pragma once

#include "net/event_loop.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>

namespace sluice::net {

struct EventLoop::Impl {
    boost::asio::io_context io{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{
        boost::asio::make_work_guard(io)};
};

}  // namespace sluice::net

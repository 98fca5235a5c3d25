// uws: the uWebSockets reference server for wsbench compare (bench/uws/README.md).
//
//	uws --addr 127.0.0.1:8080 [--reuseport]
//
// Our own code on uWebSockets' public API (App, ws<>, App::publish), built
// by bench/uws/build.sh against a uWebSockets and a uSockets checkout the
// user points at; neither is part of this repository. It serves the same
// /echo and /chat as the node and the Go peers (bench/peers/README.md,
// "Routes"): /echo sends every text or binary message back with its
// opcode; /chat greets "You are connected! There are N users here." (N
// counts the newcomer), names users user0, user1, ... from one counter,
// and sends a text T from userK to everyone, sender included, as
// "[userK]: T" through App::publish; binary is ignored. It prints
// "listening on ADDR pid PID" once it accepts and exits 0 on SIGINT or
// SIGTERM. One thread: uWebSockets' event loop, as the node with --loops 1.
#include "App.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

namespace {

// The node's defaults (bench/peers/internal/route): 4 MiB messages, a
// 4 MiB slow-consumer budget, 75 s without a frame closes.
constexpr unsigned maxMessage = 4u << 20;
constexpr unsigned maxOutbound = 4u << 20;
constexpr unsigned short idleSeconds = 75;

struct Echo {};
struct User {
    unsigned long long id;
};

uWS::App *app;
unsigned long long nextUser;
long users;

// behavior is a route's settings: the node's limits, no compression, no
// server pings.
template <typename T>
uWS::App::WebSocketBehavior<T> behavior() {
    uWS::App::WebSocketBehavior<T> b;
    b.compression = uWS::DISABLED;
    b.maxPayloadLength = maxMessage;
    b.idleTimeout = idleSeconds;
    b.maxBackpressure = maxOutbound;
    b.closeOnBackpressureLimit = true;
    b.sendPingsAutomatically = false;
    return b;
}

void usage() {
    std::fprintf(stderr, "usage: uws [--addr HOST:PORT] [--reuseport]\n");
    std::exit(2);
}

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard limit, as the peers do.
void raiseNoFile() {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

} // namespace

int main(int argc, char **argv) {
    std::string addr = "127.0.0.1:8080";
    bool reusePort = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if ((a == "--addr" || a == "-addr") && i + 1 < argc) {
            addr = argv[++i];
        } else if (a.rfind("--addr=", 0) == 0) {
            addr = a.substr(7);
        } else if (a == "--reuseport" || a == "-reuseport") {
            reusePort = true;
        } else {
            usage();
        }
    }
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) {
        usage();
    }
    std::string host = addr.substr(0, colon);
    int port = std::atoi(addr.c_str() + colon + 1);
    raiseNoFile();
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, [](int) { _exit(0); });
    std::signal(SIGINT, [](int) { _exit(0); });

    uWS::App a;
    app = &a;
    auto echo = behavior<Echo>();
    echo.message = [](auto *ws, std::string_view msg, uWS::OpCode op) { ws->send(msg, op); };
    auto chat = behavior<User>();
    chat.open = [](auto *ws) {
        ws->getUserData()->id = nextUser++;
        users++;
        std::string g = "You are connected! There are " + std::to_string(users) + " users here.";
        ws->send(g, uWS::OpCode::TEXT);
        ws->subscribe("chat"); // after the greeting: no broadcast comes first
    };
    chat.message = [](auto *ws, std::string_view msg, uWS::OpCode op) {
        if (op != uWS::OpCode::TEXT) {
            return;
        }
        char prefix[32];
        int n = std::snprintf(prefix, sizeof prefix, "[user%llu]: ", ws->getUserData()->id);
        std::string line;
        line.reserve((size_t) n + msg.size());
        line.append(prefix, (size_t) n).append(msg);
        app->publish("chat", line, uWS::OpCode::TEXT); // everyone, sender included
    };
    chat.close = [](auto *, int, std::string_view) { users--; };
    int opts = reusePort ? LIBUS_LISTEN_DEFAULT : LIBUS_LISTEN_EXCLUSIVE_PORT;
    a.ws<Echo>("/echo", std::move(echo)).ws<User>("/chat", std::move(chat)).listen(host, port, opts, [&](us_listen_socket_t *ls) {
        if (!ls) {
            std::fprintf(stderr, "uws: cannot listen on %s\n", addr.c_str());
            std::exit(1);
        }
        int p = us_socket_local_port(0, (us_socket_t *) ls);
        std::printf("listening on %s:%d pid %d\n", host.c_str(), p, (int) getpid());
        std::fflush(stdout);
    });
    a.run();
    return 0;
}

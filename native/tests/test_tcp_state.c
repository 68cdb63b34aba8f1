/* ncs_tcp_state against real loopback connections: established, closed by the peer, gone; and
   ncs_tcp_send, whose probe tells a peer that closed from one that only shut down its sending side. */
#define _GNU_SOURCE
#include "check.h"

#include <ncs/ncs_net.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_of(int fd)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    CHECK(getsockname(fd, (struct sockaddr *)&address, &length) == 0);
    return address.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&address)->sin_port)
                                        : ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
}

/* A listening socket on the loopback address of `family` (AF_INET, or AF_INET6 dual-stack). */
static int listener(int family)
{
    int fd = socket(family, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    if (family == AF_INET) {
        struct sockaddr_in address = {.sin_family = AF_INET,
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK(bind(fd, (struct sockaddr *)&address, sizeof address) == 0);
    } else {
        int off = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        struct sockaddr_in6 address = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
        CHECK(bind(fd, (struct sockaddr *)&address, sizeof address) == 0);
    }
    CHECK(listen(fd, 4) == 0);
    return fd;
}

static int connect_v4(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&address, sizeof address) == 0);
    return fd;
}

/* The server's view of an IPv4 connection from `client`: states as ncs_tcp_state reports them. */
static void check_connection(int server_family)
{
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    int server = listener(server_family);
    int port = port_of(server);
    int client = connect_v4(port);
    int accepted = accept(server, NULL, NULL);
    CHECK(accepted >= 0);
    int client_port = port_of(client);

    CHECK(ncs_tcp_state(4, loopback, port, loopback, client_port) == 1); /* ESTABLISHED */
    CHECK(ncs_tcp_state(4, loopback, port, loopback, client_port == 65535 ? 1 : client_port + 1) ==
          0);
    close(client);
    usleep(20000);
    CHECK(ncs_tcp_state(4, loopback, port, loopback, client_port) == 8); /* CLOSE_WAIT */
    close(accepted);
    usleep(20000);
    int after = ncs_tcp_state(4, loopback, port, loopback, client_port);
    CHECK(after == 0 || after == 9 /* LAST_ACK */ || after == 7 /* CLOSE */);
    close(server);
}

/* After the client's FIN both look the same (CLOSE_WAIT); data sent resets a closed client's connection
   and reaches a half-closed one. */
static void check_probe(int server_family)
{
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    static const char probe[] = "HTTP/1.1 103 Early Hints\r\n\r\n";
    int server = listener(server_family);
    int port = port_of(server);
    int closing = connect_v4(port), half_closing = connect_v4(port);
    int to_closing = accept(server, NULL, NULL), to_half_closing = accept(server, NULL, NULL);
    CHECK(to_closing >= 0 && to_half_closing >= 0);
    int closing_port = port_of(closing), half_port = port_of(half_closing);
    close(closing);
    CHECK(shutdown(half_closing, SHUT_WR) == 0);
    usleep(20000);
    CHECK(ncs_tcp_state(4, loopback, port, loopback, closing_port) == 8);
    CHECK(ncs_tcp_state(4, loopback, port, loopback, half_port) == 8);

    long n = (long)sizeof probe - 1;
    CHECK(ncs_tcp_send(4, loopback, port, loopback, closing_port, probe, sizeof probe - 1) == n);
    CHECK(ncs_tcp_send(4, loopback, port, loopback, half_port, probe, sizeof probe - 1) == n);
    usleep(20000);
    CHECK(ncs_tcp_state(4, loopback, port, loopback, closing_port) == 0); /* reset: gone */
    CHECK(ncs_tcp_state(4, loopback, port, loopback, half_port) == 8);    /* still reading */
    char got[sizeof probe] = {0};
    CHECK(recv(half_closing, got, sizeof probe - 1, MSG_WAITALL) == n && strcmp(got, probe) == 0);
    CHECK(ncs_tcp_send(4, loopback, port, loopback, closing_port, probe, 1) == -NCS_E_NOT_FOUND);
    CHECK(ncs_tcp_send(4, loopback, port, loopback, half_port, NULL, 1) == -NCS_E_INVALID_ARGUMENT);
    close(half_closing);
    close(to_closing);
    close(to_half_closing);
    close(server);
}

static void check_ipv6(void)
{
    int server = listener(AF_INET6);
    int port = port_of(server);
    int client = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 address = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_loopback};
    if (connect(client, (struct sockaddr *)&address, sizeof address) != 0) {
        printf("no IPv6 loopback here: IPv6 case skipped\n");
        close(client);
        close(server);
        return;
    }
    int accepted = accept(server, NULL, NULL);
    uint8_t one[16] = {0};
    one[15] = 1;
    CHECK(ncs_tcp_state(6, one, port, one, port_of(client)) == 1);
    close(client);
    close(accepted);
    close(server);
}

int main(void)
{
    static const uint8_t any[16] = {0};
    CHECK(ncs_tcp_state(5, any, 1, any, 1) == -NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_tcp_state(4, NULL, 1, any, 1) == -NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_tcp_state(4, any, 70000, any, 1) == -NCS_E_INVALID_ARGUMENT);
    check_connection(AF_INET);
    check_connection(AF_INET6); /* an IPv4 client of a dual-stack server, as Java's servers are */
    check_ipv6();
    check_probe(AF_INET);
    check_probe(AF_INET6);
    printf("test_tcp_state: ok\n");
    return 0;
}

/*
 * tcp_state.c -- the kernel's state of one TCP connection, for noticing clients that hung up.
 *
 * A blocking HTTP server learns that a client closed its connection only when it next reads or
 * writes; a request waiting for its kernel does neither. The host asks here instead. One exact
 * lookup through NETLINK_SOCK_DIAG (the interface `ss` uses) costs microseconds, where reading
 * /proc/net/tcp walks the whole established-connection hash table (milliseconds, on every read).
 *
 * A connection in CLOSE_WAIT got the peer's FIN: a peer that closed its socket and one that only
 * shut down its sending side look the same until data is sent (a closed socket answers it with a
 * reset). ncs_tcp_send sends such a probe on the process's own descriptor of the connection, found
 * by the socket's inode.
 */
#include "ncs/ncs_net.h"

#include <dirent.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* One exact NETLINK_SOCK_DIAG lookup: the connection's state (0 when there is none) and its
   socket's inode, or a negated ncs_status. */
static int lookup(int ip_version, const uint8_t *local_address, int local_port,
                  const uint8_t *remote_address, int remote_port, unsigned long *inode)
{
    if ((ip_version != 4 && ip_version != 6) || local_address == NULL || remote_address == NULL ||
        local_port < 0 || local_port > 65535 || remote_port < 0 || remote_port > 65535)
        return -NCS_E_INVALID_ARGUMENT;
    size_t length = ip_version == 4 ? 4 : 16;

    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST; /* one exact socket, not a dump */
    message.request.sdiag_family = ip_version == 4 ? AF_INET : AF_INET6;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = ~0U;
    message.request.id.idiag_sport = htons((uint16_t)local_port);
    message.request.id.idiag_dport = htons((uint16_t)remote_port);
    memcpy(message.request.id.idiag_src, local_address, length);
    memcpy(message.request.id.idiag_dst, remote_address, length);
    message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -NCS_E_UNSUPPORTED;
    struct timeval timeout = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int state = -NCS_E_INTERNAL;
    *inode = 0;
    if (sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) ==
        (ssize_t)sizeof message) {
        long buffer[1024]; /* aligned for nlmsghdr */
        ssize_t received = recv(fd, buffer, sizeof buffer, 0);
        if (received >= (ssize_t)sizeof(struct nlmsghdr)) {
            struct nlmsghdr *reply = (struct nlmsghdr *)buffer;
            if (reply->nlmsg_type == NLMSG_ERROR &&
                reply->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
                int error = -((struct nlmsgerr *)NLMSG_DATA(reply))->error;
                state = error == ENOENT ? 0
                                        : -NCS_E_UNSUPPORTED; /* 0: no such connection (any more) */
            } else if (reply->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
                       reply->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                struct inet_diag_msg *found = NLMSG_DATA(reply);
                state = found->idiag_state;
                *inode = found->idiag_inode;
                if (state ==
                    10) /* TCP_LISTEN: the lookup fell back to the listener, so no connection */
                    state = 0;
            }
        }
    }
    close(fd);
    return state;
}

int ncs_tcp_state(int ip_version, const uint8_t *local_address, int local_port,
                  const uint8_t *remote_address, int remote_port)
{
    unsigned long inode;
    return lookup(ip_version, local_address, local_port, remote_address, remote_port, &inode);
}

/* This process's descriptor of the socket with `inode`, or -1. */
static int descriptor_of(unsigned long inode)
{
    DIR *fds = opendir("/proc/self/fd");
    if (fds == NULL)
        return -1;
    char wanted[64];
    snprintf(wanted, sizeof wanted, "socket:[%lu]", inode);
    int found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir(fds)) != NULL) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, wanted) == 0)
                found = atoi(entry->d_name);
        }
    }
    closedir(fds);
    return found;
}

long ncs_tcp_send(int ip_version, const uint8_t *local_address, int local_port,
                  const uint8_t *remote_address, int remote_port, const void *bytes, size_t n)
{
    if (bytes == NULL && n > 0)
        return -NCS_E_INVALID_ARGUMENT;
    unsigned long inode;
    int state = lookup(ip_version, local_address, local_port, remote_address, remote_port, &inode);
    if (state < 0)
        return state;
    if (state == 0 || inode == 0)
        return -NCS_E_NOT_FOUND;
    int fd = descriptor_of(inode);
    struct stat st;
    /* the descriptor may have been closed and reused since it was listed: it must still be that socket */
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != inode)
        return -NCS_E_NOT_FOUND;
    ssize_t sent = send(fd, bytes, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent >= 0)
        return (long)sent;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -NCS_E_NOT_FOUND;
}

/*
 * ncs_net.h -- socket lookups libncs offers the service's HTTP layer, beside the compute API of
 * ncs.h: whether a client's TCP connection is still there, and a write on the process's own
 * socket of it. Exported by libncs like ncs.h (same NCS_API, same versioning policy, see ncs.h);
 * nothing here is for kernels. Linux only (NETLINK_SOCK_DIAG).
 */
#ifndef NCS_NCS_NET_H
#define NCS_NCS_NET_H

#include "ncs.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The kernel's state of the TCP connection between local_address:local_port and
 * remote_address:remote_port (network byte order addresses: 4 bytes for ip_version 4, 16 for 6;
 * ports as numbers), found by one exact NETLINK_SOCK_DIAG lookup. Returns the Linux TCP state
 * (1 = ESTABLISHED, 8 = CLOSE_WAIT: the peer closed its side, ...), 0 when there is no such
 * connection (never was, or reset and gone), or a negated ncs_status: -NCS_E_INVALID_ARGUMENT
 * for bad arguments, -NCS_E_UNSUPPORTED when the kernel offers no such lookup. An IPv4 client of a
 * dual-stack (IPv6) server socket is found with ip_version 4 and its IPv4 addresses.
 */
NCS_API int ncs_tcp_state(int ip_version, const uint8_t *local_address, int local_port,
                          const uint8_t *remote_address, int remote_port);

/**
 * Sends n bytes on this process's own socket of the TCP connection between local_address:local_port
 * and remote_address:remote_port (addresses as for ncs_tcp_state), without blocking and without
 * SIGPIPE. The socket is found by the connection's inode (NETLINK_SOCK_DIAG, then /proc/self/fd),
 * and checked to still be that socket just before the send. It writes under whatever the owner of
 * the socket buffers or writes: the caller must know that nothing else writes to it meanwhile, and
 * that it stays open. Returns the number of bytes sent (0 when the socket's send buffer is full),
 * -NCS_E_NOT_FOUND when there is no such connection (any more), no descriptor of it in this process,
 * or the send failed (the peer reset it), -NCS_E_INVALID_ARGUMENT for bad arguments,
 * -NCS_E_UNSUPPORTED when the kernel offers no lookup. `bytes` is borrowed for the call.
 */
NCS_API long ncs_tcp_send(int ip_version, const uint8_t *local_address, int local_port,
                          const uint8_t *remote_address, int remote_port, const void *bytes,
                          size_t n);

#ifdef __cplusplus
}
#endif

#endif /* NCS_NCS_NET_H */

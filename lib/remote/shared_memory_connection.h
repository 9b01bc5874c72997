// A connection between two processes on one machine whose bytes go through two rings in
// memory they share, not through the kernel: over a Unix socket, a client makes the memory
// and offers it, and the server takes it. A call then costs a copy into the ring and a copy out on each side;
// the socket stays, to wake a side that sleeps and to tell when the other has gone.
// Internal to the Unix transport (unix_transport.cc); callers see only transport.h.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "remote/transport.h"

namespace genie::remote::detail {

// What a client sends first, with the memory's descriptor (SCM_RIGHTS): 8 bytes no frame
// begins with (a frame's magic "GNIE" is followed by its type, 1 to 11).
inline constexpr char kSharedMemoryAsk[8] = {'G', 'N', 'I', 'E', '-', 'S', 'H', 'M'};

// Each ring's size: the most one side writes before the other has read.
inline constexpr size_t kRingBytes = size_t{1} << 20;

// The server's end, once it has read kSharedMemoryAsk and `memory_fd` from `socket_fd` (both
// taken). It maps only memory sealed against shrinking, so that nothing the client does
// can make its accesses fault, and trusts nothing the client writes there: positions that
// cannot be are an Error(kBadInput) for this connection. Memory that is not what a client
// makes: Error(kBadInput).
std::unique_ptr<Connection> shared_memory_serve(int socket_fd, int memory_fd, std::string peer, std::string host);

// The client's end, on a connected socket (taken): makes the memory (its pages touched
// first by the client, so counted against the client's memory, not the server's) and sends it with kSharedMemoryAsk at once, so that
// connecting waits for nothing and the first message goes into the ring before the server
// has accepted. Throws Error(kIo) when the memory cannot be made or sent.
std::unique_ptr<Connection> shared_memory_connect(int socket_fd, std::string peer, std::string host);

// sendmsg of `bytes` with `descriptor` (SCM_RIGHTS), again on EINTR: what sendmsg returns.
ssize_t send_with_descriptor(int socket_fd, std::string_view bytes, int descriptor);
// recvmsg of up to `size` bytes, again on EINTR: what recvmsg returns (errno set when < 0). The first
// descriptor that came with them goes to `descriptor` if it is still -1; every other one is
// closed (a peer may pass descriptors nobody asked for).
ssize_t receive_with_descriptor(int socket_fd, char* buffer, size_t size, int& descriptor);

}  // namespace genie::remote::detail

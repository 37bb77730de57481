/* The hub's wake-up descriptor on Linux: one eventfd, both ends.
   See gc_platform.h. */
#include "gc_platform.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int gc_wake_open(int *read_fd, int *write_fd)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    *read_fd = *write_fd = fd;
    return 0;
}

void gc_wake_signal(int write_fd)
{
    uint64_t one = 1;
    ssize_t n = write(write_fd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter already says "readable"; nothing lost */
}

void gc_wake_drain(int read_fd)
{
    uint64_t count;
    ssize_t n = read(read_fd, &count, sizeof count);
    (void)n; /* EAGAIN: nothing was signalled (a post may be in flight) */
}

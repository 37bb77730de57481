/* The hub's wake-up descriptor on POSIX systems without eventfd: a
   non-blocking pipe.  See gc_platform.h. */
#include "gc_platform.h"

#include <fcntl.h>
#include <unistd.h>

int gc_wake_open(int *read_fd, int *write_fd)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    *read_fd = fds[0];
    *write_fd = fds[1];
    return 0;
}

void gc_wake_signal(int write_fd)
{
    char one = 1;
    ssize_t n = write(write_fd, &one, 1);
    (void)n; /* EAGAIN: the pipe is full, so already readable */
}

void gc_wake_drain(int read_fd)
{
    char buf[64];
    while (read(read_fd, buf, sizeof buf) == (ssize_t)sizeof buf)
        ;
}

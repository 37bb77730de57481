/* Waiting on and closing the hub's wake-up descriptor on POSIX systems,
   for either wake_eventfd.c or wake_pipe.c.  See gc_platform.h. */
#include "gc_platform.h"

#include <poll.h>
#include <unistd.h>

bool gc_wake_wait(int read_fd, int timeout_ms)
{
    if (read_fd < 0) {
        if (timeout_ms != 0)
            (void)poll(NULL, 0, timeout_ms);
        return false;
    }
    struct pollfd p = {.fd = read_fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) > 0;
}

void gc_wake_close(int read_fd, int write_fd)
{
    if (read_fd >= 0)
        close(read_fd);
    if (write_fd >= 0 && write_fd != read_fd)
        close(write_fd);
}

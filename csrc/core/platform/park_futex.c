/* gc_park on Linux: a private futex.  See gc_park.h. */
#include "gc_park.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != GC_FOREVER) {
        if (gc_real_now_ns() >= deadline_ns)
            return GC_PARK_TIMEOUT;
        ts.tv_sec = (time_t)(deadline_ns / 1000000000);
        ts.tv_nsec = (long)(deadline_ns % 1000000000);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
       wake-up followed by another wait never stretches the total wait. */
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET_PRIVATE,
                      expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0)
        return GC_PARK_WOKEN;
    switch (errno) {
    case ETIMEDOUT:
        return GC_PARK_TIMEOUT;
    case EINTR:
        return GC_PARK_INTERRUPTED;
    default: /* EAGAIN: the word had already changed */
        return GC_PARK_WOKEN;
    }
}

bool gc_park_wakes_on_signal(void)
{
    return true;
}

void gc_unpark(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
            NULL, 0);
}

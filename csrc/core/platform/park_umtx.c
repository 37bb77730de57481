/* gc_park on FreeBSD: _umtx_op's private wait on a 32-bit word, with an
   absolute CLOCK_MONOTONIC deadline like the Linux futex.  See gc_park.h.
   Built and linked in CI (zig's cc), not run: not chosen by `auto` until
   it runs on a real FreeBSD (docs/platforms.md). */
#include "gc_park.h"

#include <errno.h>
#include <limits.h>
#include <sys/types.h>
#include <sys/umtx.h>
#include <time.h>

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    struct _umtx_time t, *tp = NULL;
    if (deadline_ns != GC_FOREVER) {
        if (gc_real_now_ns() >= deadline_ns)
            return GC_PARK_TIMEOUT;
        t._timeout.tv_sec = (time_t)(deadline_ns / 1000000000);
        t._timeout.tv_nsec = (long)(deadline_ns % 1000000000);
        t._flags = UMTX_ABSTIME;
        t._clockid = CLOCK_MONOTONIC;
        tp = &t;
    }
    /* With a struct _umtx_time, its size goes in uaddr1 and it in uaddr2. */
    int rc = _umtx_op((void *)word, UMTX_OP_WAIT_UINT_PRIVATE, expected,
                      (void *)(uintptr_t)(tp ? sizeof t : 0), tp);
    if (rc == 0)
        return GC_PARK_WOKEN; /* woken, or the word had already changed */
    switch (errno) {
    case ETIMEDOUT:
        return GC_PARK_TIMEOUT;
    case EINTR:
        return GC_PARK_INTERRUPTED;
    default:
        return GC_PARK_WOKEN;
    }
}

bool gc_park_wakes_on_signal(void)
{
    return true;
}

void gc_unpark(_Atomic uint32_t *word)
{
    _umtx_op((void *)word, UMTX_OP_WAKE_PRIVATE, INT_MAX, NULL, NULL);
}

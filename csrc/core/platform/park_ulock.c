/* gc_park on macOS 10.12 and later: __ulock_wait, the futex of Darwin (the
   primitive libc++'s atomic wait and Rust's standard library sleep on).
   See gc_park.h.  Built and linked in CI (zig's cc), not run: not chosen by
   `auto` until it runs on a real macOS (docs/platforms.md). */
#include "gc_park.h"

#include <errno.h>

/* Not in the SDK's public headers; stable since macOS 10.12. */
extern int __ulock_wait(uint32_t operation, void *addr, uint64_t value,
                        uint32_t timeout_us);
extern int __ulock_wake(uint32_t operation, void *addr, uint64_t wake_value);

#define UL_COMPARE_AND_WAIT 1
#define ULF_WAKE_ALL 0x00000100
#define ULF_NO_ERRNO 0x01000000

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    uint32_t timeout_us = 0; /* 0: no timeout */
    if (deadline_ns != GC_FOREVER) {
        int64_t left = deadline_ns - gc_real_now_ns();
        if (left <= 0)
            return GC_PARK_TIMEOUT;
        int64_t us = (left + 999) / 1000;
        /* Longer waits are cut short: a wake-up, after which callers park
           again with what is left. */
        timeout_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    int rc = __ulock_wait(UL_COMPARE_AND_WAIT | ULF_NO_ERRNO, (void *)word,
                          expected, timeout_us);
    if (rc >= 0)
        return GC_PARK_WOKEN;
    switch (-rc) {
    case ETIMEDOUT:
        return gc_real_now_ns() >= deadline_ns ? GC_PARK_TIMEOUT : GC_PARK_WOKEN;
    case EINTR:
        return GC_PARK_INTERRUPTED;
    default: /* EFAULT and the like: let the caller look at the word again */
        return GC_PARK_WOKEN;
    }
}

bool gc_park_wakes_on_signal(void)
{
    return true; /* __ulock_wait returns EINTR after a handler */
}

void gc_unpark(_Atomic uint32_t *word)
{
    (void)__ulock_wake(UL_COMPARE_AND_WAIT | ULF_WAKE_ALL | ULF_NO_ERRNO,
                       (void *)word, 0); /* -ENOENT: nobody asleep */
}

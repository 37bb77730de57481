/* gc_park on Windows 8 and later: WaitOnAddress, the futex of Windows.
   See gc_park.h.  Its timeout is relative and in milliseconds: rounded up,
   and a timeout reported before the deadline (the system timer ticks every
   few milliseconds) counts as a wake-up, after which callers park again. */
#include "gc_park.h"

#include <windows.h>

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    DWORD ms = INFINITE;
    if (deadline_ns != GC_FOREVER) {
        int64_t left = deadline_ns - gc_real_now_ns();
        if (left <= 0)
            return GC_PARK_TIMEOUT;
        int64_t m = (left + 999999) / 1000000;
        ms = m >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)m;
    }
    if (WaitOnAddress((volatile VOID *)word, &expected, sizeof expected, ms))
        return GC_PARK_WOKEN; /* woken, or the word had already changed */
    if (GetLastError() == ERROR_TIMEOUT && gc_real_now_ns() >= deadline_ns)
        return GC_PARK_TIMEOUT;
    return GC_PARK_WOKEN;
}

bool gc_park_wakes_on_signal(void)
{
    return false; /* Windows runs console handlers on a thread of their own */
}

void gc_unpark(_Atomic uint32_t *word)
{
    WakeByAddressAll((PVOID)word);
}

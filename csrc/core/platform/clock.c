/* The core's clock, gc_real_now_ns, and gc_yield.  See gc_park.h.

   gc_real_now_ns is the clock of Python's time.monotonic() on each system, so
   that an absolute deadline the binding computes from time.monotonic() and
   one the core computes from gc_real_now_ns mean the same instant:
     Linux, the BSDs: clock_gettime(CLOCK_MONOTONIC)
     macOS:           mach_absolute_time() (does not advance while asleep)
     Windows:         QueryPerformanceCounter() (time.monotonic() since
                      CPython 3.13; GetTickCount64() before, the same origin
                      at a coarser resolution) */
#include "gc_park.h"

#if defined(_WIN32)
#include <windows.h>

int64_t gc_real_now_ns(void)
{
    static _Atomic int64_t freq; /* ticks per second, constant after boot */
    int64_t f = atomic_load_explicit(&freq, memory_order_relaxed);
    if (f == 0) {
        LARGE_INTEGER li;
        QueryPerformanceFrequency(&li);
        f = li.QuadPart;
        atomic_store_explicit(&freq, f, memory_order_relaxed);
    }
    LARGE_INTEGER now;
    QueryPerformanceCounter(&now);
    int64_t t = now.QuadPart;
    /* split to keep t * 1e9 from overflowing */
    return t / f * 1000000000 + t % f * 1000000000 / f;
}

void gc_yield(void)
{
    SwitchToThread();
}

#else
#include <sched.h>
#include <time.h>

#if defined(__APPLE__)
#include <mach/mach_time.h>

int64_t gc_real_now_ns(void)
{
    /* The timebase is constant: racing first calls store the same values. */
    static _Atomic uint32_t numer, denom;
    uint64_t d = atomic_load_explicit(&denom, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&numer, memory_order_relaxed);
    if (d == 0) {
        mach_timebase_info_data_t tb;
        mach_timebase_info(&tb);
        n = tb.numer;
        d = tb.denom;
        atomic_store_explicit(&numer, tb.numer, memory_order_relaxed);
        atomic_store_explicit(&denom, tb.denom, memory_order_relaxed);
    }
    uint64_t t = mach_absolute_time();
    if (n == d)
        return (int64_t)t;
    return (int64_t)(t / d * n + t % d * n / d);
}
#else
int64_t gc_real_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif

void gc_yield(void)
{
    sched_yield();
}
#endif

/* gc_park anywhere pthreads exist: a striped table of mutex+condvar pairs
   keyed by the word's address.  See gc_park.h.

   Two things the futex does for free are done here by hand:
   - fork: a stripe's mutex may be held, and its condvar waited on, by a
     thread that does not exist in the child; the child makes every stripe
     anew (pthread_atfork), or its first park or unpark on that stripe would
     hang forever;
   - the clock: deadlines are on gc_real_now_ns's clock.  Where the condvar can
     wait on CLOCK_MONOTONIC (pthread_condattr_setclock succeeds) and that
     is gc_real_now_ns's clock, the deadline is passed as is; otherwise (macOS,
     winpthreads, or a failing setclock) the wait is converted to the
     condvar's own clock, or to a relative wait where there is one.  A
     timed wait that reports a timeout before the deadline (the wall clock
     jumped) is reported as a wake-up, after which callers park again. */
#include "gc_park.h"
#include "gc_platform.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define GC_PARK_STRIPES 64
static struct park_stripe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
} stripes[GC_PARK_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;
/* Set once by stripes_init: the condvars wait on CLOCK_MONOTONIC, which is
   gc_real_now_ns's clock (not on macOS, whose time.monotonic() clock is
   mach_absolute_time). */
static bool cond_clock_is_ours;

/* PYGOCHAN_COND_NO_SETCLOCK builds act as on a system whose condvars
   cannot use the monotonic clock (macOS has no pthread_condattr_setclock;
   winpthreads refuses CLOCK_MONOTONIC). */
static int set_monotonic(pthread_condattr_t *attr)
{
#if defined(GC_COND_NO_SETCLOCK) || defined(__APPLE__)
    (void)attr;
    return EINVAL;
#else
    return pthread_condattr_setclock(attr, CLOCK_MONOTONIC);
#endif
}

static void stripes_make(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    cond_clock_is_ours = set_monotonic(&attr) == 0;
    for (int i = 0; i < GC_PARK_STRIPES; i++) {
        pthread_mutex_init(&stripes[i].lock, NULL);
        pthread_cond_init(&stripes[i].cond, &attr);
    }
    pthread_condattr_destroy(&attr);
}

/* In a fork child: the stripes as the parent's other threads left them
   are unusable (a lock held by a thread that is gone), so they are made
   anew, not unlocked.  Only the forking thread exists, and it was not in
   gc_park or gc_unpark. */
static void stripes_after_fork(void)
{
    stripes_make();
}

static void stripes_init(void)
{
    stripes_make();
    gc_atfork(NULL, NULL, stripes_after_fork);
}

static struct park_stripe *stripe_for(void *addr)
{
    pthread_once(&stripes_once, stripes_init);
    return &stripes[((uintptr_t)addr >> 4) % GC_PARK_STRIPES];
}

static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Wait on s->cond (its lock held) until deadline_ns on gc_real_now_ns's clock. */
static int timed_wait(struct park_stripe *s, int64_t deadline_ns)
{
    if (cond_clock_is_ours) {
        struct timespec ts = to_timespec(deadline_ns);
        return pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    int64_t left = deadline_ns - gc_real_now_ns();
    if (left <= 0)
        return ETIMEDOUT;
    /* Longer waits are cut short (reported as a wake-up, then parked again):
       keeps the sums below far from overflowing. */
    const int64_t cap = (int64_t)1000000 * 1000000000; /* 11.6 days */
    if (left > cap)
        left = cap;
#if defined(__APPLE__)
    struct timespec rel = to_timespec(left);
    return pthread_cond_timedwait_relative_np(&s->cond, &s->lock, &rel);
#else
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t wall = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + left;
    struct timespec ts = to_timespec(wall);
    return pthread_cond_timedwait(&s->cond, &s->lock, &ts);
#endif
}

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    /* A deadline already past costs no lock and no system call, as with
       the futex: a caller racing a claimer gives up as soon. */
    if (deadline_ns != GC_FOREVER && gc_real_now_ns() >= deadline_ns)
        return GC_PARK_TIMEOUT;
    struct park_stripe *s = stripe_for((void *)word);
    enum gc_park_result result = GC_PARK_WOKEN;
    pthread_mutex_lock(&s->lock);
    if (atomic_load(word) == expected) {
        if (deadline_ns == GC_FOREVER) {
            pthread_cond_wait(&s->cond, &s->lock);
        } else if (timed_wait(s, deadline_ns) == ETIMEDOUT &&
                   gc_real_now_ns() >= deadline_ns) {
            result = GC_PARK_TIMEOUT;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return result;
}

bool gc_park_wakes_on_signal(void)
{
    return false; /* pthread_cond_wait resumes after a handler */
}

void gc_unpark(_Atomic uint32_t *word)
{
    struct park_stripe *s = stripe_for((void *)word);
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

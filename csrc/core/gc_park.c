/* gc_park: futex parking on Linux, a condvar table elsewhere. See gc_park.h. */
#include "gc_park.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <time.h>

int64_t gc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gc_deadline_after(double seconds)
{
    if (!(seconds < 9.0e9)) /* also catches +inf and NaN */
        return GC_FOREVER;
    int64_t now = gc_now_ns();
    if (seconds <= 0)
        return now; /* keeps the conversion below in range */
    double ns = ceil(seconds * 1e9);
    if (ns >= (double)(GC_FOREVER - now))
        return GC_FOREVER;
    return now + (int64_t)ns;
}

void gc_yield(void)
{
    sched_yield();
}

bool gc_spin_once(gc_spin *s)
{
    if (s->yields_left <= 0)
        return false;
    s->yields_left--;
    gc_yield();
    if (gc_now_ns() >= s->until_ns)
        s->yields_left = 0; /* the caller checks once more, then sleeps */
    return true;
}

static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != GC_FOREVER) {
        if (gc_now_ns() >= deadline_ns)
            return GC_PARK_TIMEOUT;
        ts = to_timespec(deadline_ns);
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

void gc_unpark(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
            NULL, 0);
}

#else /* portable fallback: a striped table of condvars keyed by address */
#include <pthread.h>

#define GC_PARK_STRIPES 64
static struct park_stripe {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* initialised for CLOCK_MONOTONIC on first use */
} stripes[GC_PARK_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (int i = 0; i < GC_PARK_STRIPES; i++) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_mutex_init(&stripes[i].lock, NULL);
        pthread_cond_init(&stripes[i].cond, &attr);
        pthread_condattr_destroy(&attr);
    }
}

static struct park_stripe *stripe_for(void *addr)
{
    pthread_once(&stripes_once, stripes_init);
    return &stripes[((uintptr_t)addr >> 4) % GC_PARK_STRIPES];
}

enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns)
{
    struct park_stripe *s = stripe_for((void *)word);
    enum gc_park_result result = GC_PARK_WOKEN;
    pthread_mutex_lock(&s->lock);
    if (atomic_load(word) == expected) {
        if (deadline_ns == GC_FOREVER) {
            pthread_cond_wait(&s->cond, &s->lock);
        } else {
            struct timespec ts = to_timespec(deadline_ns);
            if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
                result = GC_PARK_TIMEOUT;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return result;
}

void gc_unpark(_Atomic uint32_t *word)
{
    struct park_stripe *s = stripe_for((void *)word);
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}
#endif

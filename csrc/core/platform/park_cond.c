/* gc_park anywhere pthreads exist: a striped table of mutex+condvar pairs
   keyed by the word's address.  See gc_park.h. */
#include "gc_park.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define GC_PARK_STRIPES 64
static struct park_stripe {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* initialised for CLOCK_MONOTONIC on first use */
} stripes[GC_PARK_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

/* PYGOCHAN_COND_NO_SETCLOCK builds act as on a system whose condvars
   cannot use the monotonic clock (macOS has no pthread_condattr_setclock;
   winpthreads refuses CLOCK_MONOTONIC). */
static int set_monotonic(pthread_condattr_t *attr)
{
#ifdef GC_COND_NO_SETCLOCK
    (void)attr;
    return EINVAL;
#else
    return pthread_condattr_setclock(attr, CLOCK_MONOTONIC);
#endif
}

static void stripes_init(void)
{
    for (int i = 0; i < GC_PARK_STRIPES; i++) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        set_monotonic(&attr);
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

static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
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

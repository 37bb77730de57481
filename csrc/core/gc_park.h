/*
 * gc_park: the one parking primitive of pygochan, and the monotonic clock.
 *
 * A thread sleeps on a 32-bit word until the word no longer holds the value
 * it expects, until an absolute deadline on gc_now_ns's clock, or until a
 * signal handler runs on it.  On Linux this is a private futex; elsewhere a
 * striped table of mutex+condvar pairs stands in (without the EINTR
 * wake-up, which is why callers that care about signals also cap their
 * sleeps).  Which one is built is chosen in one place: platform/gc_platform.h.
 *
 * The word is the waiter's own state word, so "the state changed" and "wake
 * me" are the same memory: there is no lost-wake-up window.
 */
#ifndef GC_PARK_H
#define GC_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deadline meaning "never". */
#define GC_FOREVER INT64_MAX

enum gc_park_result {
    GC_PARK_WOKEN = 0,       /* the word changed, or a spurious wake-up */
    GC_PARK_TIMEOUT = 1,     /* the deadline passed */
    GC_PARK_INTERRUPTED = 2  /* a signal handler ran on this thread */
};

/* Monotonic time in nanoseconds, on the clock of Python's time.monotonic()
   (platform/clock.c says which clock that is on each system).  Parks, spins
   and slices measure real time with it. */
int64_t gc_real_now_ns(void);

/* The clock of deadlines and timer values: the real one, except on a thread
   that belongs to a testing bubble (gc_bubble.h), which reads the bubble's
   virtual clock.  Outside a bubble this costs one thread-local load and a
   branch that is always predicted. */
struct gc_bubble;
extern _Thread_local struct gc_bubble *gc_bubble_tls;
int64_t gc_bubble_now_ns(const struct gc_bubble *b);

#if defined(__GNUC__) || defined(__clang__)
#define GC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define GC_UNLIKELY(x) (x)
#endif

static inline int64_t gc_now_ns(void)
{
    struct gc_bubble *b = gc_bubble_tls;
    if (GC_UNLIKELY(b != NULL))
        return gc_bubble_now_ns(b);
    return gc_real_now_ns();
}

/* Add seconds to now, saturating at GC_FOREVER. */
int64_t gc_deadline_after(double seconds);

/* Sleep while *word == expected, at most until deadline_ns (absolute). */
enum gc_park_result gc_park(_Atomic uint32_t *word, uint32_t expected,
                            int64_t deadline_ns);

/* Whether a signal handler running on a parked thread ends its gc_park
   (GC_PARK_INTERRUPTED): true for the futex, false for the cond park, whose
   callers notice signals only when their sleep slice ends. */
bool gc_park_wakes_on_signal(void);

/* Wake every thread sleeping on word (callers have changed it first). */
void gc_unpark(_Atomic uint32_t *word);

/* Give the CPU to another runnable thread (used by the short pre-sleep spin). */
void gc_yield(void);

/* The short pre-sleep spin, bounded in yields and in time.  A waiter whose
   peer answers within microseconds is better off yielding than paying for a
   sleep and a wake-up; but on a loaded machine one sched_yield() can hand the
   CPU to another process for a whole time slice (milliseconds), and a dozen
   of them would turn every hand-off into tens of milliseconds.  A sleeper on
   the futex is runnable as soon as its waker calls, so the spin stops once
   GC_SPIN_BUDGET_NS have passed, whatever yields are left.

       gc_spin spin = gc_spin_begin(rounds);
       do {
           if (answered()) return;
       } while (gc_spin_once(&spin));
       ... sleep ...
*/
#define GC_SPIN_BUDGET_NS 50000

typedef struct {
    int yields_left;
    int64_t until_ns;
    int64_t now_ns; /* the latest clock reading (gc_spin_begin_at's, then
                       gc_spin_once's): a waiter's statistics reuse it */
} gc_spin;

static inline gc_spin gc_spin_begin(int yields)
{
    gc_spin s = {yields, 0, 0};
    if (yields > 0)
        s.until_ns = (s.now_ns = gc_real_now_ns()) + GC_SPIN_BUDGET_NS;
    return s;
}

/* gc_spin_begin for a caller that has just read the clock (now_ns). */
static inline gc_spin gc_spin_begin_at(int yields, int64_t now_ns)
{
    gc_spin s = {yields, now_ns + GC_SPIN_BUDGET_NS, now_ns};
    return s;
}

/* Yield once and return true, or return false: the spin is over. */
bool gc_spin_once(gc_spin *s);

#endif

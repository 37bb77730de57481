/* gc_waiter: the claim / finish / abort protocol. See gc_waiter.h. */
#include "gc_waiter.h"

#include <stdatomic.h>
#include <stddef.h>

#include "gc_hub.h"

int gc_spin_yields = 16;

#define SLEEPING GC_W_SLEEPING

void gc_waiter_reset(gc_waiter *w)
{
    atomic_store_explicit(&w->state, GC_W_WAITING, memory_order_relaxed);
    w->chosen = -1;
    w->value = NULL;
    w->ok = false;
    w->hub = NULL;
    w->hub_next = NULL;
    w->trace_thread = 0;
    w->trace_chan = 0;
}

uint32_t gc_waiter_state(gc_waiter *w)
{
    return atomic_load_explicit(&w->state, memory_order_acquire) & ~SLEEPING;
}

bool gc_waiter_claim(gc_waiter *w)
{
    uint32_t s = atomic_load_explicit(&w->state, memory_order_relaxed);
    for (;;) {
        if ((s & ~SLEEPING) != GC_W_WAITING)
            return false;
        if (atomic_compare_exchange_weak_explicit(
                &w->state, &s, GC_W_CLAIMED | (s & SLEEPING),
                memory_order_acquire, memory_order_relaxed))
            return true;
    }
}

void gc_waiter_finish(gc_waiter *w)
{
    if (w->hub) {
        gc_hub_post(w->hub, w);
        return;
    }
    uint32_t old = atomic_exchange_explicit(&w->state, GC_W_DONE,
                                            memory_order_acq_rel);
    if (old & SLEEPING)
        gc_unpark(&w->state);
}

bool gc_waiter_abort(gc_waiter *w)
{
    uint32_t s = atomic_load_explicit(&w->state, memory_order_relaxed);
    for (;;) {
        if ((s & ~SLEEPING) != GC_W_WAITING)
            return false;
        if (atomic_compare_exchange_weak_explicit(&w->state, &s, GC_W_ABORTED,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
}

/* Sleep while the state is `awake_state`: mark SLEEPING, then park on it. */
static enum gc_park_result sleep_while(gc_waiter *w, uint32_t awake_state,
                                       int64_t deadline_ns)
{
    uint32_t s = awake_state;
    if (!atomic_compare_exchange_strong_explicit(
            &w->state, &s, awake_state | SLEEPING, memory_order_acq_rel,
            memory_order_acquire)) {
        if (s != (awake_state | SLEEPING))
            return GC_PARK_WOKEN; /* the state moved on */
    }
    return gc_park(&w->state, awake_state | SLEEPING, deadline_ns);
}

bool gc_waiter_spin(gc_waiter *w, int spin_yields)
{
    gc_spin spin = gc_spin_begin(spin_yields);
    do {
        if (gc_waiter_state(w) != GC_W_WAITING)
            return true;
    } while (gc_spin_once(&spin));
    return false;
}

bool gc_waiter_spin_at(gc_waiter *w, int spin_yields, int64_t *now_ns)
{
    gc_spin spin = gc_spin_begin_at(spin_yields, *now_ns);
    bool answered = false;
    do {
        if (gc_waiter_state(w) != GC_W_WAITING) {
            answered = true;
            break;
        }
    } while (gc_spin_once(&spin));
    *now_ns = spin.now_ns;
    return answered;
}

enum gc_park_result gc_waiter_park(gc_waiter *w, int64_t deadline_ns,
                                   bool report_signals, int spin_yields)
{
    if (gc_waiter_spin(w, spin_yields))
        return GC_PARK_WOKEN;
    return gc_waiter_sleep(w, deadline_ns, report_signals);
}

enum gc_park_result gc_waiter_sleep(gc_waiter *w, int64_t deadline_ns,
                                    bool report_signals)
{
    return gc_waiter_sleep_or_stop(w, deadline_ns, report_signals, NULL, 0);
}

enum gc_park_result gc_waiter_sleep_or_stop(gc_waiter *w, int64_t deadline_ns,
                                            bool report_signals,
                                            const _Atomic uint64_t *stop_word,
                                            uint64_t stop_value)
{
    for (;;) {
        if (stop_word &&
            atomic_load_explicit(stop_word, memory_order_acquire) == stop_value)
            return GC_PARK_INTERRUPTED;
        enum gc_park_result r;
        if (stop_word) {
            /* Look at the stop word again once SLEEPING is set: a stopper
               (gc_waiter_stop_wake) sets the word, then clears the flag and
               wakes, so either this sees its word or the park sees the
               flag gone and returns at once -- its wake-up is never lost. */
            uint32_t s = GC_W_WAITING;
            if (!atomic_compare_exchange_strong_explicit(
                    &w->state, &s, GC_W_WAITING | SLEEPING, memory_order_seq_cst,
                    memory_order_acquire) &&
                s != (GC_W_WAITING | SLEEPING))
                return GC_PARK_WOKEN;
            if (atomic_load_explicit(stop_word, memory_order_seq_cst) == stop_value)
                return GC_PARK_INTERRUPTED;
            r = gc_park(&w->state, GC_W_WAITING | SLEEPING, deadline_ns);
        } else {
            r = sleep_while(w, GC_W_WAITING, deadline_ns);
        }
        if (gc_waiter_state(w) != GC_W_WAITING)
            return GC_PARK_WOKEN;
        if (r == GC_PARK_TIMEOUT)
            return r;
        if (r == GC_PARK_INTERRUPTED && report_signals)
            return r;
    }
}

void gc_waiter_wait_done(gc_waiter *w)
{
    /* The claimer holds at most one channel lock and finishes in a few
       instructions, so a short spin almost always suffices. */
    gc_spin spin = gc_spin_begin(64);
    do {
        if (gc_waiter_state(w) == GC_W_DONE)
            return;
    } while (gc_spin_once(&spin));
    while (gc_waiter_state(w) != GC_W_DONE)
        sleep_while(w, GC_W_CLAIMED, GC_FOREVER);
}

void gc_waiter_stop_wake(_Atomic uint32_t *state)
{
    uint32_t s = GC_W_WAITING | SLEEPING;
    atomic_compare_exchange_strong_explicit(state, &s, GC_W_WAITING, memory_order_seq_cst,
                                            memory_order_relaxed);
    gc_unpark(state);
}

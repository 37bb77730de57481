/*
 * gc_waiter: the exactly-once commit word shared by every blocking call.
 *
 * Each blocking call (a send, a recv, a select) owns one waiter, on its own
 * stack, and queues one entry per case on the channels it waits on.  The
 * waiter's state word decides, once, what happened to the call:
 *
 *     WAITING --claim (any waker, under the lock of the channel where the
 *               match happens)--> CLAIMED --finish (same waker, after it
 *               has written the result and unlocked)--> DONE
 *     WAITING --abort (owner only: timeout, signal)--> ABORTED
 *
 * A waker that loses the claim skips the entry: the call already committed
 * elsewhere or gave up.  An owner that loses the abort must wait for DONE and
 * report the committed result: the operation happened.  That is what makes
 * "a call that raised had no effect" true by construction.
 *
 * SLEEPING is a flag the owner adds to WAITING or CLAIMED before it sleeps, so
 * that finish() issues a wake-up system call only when somebody can be asleep.
 *
 * Result fields (chosen, value, ok) are written by the claimer between claim
 * and finish, and read by the owner only after it has seen DONE.
 */
#ifndef GC_WAITER_H
#define GC_WAITER_H

#include <stdbool.h>
#include <stdint.h>

#include "gc_park.h"

enum gc_waiter_state {
    GC_W_WAITING = 0,
    GC_W_CLAIMED = 1,
    GC_W_DONE = 2,
    GC_W_ABORTED = 3,
    GC_W_SLEEPING = 4 /* flag, combined with WAITING or CLAIMED */
};

struct gc_hub;

typedef struct gc_waiter {
    _Atomic uint32_t state;
    int chosen;  /* index of the case that committed */
    void *value; /* recv: the value handed over (its reference moves too) */
    bool ok;     /* recv: false when woken by close; send: false = closed */
    /* NULL for a blocked thread.  Else the owner is a coroutine: finish
       hands the waiter to this hub (gc_hub.h) instead of waking a thread.
       Set by the owner before the waiter is queued; hub_next belongs to
       the hub's stack. */
    struct gc_hub *hub;
    struct gc_waiter *hub_next;
    /* While a recording runs (gc_trace.h).  trace_thread: the owner's
       gc_trace_thread_id, set before the waiter is queued (0 when no
       recording ran then).  The rest is the claimer's note of the owner's
       send or receive: the channel's id (0: no note), the value's number
       + 1, the commit time, the kind, and whether the claimer recorded it
       already (it does when it knows trace_thread; else the owner records
       it once DONE).  Written between claim and finish, like the result. */
    uint64_t trace_thread;
    uint64_t trace_chan, trace_seq;
    int64_t trace_ns;
    uint32_t trace_kind;
    bool trace_recorded;
} gc_waiter;

/* WAITING, no result, no hub. */
void gc_waiter_reset(gc_waiter *w);

/* Waker, holding the lock of the matched channel: WAITING -> CLAIMED. */
bool gc_waiter_claim(gc_waiter *w);

/* Waker, after unlocking: publish the result (-> DONE) and wake the owner
   (or post to its hub).  The owner may return at once, so w must not be
   touched afterwards. */
void gc_waiter_finish(gc_waiter *w);

/* Owner: WAITING -> ABORTED.  False means a waker claimed first; the owner
   must then gc_waiter_wait_done() and report the committed result. */
bool gc_waiter_abort(gc_waiter *w);

/* Owner: spin (at most spin_yields yields, see gc_spin), then sleep until
   the state leaves WAITING, the deadline passes, or (when report_signals) a
   signal handler runs. */
enum gc_park_result gc_waiter_park(gc_waiter *w, int64_t deadline_ns,
                                   bool report_signals, int spin_yields);

/* gc_waiter_park's two halves.  spin: true when the state left WAITING. */
bool gc_waiter_spin(gc_waiter *w, int spin_yields);
/* gc_waiter_spin begun at *now_ns, a clock reading just taken; on return
   *now_ns is the spin's latest reading (within one yield of the answer,
   when it came during the spin). */
bool gc_waiter_spin_at(gc_waiter *w, int spin_yields, int64_t *now_ns);
enum gc_park_result gc_waiter_sleep(gc_waiter *w, int64_t deadline_ns,
                                    bool report_signals);
/* gc_waiter_sleep that also returns GC_PARK_INTERRUPTED once *stop_word
   (unless NULL) holds stop_value, looked at whenever it wakes. */
enum gc_park_result gc_waiter_sleep_or_stop(gc_waiter *w, int64_t deadline_ns,
                                            bool report_signals,
                                            const _Atomic uint64_t *stop_word,
                                            uint64_t stop_value);

/* A stopper, after setting the stop word of a gc_waiter_sleep_or_stop on
   the waiter whose state word this is: wake it, never losing the wake-up. */
void gc_waiter_stop_wake(_Atomic uint32_t *state);

/* Owner, after a claim: wait for the claimer's finish (it is mid-commit). */
void gc_waiter_wait_done(gc_waiter *w);

/* Owner: the state without the SLEEPING flag (acquire). */
uint32_t gc_waiter_state(gc_waiter *w);

/* How many sched_yield() rounds a waiter spins before it sleeps.  Tuned on
   2-vCPU VMs: waking an idle vCPU costs tens of microseconds, a yield-spin of
   a few microseconds usually sees the peer's answer first.  Longer spins
   make a streaming consumer take items one by one instead of in batches. */
extern int gc_spin_yields;

#endif

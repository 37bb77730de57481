/*
 * gc_select: Go's select, and through it every blocking channel operation.
 *
 * A blocking send or recv is a select of one case.  A context's done channel
 * or a timer channel joins a wait as one more recv case; a deadline is just
 * the park deadline.  So there is one waiting mechanism: register one entry
 * per case, park on the call's own waiter, let exactly one waker (or the
 * owner's abort) decide, unlink.
 *
 * Use (storage is the caller's, typically its stack, for ncases entries):
 *     gc_select_init(&sel, cases, n, entries, poll_order, lock_order);
 *     st = gc_select_try(&sel, &res);               // never blocks
 *     if (st == GC_NOT_READY)
 *         st = gc_select_wait(&sel, deadline, slice, &res);   // may block
 */
#ifndef GC_SELECT_H
#define GC_SELECT_H

#include "gc_chan.h"
#include "gc_waiter.h"

typedef struct gc_entry gc_entry;

/* One case of one blocked call, queued on one channel.  Owned by the blocked
   call (storage it provides, usually on its stack); the call unlinks every
   entry before it returns, so no channel ever points at a finished call. */
struct gc_entry {
    gc_entry *prev, *next; /* in chan->sendq / recvq: guarded by chan->lock */
    gc_waiter *waiter;     /* the blocked call's waiter (owned by that call) */
    void *send_value;      /* send entries: the reference on offer */
    int case_index;
    bool is_send;
    bool queued;           /* guarded by chan->lock */
};

typedef struct gc_case {
    gc_chan *chan;    /* NULL: Go's nil channel, never ready */
    void *send_value; /* send cases: the reference offered */
    bool is_send;
} gc_case;

typedef struct gc_select_result {
    int index;   /* the case that committed (the send case, for GC_CLOSED) */
    void *value; /* recv cases: the value (reference handed over) or NULL */
    bool ok;     /* recv cases: false when closed and drained */
} gc_select_result;

typedef struct gc_select {
    const gc_case *cases;
    int ncases;
    gc_entry *entries; /* ncases; queued while registered */
    int *poll_order;   /* ncases: a uniformly random permutation */
    int *lock_order;   /* distinct non-nil channels' case indexes, by address */
    int nlocks;        /* entries in lock_order; -1 until first needed */
    struct gc_hub *hub; /* NULL: a thread blocks; else see gc_select_register */
    int spin_yields;   /* before a thread sleeps; gc_spin_yields by default */
    /* NULL, or a flag shared by several selects (a pool's idle workers) of
       which only one at a time spins spin_yields; while it does, the others
       spin gc_spin_yields, so that a hundred idle workers do not all spin
       for the one job that comes next. */
    _Atomic int *spin_role;
    /* NULL, or a word another thread may set to stop_value to end the
       wait as if a slice had passed (GC_INTERRUPTED, no effect); it then
       wakes the waiter (gc_unpark on waiter.state), and again later, since
       a wake that lands before the sleep begins is lost. */
    const _Atomic uint64_t *stop_word;
    uint64_t stop_value;
    /* Set once gc_select_wait returned GC_INTERRUPTED: the wait resumed
       after a slice has waited since before any receiver that queued
       meanwhile, so on a lifo_receivers channel it queues at the back
       (slices must not make the longest-waiting receiver the newest). */
    bool resumed;
    /* NULL, or the calling thread's testing-bubble membership: once its
       cases are queued, gc_select_wait parks it with the bubble (op, and
       bubble_deadline on the virtual clock) before it sleeps, so that the
       bubble counts it blocked only while nothing has completed it.  The
       bubble ends such a wait through stop_word (gc_bubble.h). */
    struct gc_bubble_member *bubble;
    const char *bubble_op;
    int64_t bubble_deadline;
    /* gc_real_now_ns() just after the cases were queued, 0 while not
       registered: the unregistration adds the time since to each channel's
       blocked time (gc_chan_stats).  Owner only. */
    int64_t registered_ns;
    gc_waiter waiter;
} gc_select;

void gc_select_init(gc_select *sel, const gc_case *cases, int ncases,
                    gc_entry *entries, int *poll_order, int *lock_order);

/* One non-blocking pass over the cases in random order, one channel lock at
   a time.  GC_OK (res set), GC_CLOSED (res.index: a send case whose channel
   is closed), GC_NOT_READY, GC_NOMEM. */
enum gc_status gc_select_try(gc_select *sel, gc_select_result *res);

/* Block until a case commits or deadline_ns passes (GC_TIMEOUT).  With
   slice_ns > 0 the caller also wants control back every slice_ns and after
   any signal handler ran on this thread (GC_INTERRUPTED), to run signal
   handlers; a later call resumes the wait.  Every status other than GC_OK
   and GC_CLOSED means no case had any effect. */
enum gc_status gc_select_wait(gc_select *sel, int64_t deadline_ns,
                              int64_t slice_ns, gc_select_result *res);

/* The same wait split for an owner that is not a thread (an event loop's
   coroutine): the waiter finishes through hub (gc_hub.h) and the owner
   drives the steps itself.

   gc_select_register: with every channel locked, poll again and, if no case
   is ready, queue one entry per case: GC_NOT_READY (registered, waiter
   WAITING).  GC_OK / GC_CLOSED: committed during registration, nothing
   queued, res set.  Then either gc_waiter_abort(&sel->waiter) wins (no
   effect) or the hub hands the waiter back DONE; either way
   gc_select_unregister, then, when DONE, gc_select_committed. */
/* A wait that never sleeps, for an owner that must not block (an event
   loop's coroutine) but whose peer, a thread on another core, may answer
   within microseconds: register as a thread would, spin up to spin_yields,
   then withdraw.  GC_OK / GC_CLOSED: a case committed (res set);
   GC_TIMEOUT: nobody answered and nothing happened, and the select can be
   registered or waited on afresh. */
enum gc_status gc_select_spin(gc_select *sel, int spin_yields,
                              gc_select_result *res);

enum gc_status gc_select_register(gc_select *sel, struct gc_hub *hub,
                                  gc_select_result *res);
void gc_select_unregister(gc_select *sel);
enum gc_status gc_select_committed(gc_select *sel, gc_select_result *res);

#endif

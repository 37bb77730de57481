/*
 * What future.c (the state machine of pygochan.Future) and future_cf.c
 * (concurrent.futures' private attributes on it) share; no other file
 * includes this.  The pool's view of a future is future.h.
 *
 * The dependency is one-way: future_cf.c uses what is declared here;
 * future.c knows nothing of future_cf.c: it sees the adapter only as a
 * pyg_future_watcher that a future carries (module.c calls
 * pyg_future_cf_init after pyg_future_init).
 */
#ifndef PYG_FUTURE_IMPL_H
#define PYG_FUTURE_IMPL_H

#include "future.h"

/* concurrent.futures' states, in its order (future_cf.c maps each to its
   state string).  A transition only ever moves forward, and CANCELLED,
   CANCELLED_AND_NOTIFIED and FINISHED are final ("settled"). */
enum future_state { PENDING, RUNNING, CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED };

/* How a future settled, as a watcher is told. */
enum future_settled { SETTLED_RESULT, SETTLED_EXCEPTION, SETTLED_CANCELLED };

/* Someone outside the state machine who reads the state under a lock of
   their own and must hear of the transition under it: concurrent.futures'
   wait() and as_completed() (future_cf.c).  A static table, never freed. */
typedef struct pyg_future_watcher {
    /* Take the lock the watchers read the state under: 0, or -1 with an
       exception set (the transition then does not happen). */
    int (*lock)(pyg_future *f);
    /* After the transition, before unlock: tell the watchers.  Runs Python
       code; never raises (errors are logged). */
    void (*notify)(pyg_future *f, enum future_settled how);
    void (*unlock)(pyg_future *f);
} pyg_future_watcher;

/* Every field is guarded by the future's critical section
   (PYG_LOCK_OBJECT(f)), which no Python code runs under.  Owned references
   are released by future_clear (future.c) unless said otherwise. */
struct pyg_future {
    PyObject_HEAD
    enum future_state state;
    bool retrieved;       /* result()/exception()/_exception reported the
                             exception: a dropped future need not */
    /* Set once, by the first read of _condition or _waiters (future_cf.c),
       never cleared; NULL until then.  A transition of a watched future
       takes watcher->lock first. */
    const pyg_future_watcher *watcher;
    PyObject *result;     /* owned; FINISHED without exception */
    PyObject *exception;  /* owned; FINISHED with an exception */
    PyObject *callbacks;  /* owned list of callables, or NULL; the
                             transition takes it over and runs them */
    PyObject *waiters;    /* owned list (concurrent.futures' _waiters), or
                             NULL: made and read by future_cf.c only */
    gc_chan *done;        /* owned; made on the first blocking wait, closed
                             when settled, freed in dealloc */
    /* The testing bubble whose threads settle it (gc_chan_bubble of done):
       its maker's, or for a pool's task the pool's.  Immutable once the
       future is handed out. */
    uint64_t bubble_id;
    /* The call a pool runs: owned until it runs, is cancelled or the
       future is settled otherwise, then NULL. */
    PyObject *fn, *args, *kwargs, *context;
    int64_t created_ns;   /* pyg_future_stamp_submitted's reading, or 0 */
};

static inline pyg_state *pyg_future_state_of(pyg_future *f)
{
    return pyg_state_of_type(Py_TYPE(f));
}

static inline enum future_state pyg_future_load_state(pyg_future *f)
{
    enum future_state state;
    PYG_LOCK_OBJECT(f);
    state = f->state;
    PYG_UNLOCK_OBJECT();
    return state;
}

/* Log the exception being raised by a callback or waiter of f, as
   concurrent.futures does ("exception calling callback for <Future ...>"),
   and clear it.  (future.c) */
void pyg_future_log_error(pyg_future *f);


#endif

/* Future, as the pool uses it (the type itself: future_impl.h). */
#ifndef PYG_FUTURE_H
#define PYG_FUTURE_H

#include "state.h"

/* Futures (future.c), for the pool. */
typedef struct pyg_future pyg_future;
/* A pending future carrying a call (steals nothing; NULL on error). */
/* Which testing bubble settles the future (pool.submit: the pool's). */
void pyg_future_set_bubble(PyObject *future, uint64_t bubble_id);
PyObject *pyg_future_new_task(pyg_state *st, PyObject *fn, PyObject *args,
                              PyObject *kwargs);
/* Note gc_now_ns() in a new task's future, before it is shared, for the
   pool's queue wait (pyg_future_claim reports it). */
void pyg_future_stamp_submitted(PyObject *future);
/* PENDING -> RUNNING; false if it was cancelled (it must not run).
   *created_ns: the time pyg_future_stamp_submitted noted, or 0. */
bool pyg_future_claim(PyObject *future, int64_t *created_ns);
/* Run a claimed future's call and settle it; true if the call raised.
   before_settle(arg) runs once the call has returned, before anyone can
   see the outcome. */
bool pyg_future_run_claimed(PyObject *future, void (*before_settle)(void *),
                            void *arg);
/* Cancel a pending future (a queued task the pool drops). */
void pyg_future_cancel(PyObject *future);
PyObject *pyg_done_channel_new(pyg_state *st, gc_ctx *ctx);
/* The channel closed when future settles (made on first use; it lives as
   long as the future), or NULL: settled already, or an exception is set. */
gc_chan *pyg_future_done_chan(PyObject *future);

/* Give base (the C type _FutureBase) concurrent.futures' private
   attributes, and fill in the module state they need (future_states,
   waiters_lock): 0, or -1 with an exception set.  (future_cf.c; module.c
   calls it after pyg_future_init) */
int pyg_future_cf_init(pyg_state *st, PyTypeObject *base);

#endif

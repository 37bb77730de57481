/*
 * The CPython binding of pygochan: what the binding's files share.
 *
 * The binding only converts: it parses arguments, turns Python references
 * into the core's opaque values (a value's reference travels with it, see
 * gc_chan.h), releases the GIL around every wait, and runs signal handlers
 * between wait slices on the main thread.
 */
#ifndef PYGOCHAN_H
#define PYGOCHAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "gc_chan.h"
#include "gc_select.h"
#include "gc_timer.h"
#include "gc_ctx.h"

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#endif

/* A module instance's deferred-release list (deferred.c). */
typedef struct pyg_owner pyg_owner;

typedef struct {
    PyTypeObject *channel_type;
    PyTypeObject *recv_case_type;
    PyTypeObject *send_case_type;
    PyTypeObject *select_result_type;
    PyTypeObject *timer_type;
    PyTypeObject *ticker_type;
    PyTypeObject *context_type;
    PyObject *canceled;          /* exception class Canceled */
    PyObject *deadline_exceeded; /* exception class DeadlineExceeded */
    PyObject *background;        /* the background Context */
    PyObject *after_func_queue;  /* unbounded Channel of functions to run */
    PyObject *after_func_runner; /* callable that starts the runner, or NULL */
    PyObject *channel_closed; /* the ChannelClosed exception class */
    unsigned long main_thread_ident;

    /* WaitGroup, Future, Pool (sync.c, future.c, pool.c) */
    PyTypeObject *wait_group_type;
    PyTypeObject *future_base_type;  /* the C part of Future */
    PyTypeObject *future_type;       /* Future(_FutureBase, cf.Future) */
    PyTypeObject *pool_base_type;    /* the C part of Pool */
    PyObject *future_states[5];      /* concurrent.futures' state strings */
    PyObject *cancelled_error;       /* concurrent.futures.CancelledError */
    PyObject *invalid_state_error;   /* concurrent.futures.InvalidStateError */
    PyObject *future_timeout_error;  /* TimeoutError, also cf's before 3.11 */
    PyObject *futures_logger;        /* logging.getLogger("concurrent.futures") */
    PyObject *waiters_lock;          /* RLock: concurrent.futures.wait's protocol */

    /* Objects released on threads not attached to this interpreter wait
       here (never freed, see deferred.c); the tag of this instance's
       contexts. */
    pyg_owner *owner;
} pyg_state;

typedef struct {
    PyObject_HEAD
    gc_chan *chan;          /* owned; freed in dealloc */
    gc_timer *timer;        /* owned; set for a timer's receive-only channel */
    gc_ctx *owner_ctx;      /* a reference; set for a context's done channel,
                               whose chan the context owns */
    PyObject *weakreflist;
} pyg_channel;

/* A Context.  ctx is NULL for contexts that are never done (background,
   without_cancel and their value children). */
typedef struct {
    PyObject_HEAD
    gc_ctx *ctx;        /* owned reference, or NULL */
    PyObject *parent;   /* the parent Context (owned); NULL for background */
    PyObject *key;      /* with_value: the key and value (owned), else NULL */
    PyObject *value;
    PyObject *done;     /* the done Channel, made on first use (owned) */
    PyObject *weakreflist;
    bool holds_values;  /* the one Context that shows ctx's cause and pending
                           after-func items to the GC: the one that made ctx
                           (with_value children share ctx but not this) */
} pyg_context;

/* ctx= argument: None -> *out NULL; a Context -> its gc_ctx (NULL if it can
   never be done); anything else is a TypeError. */
int pyg_ctx_arg(pyg_state *st, PyObject *obj, gc_ctx **out);

/* Raise the error of a done context (Canceled / DeadlineExceeded), chained
   to its cause when the cause is an exception.  Returns NULL. */
PyObject *pyg_raise_ctx_error(pyg_state *st, gc_ctx *ctx);

/* Core visit callbacks (gc_chan_visit, gc_ctx_visit_values) over values
   that are objects or timer values: pyg_visit_value(value, &adapter) calls
   the collector's visit for each object. */
typedef struct {
    visitproc visit;
    void *arg;
} pyg_visit_adapter;
int pyg_visit_value(void *value, void *arg);

/* Timer channels and done channels are receive-only for Python code. */
static inline bool pyg_channel_is_receive_only(const pyg_channel *ch)
{
    return ch->timer != NULL || ch->owner_ctx != NULL;
}

/* Timer and Ticker: a timer firing into its channel c. */
typedef struct {
    PyObject_HEAD
    PyObject *c; /* the pyg_channel that owns the gc_timer (owned) */
    PyObject *weakreflist;
} pyg_timer;

/* gc.recv(ch) / gc.send(ch, v): immutable, so one case may serve many selects. */
typedef struct {
    PyObject_HEAD
    PyObject *channel; /* a Channel, or None for Go's nil channel (owned) */
    PyObject *value;   /* send cases: the value (owned); NULL for recv */
} pyg_case;

/* A parsed timeout= argument. */
typedef struct {
    bool blocking;       /* false for timeout=0: one attempt, then TimeoutError */
    int64_t deadline_ns; /* absolute monotonic; GC_FOREVER for None */
} pyg_timeout;

/* timeout=None | int | float (not bool); negative or NaN is a ValueError. */
int pyg_parse_timeout(PyObject *obj, pyg_timeout *out);

/* A duration in seconds: int | float (not bool), not NaN, >= 0 (> 0 when
   !allow_zero); errors name `what`. */
int pyg_parse_seconds(PyObject *obj, const char *what, bool allow_zero,
                      double *seconds);

/* A value coming out of the core as a new reference: timer values become
   float seconds on the time.monotonic() clock; objects pass through. */
PyObject *pyg_value_out(void *value);

/* A channel for timer values only: Python code may receive, not send or
   close.  The channel owns `timer` (armed by the caller). */
PyObject *pyg_timer_channel_new(pyg_state *st);

/* Parse `npos` positional arguments and the keywords named in `kwlist`
   (NULL-terminated) of a vectorcall method into `out` (positional first,
   unset keywords left NULL). */
int pyg_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, Py_ssize_t npos, const char *const *kwlist,
                   PyObject **out);

/* Finish a select whose gc_select_try found nothing ready: block with the
   GIL released until it commits, times out or a signal handler raises.
   Returns the core status; on GC_INTERRUPTED a Python exception is set. */
enum gc_status pyg_wait(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                        gc_select_result *res);

/* Wait until chan, a channel that is only ever closed, is closed: 0, or -1
   with timeout_error (NULL: TimeoutError), ctx's error or what a signal
   handler raised set.  An already closed channel wins over a done ctx. */
int pyg_wait_closed(pyg_state *st, gc_chan *chan, const pyg_timeout *timeout,
                    gc_ctx *ctx, const char *op, PyObject *timeout_error);

/* Set the exception for a status other than GC_OK / GC_INTERRUPTED. */
void pyg_raise_status(pyg_state *st, enum gc_status status, const char *op);

pyg_state *pyg_state_of_type(PyTypeObject *type);

/* Deferred releases (deferred.c).  pyg_release_object(obj, owner) is the
   core's release hook: it releases obj at once on a thread attached to the
   owner's interpreter, else queues it for that interpreter.  The
   interpreter calls pyg_drain_deferred at its next context operation or
   blocking wait (cheap when nothing is queued). */
pyg_owner *pyg_owner_new(void);
void pyg_owner_close(pyg_owner *owner);
void pyg_release_object(void *obj, void *owner);
void pyg_drain_deferred(pyg_state *st);

int pyg_channel_init_type(PyObject *module, pyg_state *st);
int pyg_select_init_types(PyObject *module, pyg_state *st);
int pyg_timer_init_types(PyObject *module, pyg_state *st);
int pyg_context_init(PyObject *module, pyg_state *st);
int pyg_sync_init(PyObject *module, pyg_state *st);
int pyg_future_init(PyObject *module, pyg_state *st);
int pyg_pool_init(PyObject *module, pyg_state *st);
int pyg_sync_traverse(pyg_state *st, visitproc visit, void *arg);
void pyg_sync_clear(pyg_state *st);

/* Futures (future.c), for the pool. */
typedef struct pyg_future pyg_future;
/* A pending future carrying a call (steals nothing; NULL on error). */
PyObject *pyg_future_new_task(pyg_state *st, PyObject *fn, PyObject *args,
                              PyObject *kwargs);
/* PENDING -> RUNNING; false if it was cancelled (it must not run). */
bool pyg_future_claim(PyObject *future);
/* Run a claimed future's call and settle it; true if the call raised. */
bool pyg_future_run_claimed(PyObject *future);
/* Cancel a pending future (a queued task the pool drops). */
void pyg_future_cancel(PyObject *future);
PyObject *pyg_done_channel_new(pyg_state *st, gc_ctx *ctx);
extern PyMethodDef pyg_timer_functions[];
extern PyMethodDef pyg_select_functions[];

#endif

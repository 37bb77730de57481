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
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

/* No reliance on the GIL.  On a free-threaded build (Py_GIL_DISABLED)
   nothing serialises two threads inside one object, so state that changes
   after construction is guarded explicitly: an object's fields by its
   critical section (PYG_LOCK_OBJECT: the object's own lock on free-threaded
   builds, nothing with a GIL), module-wide pointers by a pyg_mutex,
   counters and flags read without a lock are C11 atomics.  Before 3.13
   there is no free-threaded build: the GIL serialises, and both compile to
   nothing.  A critical section never spans a call into Python code or a
   wait: CPython suspends it whenever the thread blocks. */
#include <stdatomic.h>
#if PY_VERSION_HEX >= 0x030D0000
#define PYG_LOCK_OBJECT(op) Py_BEGIN_CRITICAL_SECTION(op); (void)(op)
#define PYG_UNLOCK_OBJECT() Py_END_CRITICAL_SECTION()
typedef PyMutex pyg_mutex;
#define pyg_mutex_lock(m) PyMutex_Lock(m)
#define pyg_mutex_unlock(m) PyMutex_Unlock(m)
#else
#define PYG_LOCK_OBJECT(op) { (void)(op);
#define PYG_UNLOCK_OBJECT() }
typedef struct { char unused; } pyg_mutex;
#define pyg_mutex_lock(m) ((void)(m))
#define pyg_mutex_unlock(m) ((void)(m))
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
    PyObject *after_func_runner; /* callable that starts the runner, or NULL;
                                    guarded by after_func_lock */
    pyg_mutex after_func_lock;
    PyObject *channel_closed; /* the ChannelClosed exception class */
    _Atomic unsigned long main_thread_ident; /* rewritten after fork */

    /* WaitGroup, Future, Pool (waitgroup.c, future.c, pool.c) */
    PyTypeObject *wait_group_type;
    PyTypeObject *future_base_type;  /* the C part of Future */
    PyTypeObject *future_type;       /* Future(_FutureBase, cf.Future) */
    PyTypeObject *pool_base_type;    /* the C part of Pool */
    PyTypeObject *pool_work_type;    /* what a Pool shares with its workers */
    PyObject *future_states[5];      /* concurrent.futures' state strings
                                        (future_cf.c) */
    PyObject *cancelled_error;       /* concurrent.futures.CancelledError */
    PyObject *invalid_state_error;   /* concurrent.futures.InvalidStateError */
    PyObject *future_timeout_error;  /* TimeoutError, also cf's before 3.11 */
    PyObject *futures_logger;        /* logging.getLogger("concurrent.futures") */
    PyObject *waiters_lock;          /* RLock: concurrent.futures.wait's
                                        protocol (future_cf.c) */

    PyTypeObject *channel_iter_type; /* Channel.iter(ctx=) (views.c) */
    PyTypeObject *thread_runner_type; /* what threads.c's threads run */
    PyObject *sigint_noter;           /* SIGINT's handler while one starts */
    _Atomic int sigint_held_off;      /* a SIGINT came meanwhile */
    PyTypeObject *semaphore_base_type; /* the C part of Semaphore (semaphore.c) */

    /* Parked waits and deadlock detection (debug/blocked.c) */
    pthread_key_t blocked_key;       /* this thread's pyg_blocked record */
    bool blocked_key_ready;
    bool deadlock_detection;         /* main thread only reads; set by Python */
    int64_t deadlock_grace_ns;
    PyObject *deadlock;              /* the Deadlock exception class */
    PyObject *deadlock_ignored;      /* tuple of the thread state ids
                                        (PyThreadState_GetID) of threads
                                        that never wake a wait (kernel
                                        service threads) */
    PyObject *deadlock_reporter;     /* callable -> message or None, or NULL */
    bool deadlock_raised;            /* the main thread's wait raised Deadlock
                                        (main thread only) */

    /* asyncio (op/loop.c) */
    PyTypeObject *hub_type;
    PyTypeObject *aop_type;
    PyTypeObject *channel_aiter_type; /* async for over a Channel (views.c) */
    /* pygochan._aio's half of the loop driver: set once while pygochan is
       imported (_set_loop_driver), before any awaitable can run; read only
       after that, so no lock */
    PyObject *aio_park;           /* _park(op) -> the iterator that waits */
    PyObject *aio_redeliver;      /* dict: task -> absorbed cancellation */
    PyObject *aio_pending_cancel; /* raises an absorbed cancellation */

    /* Objects released on threads not attached to this interpreter wait
       here (never freed, see deferred.c); the tag of this instance's
       contexts. */
    pyg_owner *owner;
} pyg_state;

/* What a Python Channel is.  The kind decides who owns its gc_chan and
   which side of it Python code may use (pyg_channel_refuse); it never
   changes after creation. */
enum pyg_channel_kind {
    PYG_CHAN_OWNED,     /* Channel(): owns chan; both sides */
    PYG_CHAN_TIMER,     /* a Timer's or Ticker's c: owns chan and timer;
                           receive only (the timer sends) */
    PYG_CHAN_DONE,      /* a done channel: owner_ctx owns chan; receive
                           only (cancelling closes it) */
    PYG_CHAN_RECV_VIEW, /* recv_only(): borrows view_of's chan */
    PYG_CHAN_SEND_VIEW, /* send_only(): borrows view_of's chan; send, close */
};

/* The two sides of a channel: sending (send, close, a send case, a
   send-only view) and receiving (recv, iteration, a recv case). */
enum pyg_channel_side { PYG_SEND_SIDE, PYG_RECV_SIDE };

typedef struct {
    PyObject_HEAD
    gc_chan *chan;          /* OWNED, TIMER: owned, freed in dealloc; DONE:
                               owner_ctx's; views: view_of's */
    gc_timer *timer;        /* TIMER: owned (armed by the Timer) */
    gc_ctx *owner_ctx;      /* DONE: a reference on the context */
    PyObject *view_of;      /* views: the Channel whose chan this borrows
                               (owned) */
    unsigned char kind;     /* enum pyg_channel_kind; immutable */
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
    PyObject *done;     /* the done Channel, made on first use (owned);
                           guarded by the context's critical section */
    PyObject *weakreflist;
    bool holds_values;  /* the one Context that shows ctx's causes and pending
                           after-func items to the GC: the one that made ctx
                           (with_value children share ctx but not this) */
} pyg_context;

/* Flags of a GC type that only pygochan itself creates instances of. */
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define PYG_INTERNAL_GC_TYPE_FLAGS \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION)
#else
#define PYG_INTERNAL_GC_TYPE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

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

/* Refuse what ch's kind forbids: 0 if Python code may use that side of
   it, else -1 with a TypeError naming `what` and the kind.  The one
   direction check of every operation, thread or awaited. */
int pyg_channel_refuse(pyg_channel *ch, enum pyg_channel_side side,
                       const char *what);

/* What a receive returns: the value, (value, True), or
   SelectResult(index, value, True). */
enum pyg_recv_form { PYG_RECV_VALUE, PYG_RECV_PAIR, PYG_RECV_SELECT };

/* Channel methods defined in views.c. */
PyObject *pyg_channel_recv_only(PyObject *self, PyObject *ignored);
PyObject *pyg_channel_send_only(PyObject *self, PyObject *ignored);
/* The next value of `for v in ch` (ctx_obj: Channel.iter(ctx=), or NULL):
   NULL without an exception at the end. */
PyObject *pyg_channel_next(PyObject *channel, PyObject *ctx_obj);
/* `async for v in ch` (views.c). */
PyObject *pyg_channel_aiter(PyObject *self);
PyObject *pyg_channel_iter(PyObject *self, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames);

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

/* How a thread waits, beyond its select and deadline: what blocked()
   shows (op, and objects: borrowed, alive during the call), and, if
   on_slice is set, Python code to run while it waits: on_slice(arg) is
   called with the GIL held before the wait first sleeps and then at least
   every slice_ns while it sleeps (> 0), the wait staying recorded as
   parked meanwhile (so it must not wait itself); 0 to go on waiting, -1
   with an exception set to end the wait with no effect. */
typedef struct {
    const char *op;
    PyObject *const *objects;
    Py_ssize_t nobjects;
    int (*on_slice)(void *arg);
    void *on_slice_arg;
    int64_t slice_ns;
} pyg_wait_how;

/* Finish a select whose gc_select_try found nothing ready: block with the
   GIL released until it commits, times out or a signal handler raises.
   Every blocking wait of the binding comes here: it records the thread
   for blocked() and the deadlock detector (debug/blocked.c), and on the main
   thread runs signal handlers and the deadlock check between slices.
   Returns the core status; on GC_INTERRUPTED a Python exception is set
   (on the main thread that may be Deadlock, and on any thread when the
   exit of a deadlocked program ends the wait).  pyg_wait_for is
   pyg_wait_with with no on_slice; pyg_wait is pyg_wait_for with op "wait"
   and no objects. */
enum gc_status pyg_wait_with(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                             gc_select_result *res, const pyg_wait_how *how);
enum gc_status pyg_wait_for(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                            gc_select_result *res, const char *op,
                            PyObject *const *objects, Py_ssize_t nobjects);
enum gc_status pyg_wait(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                        gc_select_result *res);

/* What one thread is parked on: one record per thread and interpreter,
   made at the thread's first wait, linked into a process-wide list (whose
   lock guards prev/next/st) and freed when the thread exits.  Only the
   record's thread writes the other fields, as a seqlock: seq is odd while
   it writes, and every park and unpark adds 2, so parking costs a few
   plain stores to the thread's own cache line.  objects are borrowed: the
   parked call owns them (and keeps its frame) until it has the GIL back. */
typedef struct pyg_blocked {
    struct pyg_blocked *prev, *next;
    pyg_state *st;                  /* NULL once its module is gone */
    unsigned long thread_ident;     /* immutable */
    _Atomic uint64_t seq;
    _Atomic bool parked;
    _Atomic bool timed;             /* it ends by itself: it has a deadline */
    const char *_Atomic op;         /* static text */
    PyObject *const *_Atomic objects;
    _Atomic Py_ssize_t nobjects;
    _Atomic int64_t since_ns;
    _Atomic uint32_t *_Atomic word; /* the parked waiter's state word */
    /* Written by another thread (the exit hook, see debug/blocked.c): the seq of
       the park to end with Deadlock.  The wait stops when it equals the
       seq its park returned (gc_select.stop_word). */
    _Atomic uint64_t kick_seq;
} pyg_blocked;

/* Per-wait state of the main thread's deadlock check. */
typedef struct {
    int64_t quiet_since_ns;         /* nothing changed since; 0: not quiet */
    uint64_t quiet_changes;
} pyg_deadlock_watch;

/* The calling thread's record, made on first use; NULL (no exception) when
   out of memory: the wait then goes unrecorded. */
pyg_blocked *pyg_blocked_self(pyg_state *st);
/* Returns the record's seq while this park lasts. */
uint64_t pyg_blocked_park(pyg_blocked *rec, const char *op, PyObject *const *objects,
                          Py_ssize_t nobjects, bool timed, _Atomic uint32_t *word);
void pyg_blocked_unpark(pyg_blocked *rec);
/* On the main thread, between slices of an untimed wait: 1 with *message
   (a new reference) if every thread has been parked hopelessly for the
   grace period, still so after the reporter ran; -1 with an exception set
   (raised by the reporter or by what ran with it); else 0.  On 1 the caller
   tries its own wait once more (Python code ran meanwhile) before it
   raises Deadlock. */
int pyg_deadlock_check(pyg_state *st, pyg_deadlock_watch *watch, PyObject **message);
void pyg_blocked_after_fork(pyg_state *st);
void pyg_blocked_free(pyg_state *st);

/* The return value of a receive that committed value (the core's pointer,
   not yet a Python object; its reference is the caller's) from chan, case
   index of a select.  The result is built in full first, then the signal
   handlers pending on the main thread run: if one raises, or building
   failed, the receive is undone (the value goes back to the head of chan)
   and NULL is returned with the exception set, so the call had no effect.
   Without the check the interpreter would run the same handler right after
   the call returned and drop the value.  Building first leaves as the only
   window the few instructions between this check and the interpreter's:
   an allocation after the check (which may run a collection, even
   finalizers) would widen it many times.  Every receive form ends here. */
PyObject *pyg_recv_result(pyg_state *st, gc_chan *chan, void *value,
                          enum pyg_recv_form form, int index);

/* Undo a committed receive whose result could not be built: the value
   goes back to the head of chan.  Call with the exception set. */
void pyg_give_back(gc_chan *chan, void *value);

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
/* The count of this interpreter's contexts pinned by pending after-func
   items (gc_ctx_after): they will send their items from the timer thread,
   so the after_func runner must be there.  pyg_owner_pinned is the core's
   hook. */
void pyg_owner_pinned(void *owner, int delta);
long pyg_owner_pinned_count(pyg_owner *owner);

int pyg_channel_init_type(PyObject *module, pyg_state *st);
int pyg_select_init_types(PyObject *module, pyg_state *st);
int pyg_select_result_init(PyObject *module, pyg_state *st);
int pyg_timer_init_types(PyObject *module, pyg_state *st);
int pyg_context_init(PyObject *module, pyg_state *st);
int pyg_sync_init(PyObject *module, pyg_state *st);
int pyg_future_init(PyObject *module, pyg_state *st);
int pyg_pool_init(PyObject *module, pyg_state *st);
int pyg_views_init(PyObject *module, pyg_state *st);
int pyg_blocked_init(PyObject *module, pyg_state *st);

int pyg_aio_init(PyObject *module, pyg_state *st);
int pyg_start_init(PyObject *module, pyg_state *st);
int pyg_semaphore_init(PyObject *module, pyg_state *st);

/* Add delta to a WaitGroup's counter (waitgroup.c): GC_OK, or the status that
   refused it (nothing changed). */
enum gc_status pyg_wait_group_add(PyObject *wg, int64_t delta);

/* The books kept for a thread (threads.c): each is counted by the caller
   before pyg_start_thread and given back when the thread ends, or by
   pyg_start_thread when the thread will not run.  wg: one unit of a
   WaitGroup's counter; slots: one value in a Channel; threads: a set the
   thread is added to (by pyg_start_thread) while it lives; undo(undo_arg):
   the caller's own count, given back only if the thread will not run (the
   thread's target gives it back otherwise). */
typedef struct {
    PyObject *wg, *slots, *threads;
    void (*undo)(void *);
    void *undo_arg;
} pyg_thread_books;

/* SIGINT held off on the main thread while Python code that must not be
   interrupted runs (threading's Thread.start() in particular): its Python
   handler is swapped for one that only notes the signal, and put back by
   pyg_let_sigint_in, which raises the signal again if one came, for the
   handler to run at the next check.  Elsewhere, or when SIGINT has no
   Python handler, nothing is swapped.  A signal already pending runs its
   handler first: if that raises, pyg_hold_off_sigint returns -1 with the
   exception set and nothing swapped, unless must_run: then the exception
   is kept for pyg_let_sigint_in to raise (the caller's code runs all the
   same, for bookkeeping that must happen).  pyg_let_sigint_in keeps a
   pending exception. */
typedef struct {
    PyObject *signal_module;
    PyObject *handler; /* the one held off, or NULL: nothing swapped */
    PyObject *raised;  /* must_run: what a pending handler raised, or NULL */
} pyg_held_sigint;
int pyg_hold_off_sigint(pyg_state *st, pyg_held_sigint *held, bool must_run);
void pyg_let_sigint_in(pyg_state *st, pyg_held_sigint *held);
/* fn(*args) between the two above; NULL with an exception if either fn or
   a handler pending before it raised.  called (unless NULL): fn ran. */
PyObject *pyg_call_holding_sigint(pyg_state *st, bool must_run, PyObject *fn,
                                  PyObject *const *args, size_t nargs, bool *called);

/* Start threading.Thread(target=<runner>, name=name, daemon=daemon) whose
   runner calls target(*args) and then gives back books.  No signal handler
   can leave the books half-kept: 0, started; -1, not started, the books
   given back, exception set; 1, started but Thread.start() raised after
   the thread began (Ctrl-C): the thread runs and settles, the exception is
   set for the caller to propagate.  *thread_out (if not NULL) gets the
   Thread on 0 and 1. */
int pyg_start_thread(pyg_state *st, const pyg_thread_books *books,
                     PyObject *target, PyObject *args, PyObject *name,
                     PyObject *daemon, PyObject **thread_out);
/* The loop driver (op/loop.c).  pyg_awaitable_new: an awaitable (a coroutine
   object, _AsyncOp) whose op the caller then builds in place with one of
   op.h's builders (on failure, drop the awaitable); it keeps the holds
   (any may be NULL) alive for the op, which borrows them. */
struct pyg_op;
PyObject *pyg_awaitable_new(pyg_state *st, struct pyg_op **op, PyObject *hold0,
                            PyObject *hold1, PyObject *hold2, PyObject *hold3);
/* An awaitable pyg_op_closed on chan, keeping target alive. */
PyObject *pyg_awaitable_closed(pyg_state *st, PyObject *target, gc_chan *chan,
                               bool closed_already, const char *name,
                               PyObject *timeout_error, PyObject *timeout_obj,
                               PyObject *ctx_obj);
int pyg_aio_traverse(pyg_state *st, visitproc visit, void *arg);
void pyg_aio_clear(pyg_state *st);
/* A SelectResult(index, value, ok); value: a reference taken over (NULL
   means None).  (select_result.c) */
PyObject *pyg_select_result(pyg_state *st, int index, PyObject *value,
                            bool ok);
int pyg_sync_traverse(pyg_state *st, visitproc visit, void *arg);
void pyg_sync_clear(pyg_state *st);

/* Futures (future.c), for the pool. */
typedef struct pyg_future pyg_future;
/* A pending future carrying a call (steals nothing; NULL on error). */
PyObject *pyg_future_new_task(pyg_state *st, PyObject *fn, PyObject *args,
                              PyObject *kwargs);
/* PENDING -> RUNNING; false if it was cancelled (it must not run). */
bool pyg_future_claim(PyObject *future);
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
/* A WaitGroup's current generation (see gc_wg.h), NULL at zero. */
struct gc_wg_gen *pyg_wait_group_gen(PyObject *wg);
extern PyMethodDef pyg_timer_functions[];
extern PyMethodDef pyg_select_functions[];

#endif

/* The binding's module state, and the rules every binding file follows.

   The binding only converts: it parses arguments, turns Python references
   into the core's opaque values (a value's reference travels with it, see
   gc_chan.h), and drives the core's operations (op/op.h): with the GIL
   released around every wait and signal handlers run between wait slices
   on the main thread, or from an event loop.

   Lock discipline.  Every field of pyg_state is written while the module
   is made (module.c, and the parts' init functions), before any other
   thread can see the module, and is immutable after that, except where a
   field says otherwise: after_func_runner is guarded by after_func_lock;
   main_thread_ident and sigint_held_off are atomics; the deadlock_* fields
   are the main thread's; the aio_* fields are set once while pygochan is
   imported.  Objects' own fields are guarded by their critical section
   (PYG_LOCK_OBJECT). */
#ifndef PYG_STATE_H
#define PYG_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "platform/gc_platform.h"
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
static inline PyObject *Py_XNewRef(PyObject *o)
{
    Py_XINCREF(o);
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
    PyTypeObject *channel_stats_type; /* ChannelStats (stats.c) */
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

    PyTypeObject *channel_iter_type; /* Channel.iter(ctx=) (channel.c) */
    PyTypeObject *thread_runner_type; /* what threads.c's threads run */
    PyObject *sigint_noter;           /* SIGINT's handler while one starts */
    _Atomic int sigint_held_off;      /* a SIGINT came meanwhile */
    PyTypeObject *semaphore_base_type; /* the C part of Semaphore (semaphore.c) */

    /* Parked waits and deadlock detection (debug/blocked.c) */
    gc_tls_key blocked_key;       /* this thread's pyg_blocked record */
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
    PyTypeObject *channel_aiter_type; /* async for over a Channel (channel.c) */
    PyTypeObject *bubble_type;        /* testing bubbles (bubble.c) */
    PyTypeObject *bubble_member_type;
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

/* Flags of a GC type that only pygochan itself creates instances of. */
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define PYG_INTERNAL_GC_TYPE_FLAGS \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION)
#else
#define PYG_INTERNAL_GC_TYPE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

/* The module state of the Python object's type (Python subclasses of the
   module's types included). */
pyg_state *pyg_state_of_type(PyTypeObject *type);

/* Each part of the module: its types and functions (module.c calls these
   in order), and what the module state holds of it. */
int pyg_channel_init_type(PyObject *module, pyg_state *st);
int pyg_select_init_types(PyObject *module, pyg_state *st);
int pyg_select_result_init(PyObject *module, pyg_state *st);
int pyg_stats_init(PyObject *module, pyg_state *st);
int pyg_trace_init(PyObject *module, pyg_state *st);
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
int pyg_bubble_init(PyObject *module, pyg_state *st);
int pyg_aio_traverse(pyg_state *st, visitproc visit, void *arg);
void pyg_aio_clear(pyg_state *st);
int pyg_sync_traverse(pyg_state *st, visitproc visit, void *arg);
void pyg_sync_clear(pyg_state *st);

#endif

/*
 * Releasing Python objects whose last core-held reference drops on a thread
 * CPython does not own.
 *
 * The core releases context causes and after-func items wherever the last
 * reference of a context goes, and that can be the timer thread (a deadline's
 * cancel cascade).  That thread has no thread state: a Py_DECREF there would
 * run arbitrary __del__ code on a 64 KiB stack, without the interpreter the
 * object belongs to (and PyGILState_Check() answers 1 there as soon as a
 * subinterpreter exists).  So every module instance (one per interpreter)
 * owns a deferred-release list: a release on any thread that is not
 * attached to that instance's interpreter pushes the object there, and the
 * interpreter drains it on its next context operation or blocking call, at
 * module teardown, and, for the main interpreter, from a pending call
 * (Py_AddPendingCall only reaches the main interpreter).
 *
 * Owners are never freed: a context may outlive its module instance by a
 * transient reference on the timer thread, and the owner tag it carries must
 * stay valid.  A module instance that goes away marks its owner dead; an
 * object released into a dead owner is leaked, because its interpreter may
 * be gone and nowhere else may release it.
 */
#include "deferred.h"

#include "platform/gc_platform.h"
#include <stdatomic.h>
#include <stdlib.h>

struct pyg_owner {
    PyInterpreterState *interp; /* immutable; compared, never dereferenced */
    bool is_main;               /* interp is the main interpreter */
    _Atomic int pending;        /* items is non-empty (a hint, read unlocked) */
    _Atomic long pinned;        /* contexts pinned by after-func items */
    /* Guarded by owners_lock: */
    bool dead;                  /* the module instance is gone */
    bool call_scheduled;        /* a pending call will drain this owner */
    PyObject **items;           /* owned references, released by the owner */
    size_t len, cap;
    pyg_owner *next;            /* every owner ever made (never freed) */
};

static gc_mutex owners_lock = GC_MUTEX_INIT;
static pyg_owner *owners; /* guarded by owners_lock */

/* The thread state this thread runs with right now, or NULL if it has none
   or is detached. */
static PyThreadState *attached_tstate(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#elif PY_VERSION_HEX >= 0x030C0000
    return _PyThreadState_UncheckedGet(); /* thread-local since 3.12 */
#else
    /* Before 3.12 the "current" thread state is the GIL holder's, for the
       whole process: it is this thread's only if it matches the one this
       thread registered (none, for a thread CPython never saw). */
    PyThreadState *own = PyGILState_GetThisThreadState();
    return own && own == _PyThreadState_UncheckedGet() ? own : NULL;
#endif
}

pyg_owner *pyg_owner_new(void)
{
    pyg_owner *o = calloc(1, sizeof(*o));
    if (!o) {
        PyErr_NoMemory();
        return NULL;
    }
    o->interp = PyInterpreterState_Get();
    o->is_main = o->interp == PyInterpreterState_Main();
    gc_mutex_lock(&owners_lock);
    o->next = owners;
    owners = o;
    gc_mutex_unlock(&owners_lock);
    return o;
}

/* Take the owner's list (owners_lock not held); NULL when empty. */
static PyObject **take_items(pyg_owner *o, size_t *len)
{
    gc_mutex_lock(&owners_lock);
    PyObject **items = o->items;
    *len = o->len;
    o->items = NULL;
    o->len = o->cap = 0;
    o->call_scheduled = false;
    atomic_store_explicit(&o->pending, 0, memory_order_relaxed);
    gc_mutex_unlock(&owners_lock);
    return items;
}

static void release_all(PyObject **items, size_t len)
{
    for (size_t i = 0; i < len; i++)
        Py_DECREF(items[i]);
    free(items);
}

static void drain(pyg_owner *o)
{
    size_t len;
    PyObject **items = take_items(o, &len);
    release_all(items, len);
}

void pyg_drain_deferred(pyg_state *st)
{
    pyg_owner *o = st->owner;
    if (o && atomic_load_explicit(&o->pending, memory_order_relaxed))
        drain(o);
}

void pyg_owner_close(pyg_owner *o)
{
    if (!o)
        return;
    gc_mutex_lock(&owners_lock);
    o->dead = true;
    gc_mutex_unlock(&owners_lock);
    drain(o);
}

/* The main interpreter's pending call: drain its live owners. */
static int drain_main_owners(void *arg)
{
    (void)arg;
    for (;;) {
        pyg_owner *found = NULL;
        gc_mutex_lock(&owners_lock);
        for (pyg_owner *o = owners; o; o = o->next) {
            if (o->is_main && o->call_scheduled) {
                o->call_scheduled = false;
                found = o;
                break;
            }
        }
        gc_mutex_unlock(&owners_lock);
        if (!found)
            return 0;
        drain(found);
    }
}

void pyg_release_object(void *obj, void *owner)
{
    pyg_owner *o = owner;
    PyThreadState *ts = attached_tstate();
    if (!o || (ts && PyThreadState_GetInterpreter(ts) == o->interp)) {
        /* attached to the object's interpreter (an untagged context is only
           ever released by Python code) */
        Py_DECREF((PyObject *)obj);
        return;
    }
    bool schedule = false;
    gc_mutex_lock(&owners_lock);
    if (!o->dead) {
        if (o->len == o->cap) {
            size_t cap = o->cap ? o->cap * 2 : 16;
            PyObject **grown = realloc(o->items, cap * sizeof(*grown));
            if (grown) {
                o->items = grown;
                o->cap = cap;
            }
        }
        if (o->len < o->cap) {
            o->items[o->len++] = obj;
            atomic_store_explicit(&o->pending, 1, memory_order_relaxed);
            schedule = o->is_main && !o->call_scheduled;
            o->call_scheduled |= schedule;
        }
        /* else out of memory: the object leaks (it may not be released
           here, and there is nowhere to put it) */
    }
    gc_mutex_unlock(&owners_lock);
    /* Callable from any thread without a thread state.  If the queue is
       full, the next pygochan call of the interpreter drains instead. */
    if (schedule)
        Py_AddPendingCall(drain_main_owners, NULL);
}

void pyg_owner_pinned(void *owner, int delta)
{
    pyg_owner *o = owner;
    if (o) /* an untagged context is never pinned: it has no deadline */
        atomic_fetch_add_explicit(&o->pinned, delta, memory_order_seq_cst);
}

long pyg_owner_pinned_count(pyg_owner *o)
{
    return o ? atomic_load_explicit(&o->pinned, memory_order_seq_cst) : 0;
}

/*
 * concurrent.futures' private attributes on pygochan.Future: what its
 * module-level wait() and as_completed() (and CPython's executor tests,
 * and asyncio.wrap_future from 3.15 on) read and write on a Future that
 * is not their own.  The state machine itself is future.c; this file adds
 * these attributes to its type (pyg_future_cf_init) and takes part in a
 * transition only as the future's watcher (future.h).
 *
 *   _condition  the lock wait() and as_completed() hold while they check
 *               the state and install a waiter
 *   _waiters    the list those waiters are installed in; settling calls
 *               each one's add_result / add_exception / add_cancelled
 *   _state      concurrent.futures' state string (PENDING, ..., FINISHED)
 *   _result, _exception, _get_snapshot()
 *
 * _condition is one RLock shared by all the futures of a module instance
 * (st->waiters_lock).  From the moment a future hands out _condition or
 * _waiters, this file is its watcher: settling it takes that lock and
 * notifies its _waiters under it, exactly as concurrent.futures does.
 * Until then nobody can be between wait()'s state check and its waiter
 * install, so settling skips the lock.  The watcher is set in the future's
 * critical section, the one the transition checks it in, so a settle that
 * skipped the lock cannot overtake a wait() that already took it.
 *
 * Locks and ownership:
 *   st->waiters_lock      the RLock; owned by the module state (made here,
 *                         released by pyg_sync_clear).  concurrent.futures
 *                         changes a future's _waiters list only under it.
 *   st->future_states[5]  concurrent.futures' state strings, indexed by
 *                         enum future_state; owned by the module state
 *                         (made here, released by pyg_sync_clear).
 *   f->waiters, f->watcher, and every field read here: guarded by the
 *                         future's critical section (see future.h);
 *                         f->waiters is made here on first read and owned
 *                         by the future (released by future.c's clear).
 */
#include "future_impl.h"

/* A new reference to *slot read in the future's critical section, or NULL. */
static PyObject *load_ref(pyg_future *f, PyObject **slot)
{
    PyObject *r;
    PYG_LOCK_OBJECT(f);
    r = *slot;
    Py_XINCREF(r);
    PYG_UNLOCK_OBJECT();
    return r;
}

/* ---- the waiters protocol: this file as a future's watcher ------------ */

static int lock_waiters(pyg_future *f)
{
    PyObject *r = PyObject_CallMethod(pyg_future_state_of(f)->waiters_lock,
                                      "acquire", NULL);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static void unlock_waiters(pyg_future *f)
{
    PyObject *lock = pyg_future_state_of(f)->waiters_lock;
    PyObject *r = PyObject_CallMethod(lock, "release", NULL);
    if (!r)
        PyErr_WriteUnraisable(lock);
    Py_XDECREF(r);
}

/* Called with waiters_lock held (the only lock concurrent.futures changes
   _waiters under); iterates a copy all the same. */
static void notify_waiters(pyg_future *f, enum future_settled how)
{
    const char *method = how == SETTLED_CANCELLED   ? "add_cancelled"
                         : how == SETTLED_EXCEPTION ? "add_exception"
                                                    : "add_result";
    PyObject *waiters = load_ref(f, &f->waiters);
    if (!waiters)
        return;
    PyObject *copy = PySequence_List(waiters);
    Py_DECREF(waiters);
    if (!copy) {
        pyg_future_log_error(f);
        return;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(copy); i++) {
        PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(copy, i),
                                          method, "O", (PyObject *)f);
        if (!r)
            pyg_future_log_error(f);
        Py_XDECREF(r);
    }
    Py_DECREF(copy);
}

static const pyg_future_watcher waiters_protocol = {
    .lock = lock_waiters,
    .notify = notify_waiters,
    .unlock = unlock_waiters,
};

/* Call in the future's critical section. */
static void watch(pyg_future *f)
{
    if (!f->watcher)
        f->watcher = &waiters_protocol;
}

/* ---- what concurrent.futures.wait / as_completed read ----------------- */

static PyObject *future_get_condition(PyObject *self, void *Py_UNUSED(c))
{
    pyg_future *f = (pyg_future *)self;
    PYG_LOCK_OBJECT(f);
    watch(f);
    PYG_UNLOCK_OBJECT();
    return Py_NewRef(pyg_future_state_of(f)->waiters_lock);
}

static PyObject *future_get_state(PyObject *self, void *Py_UNUSED(c))
{
    pyg_future *f = (pyg_future *)self;
    return Py_NewRef(pyg_future_state_of(f)->future_states[pyg_future_load_state(f)]);
}

static PyObject *future_get_waiters(PyObject *self, void *Py_UNUSED(c))
{
    pyg_future *f = (pyg_future *)self;
    PyObject *waiters;
    PYG_LOCK_OBJECT(f);
    /* whoever installs a waiter gets it notified */
    watch(f);
    if (!f->waiters)
        f->waiters = PyList_New(0);
    waiters = f->waiters;
    Py_XINCREF(waiters);
    PYG_UNLOCK_OBJECT();
    return waiters;
}

static PyObject *future_get_result(PyObject *self, void *Py_UNUSED(c))
{
    PyObject *r = load_ref((pyg_future *)self, &((pyg_future *)self)->result);
    return r ? r : Py_NewRef(Py_None);
}

/* Whoever reads the exception retrieved it, whichever of
   concurrent.futures' ways it takes: exception(), result(), _exception or
   _get_snapshot(). */
static PyObject *future_get_exception(PyObject *self, void *Py_UNUSED(c))
{
    pyg_future *f = (pyg_future *)self;
    PyObject *e;
    PYG_LOCK_OBJECT(f);
    e = f->exception;
    if (e) {
        Py_INCREF(e);
        f->retrieved = true;
    }
    PYG_UNLOCK_OBJECT();
    return e ? e : Py_NewRef(Py_None);
}

/* (done, cancelled, result, exception) read at once, as
   concurrent.futures.Future._get_snapshot (3.15) returns it. */
static PyObject *future_get_snapshot(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    pyg_future *f = (pyg_future *)self;
    enum future_state state;
    PyObject *result, *exc;
    PYG_LOCK_OBJECT(f);
    state = f->state;
    result = state == FINISHED ? f->result : NULL;
    exc = state == FINISHED ? f->exception : NULL;
    Py_XINCREF(result);
    Py_XINCREF(exc);
    if (exc)
        f->retrieved = true;
    PYG_UNLOCK_OBJECT();
    PyObject *r = Py_BuildValue("(OOOO)", state >= CANCELLED ? Py_True : Py_False,
                                state == CANCELLED || state == CANCELLED_AND_NOTIFIED
                                    ? Py_True
                                    : Py_False,
                                result ? result : Py_None, exc ? exc : Py_None);
    Py_XDECREF(result);
    Py_XDECREF(exc);
    return r;
}

static PyMethodDef cf_methods[] = {
    {"_get_snapshot", future_get_snapshot, METH_NOARGS,
     "_get_snapshot($self)\n--\n\n(done, cancelled, result, exception), read at once."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef cf_getset[] = {
    {"_condition", future_get_condition, NULL,
     "The lock concurrent.futures.wait() and as_completed() take.", NULL},
    {"_state", future_get_state, NULL, "concurrent.futures' state name.", NULL},
    {"_waiters", future_get_waiters, NULL,
     "concurrent.futures.wait()'s waiters.", NULL},
    {"_result", future_get_result, NULL, NULL, NULL},
    {"_exception", future_get_exception, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* Set a descriptor (a new reference, or NULL) as base.name. */
static int add_descriptor(PyTypeObject *base, const char *name, PyObject *descr)
{
    int rc = descr ? PyObject_SetAttrString((PyObject *)base, name, descr) : -1;
    Py_XDECREF(descr);
    return rc;
}

int pyg_future_cf_init(pyg_state *st, PyTypeObject *base)
{
    static const char *const names[] = {"PENDING", "RUNNING", "CANCELLED",
                                        "CANCELLED_AND_NOTIFIED", "FINISHED"};
    PyObject *base_mod = PyImport_ImportModule("concurrent.futures._base");
    if (!base_mod)
        return -1;
    int rc = -1;
    for (int i = 0; i < 5; i++)
        if (!(st->future_states[i] = PyObject_GetAttrString(base_mod, names[i])))
            goto done;
    PyObject *threading = PyImport_ImportModule("threading");
    if (!threading)
        goto done;
    st->waiters_lock = PyObject_CallMethod(threading, "RLock", NULL);
    Py_DECREF(threading);
    if (!st->waiters_lock)
        goto done;
    for (PyGetSetDef *g = cf_getset; g->name; g++)
        if (add_descriptor(base, g->name, PyDescr_NewGetSet(base, g)) < 0)
            goto done;
    for (PyMethodDef *m = cf_methods; m->ml_name; m++)
        if (add_descriptor(base, m->ml_name, PyDescr_NewMethod(base, m)) < 0)
            goto done;
    rc = 0;
done:
    Py_DECREF(base_mod);
    return rc;
}

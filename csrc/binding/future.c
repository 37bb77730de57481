/*
 * Future: a concurrent.futures.Future whose hot paths are C; the state
 * machine.  concurrent.futures' private attributes on it (_condition,
 * _state, _waiters, _result, _exception, _get_snapshot) are future_cf.c's.
 *
 * `Future` is the Python class Future(_FutureBase, concurrent.futures.Future)
 * of pygochan/_futures.py, which hands it to _set_future_type() for the
 * futures a pool makes: isinstance() checks, asyncio.wrap_future and typing
 * see a real concurrent.futures.Future, every method but the awaiting ones
 * comes from this C base.
 * Waiting is the module's one mechanism: a "done" channel, made when someone
 * first has to block and closed when the future settles, so result() takes
 * a timeout and a ctx and answers Ctrl-C like any other wait.
 *
 * PENDING -> RUNNING (a pool claims it, or set_running_or_notify_cancel)
 * -> FINISHED (a result or an exception); PENDING -> CANCELLED_AND_NOTIFIED
 * (cancel()).  set_result()/set_exception() may also settle a PENDING
 * future.  Settled states are final.
 *
 * Locks and ownership (the fields are listed in future.h):
 *   Every field of a future is guarded by its critical section
 *   (PYG_LOCK_OBJECT), and a transition (check the state, change it, take
 *   the callbacks, the done channel and the call) happens inside one:
 *   whoever settles a future sees every done channel and callback added
 *   before, and whoever adds one after sees the settled state.  Python code
 *   (callbacks, waiters, the call, a released reference's __del__) runs
 *   outside it.  A future with a watcher (future_cf.c, once someone read
 *   _condition or _waiters) settles under the watcher's lock, taken before
 *   the critical section and released after the watcher was told.
 *   result, exception, callbacks, waiters and the call (fn, args, kwargs,
 *   context) are owned references: a transition takes over callbacks and
 *   the call and releases them outside the section; future_clear releases
 *   the rest.  done is owned, made under the section, closed by the
 *   transition and freed in dealloc, never earlier: a waiter may be
 *   parked on it.  The module state's cancelled_error, invalid_state_error,
 *   future_timeout_error and futures_logger are made here and released by
 *   pyg_sync_clear.
 */
#include "future_impl.h"
#include "future.h"
#include "args.h"
#include "op/op.h"

#include "gc_bubble.h"

static pyg_state *state_of(PyObject *self)
{
    return pyg_state_of_type(Py_TYPE(self));
}

static bool is_settled(const pyg_future *f)
{
    return f->state >= CANCELLED;
}

/* ---- settling --------------------------------------------------------- */

/* Log an exception raised by a callback or waiter, like concurrent.futures
   ("exception calling callback for <Future ...>"), then clear it. */
void pyg_future_log_error(pyg_future *f)
{
    PyObject *self = (PyObject *)f;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_GetExcInfo(&saved_type, &saved_value, &saved_tb);
    PyErr_SetExcInfo(type, value, tb); /* steals: logging reads sys.exc_info() */
    PyObject *r = PyObject_CallMethod(state_of(self)->futures_logger, "exception",
                                      "sO", "exception calling callback for %r",
                                      self);
    if (!r)
        PyErr_WriteUnraisable(self);
    Py_XDECREF(r);
    PyErr_SetExcInfo(saved_type, saved_value, saved_tb);
}

/* What a transition takes out of the future, to be acted on outside its
   critical section. */
typedef struct {
    gc_chan *done;        /* borrowed (the future owns it): to close */
    PyObject *callbacks;  /* owned: to run once each, in order */
    PyObject *call[4];    /* owned: fn, args, kwargs, context to release */
} taken;

static void take_for_settled(pyg_future *f, taken *t)
{
    t->done = f->done;
    t->callbacks = f->callbacks;
    f->callbacks = NULL;
    t->call[0] = f->fn;
    t->call[1] = f->args;
    t->call[2] = f->kwargs;
    t->call[3] = f->context;
    f->fn = f->args = f->kwargs = f->context = NULL;
}

/* The state already changed: wake blocked waits, then run the callbacks,
   each once, in the order they were added. */
static void after_settled(pyg_future *f, taken *t)
{
    if (t->done)
        gc_chan_close(t->done);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(t->call[i]);
    PyObject *callbacks = t->callbacks;
    if (!callbacks)
        return;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(callbacks); i++) {
        PyObject *r = PyObject_CallOneArg(PyList_GET_ITEM(callbacks, i),
                                          (PyObject *)f);
        if (!r)
            pyg_future_log_error(f);
        Py_XDECREF(r);
    }
    Py_DECREF(callbacks);
}

static void drop_call(pyg_future *f)
{
    Py_CLEAR(f->fn);
    Py_CLEAR(f->args);
    Py_CLEAR(f->kwargs);
    Py_CLEAR(f->context);
}

enum transition { TRANSITIONED, REFUSED, NEEDS_LOCK };

/* Settle with a result or an exception (one of them; the reference is
   stolen), or cancel (both NULL).  Settling: 0, or -1 with InvalidStateError
   if already settled.  Cancelling: 1 if canceled now or before, 0 if running
   or finished. */
static int transition(pyg_future *f, PyObject *result, PyObject *exception,
                      bool cancelling)
{
    pyg_state *st = state_of((PyObject *)f);
    const pyg_future_watcher *locked = NULL; /* whose lock is held */
    taken t = {0};
    enum transition outcome;
    int rc = 0;
    for (;;) {
        PYG_LOCK_OBJECT(f);
        if (f->watcher && !locked) {
            outcome = NEEDS_LOCK;
            locked = f->watcher;
        } else if (cancelling) {
            outcome = f->state == PENDING ? TRANSITIONED : REFUSED;
            rc = f->state == RUNNING || f->state == FINISHED ? 0 : 1;
            if (outcome == TRANSITIONED) {
                /* concurrent.futures notifies waiters only when the
                   executor reaches the canceled call; a pool may never
                   reach it (shutdown), so do it now. */
                f->state = CANCELLED_AND_NOTIFIED;
                take_for_settled(f, &t);
            }
        } else if (is_settled(f)) {
            outcome = REFUSED;
        } else {
            outcome = TRANSITIONED;
            f->state = FINISHED;
            f->result = result;
            f->exception = exception;
            take_for_settled(f, &t);
        }
        PYG_UNLOCK_OBJECT();
        if (outcome != NEEDS_LOCK)
            break;
        /* The watcher (concurrent.futures' wait() or as_completed()) holds,
           or may take, its lock while it reads the state and installs a
           waiter: settle under it.  The watcher, once set, stays. */
        if (locked->lock(f) < 0) {
            Py_XDECREF(result);
            Py_XDECREF(exception);
            return -1;
        }
    }
    if (locked) {
        if (outcome == TRANSITIONED)
            locked->notify(f, cancelling  ? SETTLED_CANCELLED
                              : exception ? SETTLED_EXCEPTION
                                          : SETTLED_RESULT);
        locked->unlock(f);
    }
    if (outcome == REFUSED) {
        if (cancelling)
            return rc;
        Py_XDECREF(result);
        Py_XDECREF(exception);
        PyErr_Format(st->invalid_state_error, "%R is already settled",
                     (PyObject *)f);
        return -1;
    }
    after_settled(f, &t);
    return cancelling ? 1 : 0;
}

static int settle(pyg_future *f, PyObject *result, PyObject *exception)
{
    return transition(f, result, exception, false);
}

/* 1: canceled now or before; 0: running or finished; -1: error. */
static int cancel(pyg_future *f)
{
    return transition(f, NULL, NULL, true);
}

void pyg_future_cancel(PyObject *future)
{
    if (cancel((pyg_future *)future) < 0)
        PyErr_WriteUnraisable(future);
}

/* The calling thread's testing bubble (gc_bubble.h), 0 outside any. */
static uint64_t pyg_current_bubble_id(void)
{
    return GC_UNLIKELY(gc_bubble_tls != NULL) ? gc_bubble_id(gc_bubble_tls) : 0;
}

void pyg_future_set_bubble(PyObject *future, uint64_t bubble_id)
{
    ((pyg_future *)future)->bubble_id = bubble_id;
}

/* ---- the pool's side -------------------------------------------------- */

PyObject *pyg_future_new_task(pyg_state *st, PyObject *fn, PyObject *args,
                              PyObject *kwargs)
{
    PyTypeObject *type = st->future_type;
    if (!type) {
        PyErr_SetString(PyExc_RuntimeError,
                        "pygochan.Future is not defined yet: import pygochan");
        return NULL;
    }
    pyg_future *f = (pyg_future *)type->tp_alloc(type, 0);
    if (!f)
        return NULL;
    f->bubble_id = pyg_current_bubble_id();
    f->context = PyContext_CopyCurrent();
    if (!f->context) {
        Py_DECREF(f);
        return NULL;
    }
    f->fn = Py_NewRef(fn);
    f->args = Py_NewRef(args);
    f->kwargs = kwargs ? Py_NewRef(kwargs) : NULL;
    return (PyObject *)f;
}

/* The exception being raised, normalized, with its traceback attached. */
static PyObject *take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

void pyg_future_stamp_submitted(PyObject *future)
{
    /* before the future is shared: no other thread reads it yet */
    ((pyg_future *)future)->created_ns = gc_real_now_ns();
}

bool pyg_future_claim(PyObject *future, int64_t *created_ns)
{
    pyg_future *f = (pyg_future *)future;
    bool claimed;
    PYG_LOCK_OBJECT(f);
    claimed = f->state == PENDING; /* else cancelled while queued */
    if (claimed)
        f->state = RUNNING;
    *created_ns = f->created_ns;
    PYG_UNLOCK_OBJECT();
    return claimed;
}

bool pyg_future_run_claimed(PyObject *future, void (*before_settle)(void *),
                            void *arg)
{
    pyg_future *f = (pyg_future *)future;
    PyObject *fn, *args, *kwargs, *context;
    PYG_LOCK_OBJECT(f);
    fn = f->fn;
    args = f->args;
    kwargs = f->kwargs;
    context = f->context;
    f->fn = f->args = f->kwargs = f->context = NULL;
    PYG_UNLOCK_OBJECT();
    if (!fn) {
        /* settled by set_result()/set_exception() before it ran */
        before_settle(arg);
        Py_XDECREF(args);
        Py_XDECREF(kwargs);
        Py_XDECREF(context);
        return false;
    }
    PyObject *result = NULL;
    /* The submitter's contextvars, in a copy of their own: entering fails
       only if this very copy is already entered, which cannot happen. */
    if (PyContext_Enter(context) == 0) {
        result = PyObject_Call(fn, args, kwargs);
        if (PyContext_Exit(context) < 0)
            Py_CLEAR(result);
    }
    Py_DECREF(fn);
    Py_DECREF(args);
    Py_XDECREF(kwargs);
    Py_DECREF(context);
    /* Any BaseException lands in the future (the worker lives on), as in
       concurrent.futures. */
    PyObject *exception = result ? NULL : take_exception();
    bool failed = exception != NULL;
    before_settle(arg);
    if (settle(f, result, exception) < 0)
        PyErr_WriteUnraisable(future);
    return failed;
}

/* ---- Python methods --------------------------------------------------- */

static PyObject *future_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Future() takes no arguments");
        return NULL;
    }
    pyg_future *f = (pyg_future *)type->tp_alloc(type, 0);
    if (f)
        f->bubble_id = pyg_current_bubble_id();
    return (PyObject *)f;
}

/* concurrent.futures.Future.__init__ must not run (it would set the
   attributes this type computes). */
static int future_init(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args),
                       PyObject *Py_UNUSED(kwargs))
{
    return 0;
}

static int future_traverse(pyg_future *f, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(f));
    Py_VISIT(f->result);
    Py_VISIT(f->exception);
    Py_VISIT(f->callbacks);
    Py_VISIT(f->waiters);
    Py_VISIT(f->fn);
    Py_VISIT(f->args);
    Py_VISIT(f->kwargs);
    Py_VISIT(f->context);
    return 0;
}

static int future_clear(pyg_future *f)
{
    Py_CLEAR(f->result);
    Py_CLEAR(f->exception);
    Py_CLEAR(f->callbacks);
    Py_CLEAR(f->waiters);
    drop_call(f);
    return 0;
}

/* Like asyncio's "exception was never retrieved": a failed future dropped
   without anyone reading its exception reports it (sys.unraisablehook). */
static void future_finalize(PyObject *self)
{
    pyg_future *f = (pyg_future *)self;
    if (f->state != FINISHED || !f->exception || f->retrieved)
        return;
    f->retrieved = true;
    /* A task that stopped because its context was canceled did what it was
       asked (asyncio does not report a cancelled task either): shutting a
       pool down on Ctrl-C must not print one report per task. */
    if (PyObject_TypeCheck(f->exception,
                           (PyTypeObject *)state_of(self)->canceled))
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *exc = f->exception;
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc),
                  PyException_GetTraceback(exc));
    PyErr_WriteUnraisable(self);
    PyErr_Restore(type, value, tb);
}

static void future_dealloc(pyg_future *f)
{
    PyTypeObject *type = Py_TYPE(f);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)f) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(f);
    future_clear(f);
    gc_chan_free(f->done);
    type->tp_free(f);
    Py_DECREF(type);
}

static PyObject *future_cancel(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    int r = cancel((pyg_future *)self);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *future_cancelled(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    enum future_state s = pyg_future_load_state((pyg_future *)self);
    return PyBool_FromLong(s == CANCELLED || s == CANCELLED_AND_NOTIFIED);
}

static PyObject *future_running(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(pyg_future_load_state((pyg_future *)self) == RUNNING);
}

static PyObject *future_done(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(pyg_future_load_state((pyg_future *)self) >= CANCELLED);
}

/* Block until settled (timeout, ctx, Ctrl-C as for every wait). */

/* The done channel, made in the section where settling looks for it: either
   this sees the future settled (*settled, NULL returned), or the settle sees
   the channel and closes it.  NULL with an exception set when out of
   memory. */
static gc_chan *done_chan_unless_settled(pyg_future *f, bool *settled)
{
    gc_chan *done = NULL;
    PYG_LOCK_OBJECT(f);
    *settled = is_settled(f);
    if (!*settled) {
        if (!f->done && (f->done = gc_chan_new(0)) != NULL)
            gc_chan_set_bubble(f->done, f->bubble_id);
        done = f->done;
    }
    PYG_UNLOCK_OBJECT();
    if (!*settled && !done)
        PyErr_NoMemory();
    return done;
}

static int wait_settled(pyg_future *f, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames, const char *name)
{
    static const char *const kwlist[] = {"ctx", NULL};
    pyg_state *st = state_of((PyObject *)f);
    PyObject *argv[2] = {NULL, NULL};
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most 1 positional argument (%zd given)",
                     name, nargs);
        return -1;
    }
    /* timeout may be positional (as in concurrent.futures) or a keyword */
    static const char *const kwlist_t[] = {"timeout", "ctx", NULL};
    if (nargs == 1) {
        argv[0] = args[0];
        if (pyg_parse_args(name, args + 1, 0, kwnames, 0, kwlist, argv + 1) < 0)
            return -1;
    } else if (pyg_parse_args(name, args, 0, kwnames, 0, kwlist_t, argv) < 0) {
        return -1;
    }
    bool settled;
    gc_chan *done = done_chan_unless_settled(f, &settled);
    if (!settled && !done)
        return -1;
    pyg_op op;
    if (pyg_op_closed(&op, st, done, settled, name, st->future_timeout_error,
                      (PyObject *)f, argv[0], argv[1]) < 0)
        return -1;
    Py_INCREF(f); /* the done channel lives as long as f */
    PyObject *r = pyg_op_run(&op);
    Py_DECREF(f);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

gc_chan *pyg_future_done_chan(PyObject *future)
{
    bool settled;
    return done_chan_unless_settled((pyg_future *)future, &settled);
}

static PyObject *outcome(pyg_future *f, bool want_result)
{
    pyg_state *st = state_of((PyObject *)f);
    enum future_state state;
    PyObject *exc, *result;
    PYG_LOCK_OBJECT(f);
    state = f->state;
    exc = f->exception;
    result = f->result;
    Py_XINCREF(exc);
    Py_XINCREF(result);
    if (exc)
        f->retrieved = true;
    PYG_UNLOCK_OBJECT();
    if (state == CANCELLED || state == CANCELLED_AND_NOTIFIED) {
        PyErr_SetNone(st->cancelled_error);
        return NULL;
    }
    if (exc) {
        Py_XDECREF(result);
        if (!want_result)
            return exc;
        PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                      PyException_GetTraceback(exc));
        return NULL;
    }
    if (!want_result) {
        Py_XDECREF(result);
        Py_RETURN_NONE;
    }
    return result ? result : Py_NewRef(Py_None);
}

static PyObject *future_result(PyObject *self, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    if (wait_settled((pyg_future *)self, args, nargs, kwnames, "result") < 0)
        return NULL;
    return outcome((pyg_future *)self, true);
}

static PyObject *future_exception(PyObject *self, PyObject *const *args,
                                  Py_ssize_t nargs, PyObject *kwnames)
{
    if (wait_settled((pyg_future *)self, args, nargs, kwnames, "exception") < 0)
        return NULL;
    return outcome((pyg_future *)self, false);
}

static PyObject *future_add_done_callback(PyObject *self, PyObject *fn)
{
    pyg_future *f = (pyg_future *)self;
    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "callback must be callable, not %.200s",
                     Py_TYPE(fn)->tp_name);
        return NULL;
    }
    /* Added in the section settling takes the callbacks in, or called now. */
    int added = 0; /* 1: added; -1: error */
    PYG_LOCK_OBJECT(f);
    if (!is_settled(f)) {
        if (!f->callbacks && !(f->callbacks = PyList_New(0)))
            added = -1;
        else
            added = PyList_Append(f->callbacks, fn) < 0 ? -1 : 1;
    }
    PYG_UNLOCK_OBJECT();
    if (added < 0)
        return NULL;
    if (added)
        Py_RETURN_NONE;
    PyObject *r = PyObject_CallOneArg(fn, self);
    if (!r)
        pyg_future_log_error(f);
    Py_XDECREF(r);
    Py_RETURN_NONE;
}

static PyObject *future_set_running_or_notify_cancel(PyObject *self,
                                                     PyObject *Py_UNUSED(ignored))
{
    pyg_future *f = (pyg_future *)self;
    enum future_state before;
    PYG_LOCK_OBJECT(f);
    before = f->state;
    if (before == PENDING)
        f->state = RUNNING;
    PYG_UNLOCK_OBJECT();
    if (before == CANCELLED || before == CANCELLED_AND_NOTIFIED)
        Py_RETURN_FALSE;
    if (before != PENDING) {
        PyErr_SetString(PyExc_RuntimeError, "Future in unexpected state");
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *future_set_result(PyObject *self, PyObject *result)
{
    if (settle((pyg_future *)self, Py_NewRef(result), NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *future_set_exception(PyObject *self, PyObject *exception)
{
    if (PyExceptionClass_Check(exception)) {
        exception = PyObject_CallNoArgs(exception);
        if (!exception)
            return NULL;
    } else if (PyExceptionInstance_Check(exception)) {
        Py_INCREF(exception);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must derive from BaseException, not %.200s",
                     Py_TYPE(exception)->tp_name);
        return NULL;
    }
    if (settle((pyg_future *)self, NULL, exception) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static const char *const state_descriptions[] = {
    "pending", "running", "cancelled", "cancelled", "finished"};

static PyObject *future_repr(PyObject *self)
{
    pyg_future *f = (pyg_future *)self;
    const char *name = Py_TYPE(self)->tp_name;
    const char *dot = strrchr(name, '.');
    name = dot ? dot + 1 : name;
    enum future_state s;
    PyObject *outcome_obj, *fn;
    bool raised;
    PYG_LOCK_OBJECT(f);
    s = f->state;
    raised = f->exception != NULL;
    outcome_obj = raised ? f->exception : f->result;
    Py_XINCREF(outcome_obj);
    fn = f->fn;
    Py_XINCREF(fn);
    PYG_UNLOCK_OBJECT();
    const char *state = state_descriptions[s];
    if (s == FINISHED) {
        Py_XDECREF(fn);
        PyObject *r = PyUnicode_FromFormat(
            "<%s at %p state=%s %s %s>", name, self, state,
            raised ? "raised" : "returned",
            outcome_obj ? Py_TYPE(outcome_obj)->tp_name : "NoneType");
        Py_XDECREF(outcome_obj);
        return r;
    }
    Py_XDECREF(outcome_obj);
    if (fn) {
        PyObject *qualname = PyObject_GetAttrString(fn, "__qualname__");
        Py_DECREF(fn);
        if (!qualname)
            PyErr_Clear();
        else if (!PyUnicode_Check(qualname))
            Py_CLEAR(qualname);
        PyObject *r = qualname ? PyUnicode_FromFormat("<%s at %p state=%s calling %U>",
                                                      name, self, state, qualname)
                               : PyUnicode_FromFormat("<%s at %p state=%s>", name,
                                                      self, state);
        Py_XDECREF(qualname);
        return r;
    }
    return PyUnicode_FromFormat("<%s at %p state=%s>", name, self, state);
}

static PyMethodDef future_methods[] = {
    {"cancel", future_cancel, METH_NOARGS,
     "cancel($self)\n--\n\nCancel the call unless it is running or done."},
    {"cancelled", future_cancelled, METH_NOARGS,
     "cancelled($self)\n--\n\nTrue if the call was cancelled."},
    {"running", future_running, METH_NOARGS,
     "running($self)\n--\n\nTrue while the call runs."},
    {"done", future_done, METH_NOARGS,
     "done($self)\n--\n\nTrue once finished or cancelled."},
    {"result", (PyCFunction)(void (*)(void))future_result,
     METH_FASTCALL | METH_KEYWORDS,
     "result($self, timeout=None, *, ctx=None)\n--\n\n"
     "Wait for the call and return its value, or raise its exception\n"
     "(CancelledError if cancelled, TimeoutError on timeout, ctx.err()'s type\n"
     "when ctx is done).  The wait releases the GIL and answers Ctrl-C.\n\n"
     "    fut = pool.submit(pow, 2, 10)\n"
     "    fut.result(timeout=5)   # 1024"},
    {"exception", (PyCFunction)(void (*)(void))future_exception,
     METH_FASTCALL | METH_KEYWORDS,
     "exception($self, timeout=None, *, ctx=None)\n--\n\n"
     "Wait like result() and return the call's exception, or None."},
    {"add_done_callback", future_add_done_callback, METH_O,
     "add_done_callback($self, fn)\n--\n\n"
     "Call fn(future) once done (at once if already done), on the thread\n"
     "that settles the future."},
    {"set_running_or_notify_cancel", future_set_running_or_notify_cancel,
     METH_NOARGS,
     "set_running_or_notify_cancel($self)\n--\n\n"
     "For executors: mark running, or return False if cancelled."},
    {"set_result", future_set_result, METH_O,
     "set_result($self, result)\n--\n\nSettle with a value (InvalidStateError if settled)."},
    {"set_exception", future_set_exception, METH_O,
     "set_exception($self, exception)\n--\n\nSettle with an exception."},
    {NULL, NULL, 0, NULL}};

PyDoc_STRVAR(future_doc,
"The C part of pygochan.Future; use Future.");

static PyType_Slot future_slots[] = {
    {Py_tp_doc, (void *)future_doc},
    {Py_tp_new, future_new},
    {Py_tp_init, future_init},
    {Py_tp_dealloc, future_dealloc},
    {Py_tp_finalize, future_finalize},
    {Py_tp_traverse, future_traverse},
    {Py_tp_clear, future_clear},
    {Py_tp_repr, future_repr},
    {Py_tp_methods, future_methods},
    {0, NULL}};

static PyType_Spec future_spec = {
    .name = "pygochan._core._FutureBase",
    .basicsize = sizeof(pyg_future),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = future_slots,
};

/* Called once, by pygochan/_futures.py as it defines Future: the type of
   the futures pyg_future_new_task makes.  Set before any pool can exist
   and never replaced, so it is read without a lock. */
static PyObject *module_set_future_type(PyObject *module, PyObject *type)
{
    pyg_state *st = PyModule_GetState(module);
    if (!PyType_Check(type) ||
        !PyType_IsSubtype((PyTypeObject *)type, st->future_base_type)) {
        PyErr_SetString(PyExc_TypeError,
                        "_set_future_type() needs a subclass of _FutureBase");
        return NULL;
    }
    if (st->future_type && st->future_type != (PyTypeObject *)type) {
        PyErr_SetString(PyExc_RuntimeError, "pygochan.Future is defined already");
        return NULL;
    }
    if (!st->future_type)
        st->future_type = (PyTypeObject *)Py_NewRef(type);
    Py_RETURN_NONE;
}

static PyMethodDef future_functions[] = {
    {"_set_future_type", module_set_future_type, METH_O,
     "_set_future_type(Future): the class of the futures a pool makes."},
    {NULL, NULL, 0, NULL}};

int pyg_future_init(PyObject *module, pyg_state *st)
{
    PyObject *base_mod = PyImport_ImportModule("concurrent.futures._base");
    if (!base_mod)
        return -1;
    int rc = -1;
    if (!(st->cancelled_error = PyObject_GetAttrString(base_mod, "CancelledError")) ||
        !(st->invalid_state_error =
              PyObject_GetAttrString(base_mod, "InvalidStateError")) ||
        !(st->futures_logger = PyObject_GetAttrString(base_mod, "LOGGER")))
        goto done;
    PyObject *cf_timeout = PyObject_GetAttrString(base_mod, "TimeoutError");
    if (!cf_timeout)
        goto done;
    if (cf_timeout == PyExc_TimeoutError) {
        st->future_timeout_error = cf_timeout;
    } else {
        /* Before 3.11 concurrent.futures had its own TimeoutError: raise one
           that both `except TimeoutError` and the old spelling catch. */
        PyObject *bases = PyTuple_Pack(2, cf_timeout, PyExc_TimeoutError);
        Py_DECREF(cf_timeout);
        if (!bases)
            goto done;
        st->future_timeout_error = PyErr_NewException(
            "pygochan.FutureTimeoutError", bases, NULL);
        Py_DECREF(bases);
        if (!st->future_timeout_error)
            goto done;
    }
    st->future_base_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &future_spec, NULL);
    if (!st->future_base_type ||
        PyModule_AddType(module, st->future_base_type) < 0 ||
        PyModule_AddFunctions(module, future_functions) < 0)
        goto done;
    /* What a result() wait raises on timeout, for Pool.map's waits too. */
    if (PyModule_AddObject(module, "_FutureTimeoutError",
                           Py_NewRef(st->future_timeout_error)) < 0) {
        Py_DECREF(st->future_timeout_error);
        goto done;
    }
    rc = 0;
done:
    Py_DECREF(base_mod);
    return rc;
}

/*
 * The loop driver of pygochan's operations (op.h), and the hub that wakes
 * an event loop; pygochan/_aio.py holds the Python half.
 *
 * _Hub: one per event loop, around a gc_hub (csrc/core/gc_hub.h).  Wakers on
 * any thread finish a parked operation by pushing it onto the hub; the
 * loop, woken through the hub's descriptor, calls take() on its own thread.
 *
 * _AsyncOp: one awaited operation, the same pyg_op a thread call runs,
 * built by the same builder when the coroutine method is called
 * (ch.arecv(), gc.aselect(...), ctx.adone(), pool.asubmit(...) ...).  It
 * is a coroutine object of its own (send/throw/close/__await__, so
 * asyncio.create_task takes it), and runs when first awaited:
 *
 *     the first step     a cancellation absorbed earlier is delivered;
 *                        pyg_op_try; committed -> StopIteration(result)
 *     else               _aio._park(op) takes over, and this object
 *                        forwards send/throw/close to it:
 *         op.park(hub, future)   register on the channels (the future is
 *                                what the task awaits: its cancel() is
 *                                op.abort())
 *         ... the hub's take() settles it, or op.abort() wins ...
 *         op.result()            the thread call's return value/exception
 *
 * Every method runs on the loop's thread with the GIL (or, free-threaded,
 * on that thread alone): all reference counting happens there, exactly like
 * the thread path.  Wakers only move core pointers.  The exceptions are the
 * hub's pending(), idle() and wait(), which only read: a loop without
 * add_reader has a thread of its own watch the hub for it.
 */
#include "op/loop.h"
#include "waitgroup.h"
#include "future.h"
#include "op/op.h"

#include <stddef.h>

#include "gc_hub.h"
#include "gc_wg.h"
#include "structmember.h"

enum aop_state {
    AOP_NEW,      /* made; not awaited yet */
    AOP_PARKED,   /* registered on its channels, in its hub's parked set */
    AOP_SETTLED,  /* the outcome is known (committed, or aborted) */
    AOP_CONSUMED  /* result() returned or raised it, or it was closed */
};

typedef struct {
    PyObject_HEAD
    gc_hub *hub; /* owned reference */
    /* The parked operations.  Each entry is that operation's registration
       reference: it stands for the pointers the channels' wait queues hold,
       which the GC cannot see, so the set is deliberately not traversed --
       a parked operation (and through its future, its task) is never
       collected from under a channel, like a blocked thread. */
    PyObject *parked;
    PyObject *weakreflist;
} pyg_hub;

/* What an _AsyncOp owns: the objects its op borrows (op.h) -- the channel
   or the tuple of cases, a send's value, the ctx's Context, the Pool or
   the object waited on -- and, once started, the hub and the future the
   task awaits while it is parked, and the _park coroutine it forwards to.
   Only its loop's thread touches it. */
typedef struct {
    PyObject_HEAD
    int state;
    PyObject *holds[4];       /* owned; NULL when unused */
    struct gc_wg_gen *wg_gen; /* a WaitGroup's generation waited on (owned) */
    PyObject *hub;            /* the pyg_hub while parked or until taken (owned) */
    PyObject *future;         /* what the loop awaits (owned), or NULL */
    PyObject *driver;         /* the _park coroutine once parked (owned) */
    pyg_op op;
} pyg_aop;

static pyg_aop *aop_of_waiter(gc_waiter *w)
{
    return (pyg_aop *)((char *)w - offsetof(pyg_aop, op) -
                       offsetof(pyg_op, sel) - offsetof(gc_select, waiter));
}

/* ---- the hub ---------------------------------------------------------- */

static PyObject *hub_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "_Hub() takes no arguments");
        return NULL;
    }
    pyg_hub *self = (pyg_hub *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->parked = PySet_New(NULL);
    if (!self->parked) {
        Py_DECREF(self);
        return NULL;
    }
    self->hub = gc_hub_new();
    if (!self->hub) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Hand back everything posted so far: each operation settled, out of the
   parked set, in completion order.  NULL on error (nothing is lost: the
   remaining operations are settled and released all the same). */
static PyObject *take_all(pyg_hub *self)
{
    PyObject *out = PyList_New(0);
    gc_waiter *w = gc_hub_take(self->hub);
    while (w) {
        gc_waiter *next = w->hub_next;
        pyg_aop *op = aop_of_waiter(w);
        if (op->state == AOP_PARKED) {
            pyg_op_settle_parked(&op->op);
            op->state = AOP_SETTLED;
        }
        if (out && PyList_Append(out, (PyObject *)op) < 0)
            Py_CLEAR(out);
        /* drops the registration reference (the list, if any, holds one) */
        if (PySet_Discard(self->parked, (PyObject *)op) < 0 && out)
            Py_CLEAR(out);
        w = next;
    }
    return out;
}

static PyObject *hub_take(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return take_all(self);
}

static PyObject *hub_pending(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(gc_hub_pending(self->hub));
}

/* The fallback watcher's sleep (a loop without add_reader): see
   gc_hub_wait.  Any thread; the GIL is released while it waits. */
static PyObject *hub_wait(pyg_hub *self, PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(seconds >= 0.0) || seconds > 86400.0) {
        PyErr_SetString(PyExc_ValueError,
                        "wait(timeout): 0 <= timeout <= 86400 seconds");
        return NULL;
    }
    int ms = (int)(seconds * 1000.0);
    bool pending;
    Py_BEGIN_ALLOW_THREADS
    pending = gc_hub_wait(self->hub, ms);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(pending);
}

/* True when no operation is parked here and none waits to be taken (a
   completed one stays in the parked set until take() hands it back).
   Any thread: the set changes only on the loop's. */
static PyObject *hub_idle(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(PySet_GET_SIZE(self->parked) == 0);
}

static PyObject *hub_fileno(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(gc_hub_fd(self->hub));
}

static PyObject *hub_parked_ops(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PySequence_List(self->parked);
}

static PyObject *hub_stats(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    gc_hub_stats s;
    gc_hub_get_stats(self->hub, &s);
    return Py_BuildValue("{s:n,s:K,s:K,s:K}", "parked",
                         PySet_GET_SIZE(self->parked), "posts",
                         (unsigned long long)s.posts, "signals",
                         (unsigned long long)s.signals, "takes",
                         (unsigned long long)s.takes);
}

static PyObject *hub_forget_fd(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    gc_hub_forget_fd_after_fork(self->hub);
    Py_RETURN_NONE;
}

static void hub_dealloc(pyg_hub *self)
{
    PyTypeObject *type = Py_TYPE(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->hub) {
        /* Parked operations hold the hub, so none is left; a take still
           releases anything posted after the last drain. */
        if (self->parked) {
            PyObject *rest = take_all(self);
            if (!rest)
                PyErr_Clear();
            Py_XDECREF(rest);
        }
        gc_hub_release(self->hub);
    }
    Py_XDECREF(self->parked);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef hub_methods[] = {
    {"take", (PyCFunction)hub_take, METH_NOARGS,
     "take($self)\n--\n\nThe operations completed since the last take, settled."},
    {"pending", (PyCFunction)hub_pending, METH_NOARGS,
     "pending($self)\n--\n\nTrue when take() would return something."},
    {"wait", (PyCFunction)hub_wait, METH_O,
     "wait($self, timeout, /)\n--\n\nSleep (GIL released) until signalled "
     "or timeout seconds pass; consume the signal; True if a take would "
     "return something."},
    {"idle", (PyCFunction)hub_idle, METH_NOARGS,
     "idle($self, /)\n--\n\nTrue when no operation is parked here or "
     "waits to be taken."},
    {"fileno", (PyCFunction)hub_fileno, METH_NOARGS,
     "fileno($self)\n--\n\nThe descriptor that is readable while completions wait."},
    {"parked_ops", (PyCFunction)hub_parked_ops, METH_NOARGS,
     "parked_ops($self)\n--\n\nThe operations registered and not yet taken."},
    {"stats", (PyCFunction)hub_stats, METH_NOARGS,
     "stats($self)\n--\n\nparked, posts, signals (descriptor writes), takes."},
    {"_forget_fd_after_fork", (PyCFunction)hub_forget_fd, METH_NOARGS,
     "In a fork child: close the descriptor shared with the parent."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef hub_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_hub, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyType_Slot hub_slots[] = {
    {Py_tp_doc, (void *)"_Hub()\n--\n\nCompletions for one event loop "
                        "(internal; see pygochan._aio)."},
    {Py_tp_new, hub_new},
    {Py_tp_dealloc, hub_dealloc},
    {Py_tp_methods, hub_methods},
    {Py_tp_members, hub_members},
    {0, NULL}};

static PyType_Spec hub_spec = {
    .name = "pygochan._core._Hub",
    .basicsize = sizeof(pyg_hub),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = hub_slots,
};

/* ---- the awaited operation -------------------------------------------- */

static pyg_state *aop_state(pyg_aop *a)
{
    return pyg_state_of_type(Py_TYPE(a));
}

PyObject *pyg_awaitable_new(pyg_state *st, pyg_op **op, PyObject *hold0,
                            PyObject *hold1, PyObject *hold2, PyObject *hold3)
{
    pyg_aop *a = PyObject_GC_New(pyg_aop, st->aop_type);
    if (!a)
        return NULL;
    a->state = AOP_NEW;
    a->holds[0] = Py_XNewRef(hold0);
    a->holds[1] = Py_XNewRef(hold1);
    a->holds[2] = Py_XNewRef(hold2);
    a->holds[3] = Py_XNewRef(hold3);
    a->wg_gen = NULL;
    a->hub = NULL;
    a->future = NULL;
    a->driver = NULL;
    a->op.st = NULL; /* not built yet: nothing to release */
    PyObject_GC_Track(a);
    *op = &a->op;
    return (PyObject *)a;
}

static int aop_traverse(pyg_aop *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    for (int i = 0; i < 4; i++)
        Py_VISIT(self->holds[i]);
    Py_VISIT(self->hub);
    Py_VISIT(self->future);
    Py_VISIT(self->driver);
    /* Offered and received values are the core's, like a blocked call's. */
    return 0;
}

static int aop_clear(pyg_aop *self)
{
    /* Only the future and the driver can close a cycle (future -> task ->
       coroutine -> this op; driver -> its frame -> this op); the channels
       must stay while a value may go back. */
    Py_CLEAR(self->future);
    Py_CLEAR(self->driver);
    return 0;
}

static void aop_dealloc(pyg_aop *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* Never parked here: the hub's parked set holds parked operations.  A
       receive nobody will ever see is undone. */
    if (self->op.st)
        pyg_op_release(&self->op);
    if (self->wg_gen)
        gc_wg_gen_release(self->wg_gen);
    Py_CLEAR(self->future);
    Py_CLEAR(self->driver);
    Py_CLEAR(self->hub);
    for (int i = 0; i < 4; i++)
        Py_CLEAR(self->holds[i]);
    type->tp_free(self);
    Py_DECREF(type);
}

/* The settled op's outcome, once: a new reference, or NULL with the
   exception the thread call would raise. */
static PyObject *take_result(pyg_aop *self)
{
    if (self->state != AOP_SETTLED) {
        PyErr_SetString(PyExc_RuntimeError, self->state == AOP_CONSUMED
                                                ? "result already taken"
                                                : "operation not settled");
        return NULL;
    }
    self->state = AOP_CONSUMED;
    PyObject *result = pyg_op_result(&self->op);
    pyg_op_release(&self->op);
    return result;
}

/* End a step with the operation's outcome: StopIteration(result). */
static PyObject *stop_with_result(pyg_aop *self)
{
    PyObject *result = take_result(self);
    if (!result)
        return NULL;
    if (result == Py_None) {
        Py_DECREF(result);
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    /* as CPython's generators do: a tuple or an exception as the value
       must not be taken for the exception's arguments */
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
    Py_DECREF(result);
    if (stop) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

/* The first step of an await: deliver a cancellation a hand-off absorbed
   earlier, try once, and either end with the outcome or hand the wait to
   _aio._park, whose iterator this object forwards to from then on. */
static PyObject *aop_first_step(pyg_aop *self)
{
    pyg_state *st = aop_state(self);
    if (!st->aio_park) {
        PyErr_SetString(PyExc_RuntimeError, "pygochan._aio is not loaded");
        return NULL;
    }
    if (self->op.st == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "operation not built");
        return NULL;
    }
    /* A signal already pending is answered at the start of the step, where
       raising has no effect, as at the entry of any coroutine; the try's
       own checks (before a send, after a receive) cover the rest. */
    bool stop = PyErr_CheckSignals() < 0;
    if (!stop && GC_UNLIKELY(gc_bubble_tls != NULL)) {
        /* An event loop keeps its own clock (loop.time(), its call_at
           heap), which a bubble cannot move: its timeouts and sleeps would
           run on real time while the bubble's jumped. */
        PyErr_SetString(PyExc_RuntimeError,
                        "pygochan cannot be awaited inside a testing bubble: an event "
                        "loop's clock is not virtual; run the loop outside the bubble, "
                        "or use threads inside it");
        stop = true;
    }
    if (!stop && PyDict_GET_SIZE(st->aio_redeliver) > 0) {
        PyObject *r = PyObject_CallNoArgs(st->aio_pending_cancel);
        stop = r == NULL;
        Py_XDECREF(r);
    }
    if (stop) {
        self->state = AOP_CONSUMED; /* nothing happened */
        pyg_op_release(&self->op);
        return NULL;
    }
    /* timeout= counts from the await, as a coroutine's body would start
       its clock, not from the call that made the awaitable */
    if (self->op.timeout.seconds > 0)
        self->op.timeout.deadline_ns = gc_deadline_after(self->op.timeout.seconds);
    enum gc_status status = pyg_op_try(&self->op);
    if (status == GC_NOT_READY &&
        (self->op.nonblocking || !self->op.timeout.blocking))
        pyg_op_abort(&self->op); /* one attempt only: settled, given up */
    else if (status == GC_NOT_READY)
        (void)pyg_op_spin(&self->op);
    if (self->op.settled) {
        self->state = AOP_SETTLED;
        return stop_with_result(self);
    }
    self->driver = PyObject_CallOneArg(st->aio_park, (PyObject *)self);
    if (!self->driver) {
        pyg_op_abort(&self->op);
        self->state = AOP_CONSUMED;
        pyg_op_release(&self->op);
        return NULL;
    }
    return Py_TYPE(self->driver)->tp_iternext(self->driver);
}

static PyObject *aop_iternext(pyg_aop *self)
{
    if (self->driver)
        return Py_TYPE(self->driver)->tp_iternext(self->driver);
    if (self->state != AOP_NEW || self->op.settled) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse already awaited pygochan operation");
        return NULL;
    }
    return aop_first_step(self);
}

static PyObject *aop_send(pyg_aop *self, PyObject *value)
{
    if (self->driver)
        return PyObject_CallMethod(self->driver, "send", "O", value);
    if (value != Py_None && self->state == AOP_NEW) {
        PyErr_SetString(PyExc_TypeError,
                        "can't send non-None value to a just-started coroutine");
        return NULL;
    }
    PyObject *r = aop_iternext(self);
    if (!r && !PyErr_Occurred())
        PyErr_SetNone(PyExc_StopIteration);
    return r;
}

static PyObject *aop_throw(pyg_aop *self, PyObject *args)
{
    if (self->driver) {
        PyObject *meth = PyObject_GetAttrString(self->driver, "throw");
        if (!meth)
            return NULL;
        PyObject *r = PyObject_Call(meth, args, NULL);
        Py_DECREF(meth);
        return r;
    }
    /* Never started (or finished): nothing happened; the exception goes
       straight out, as from a coroutine that never ran. */
    if (self->state == AOP_NEW && self->op.st) {
        pyg_op_abort(&self->op);
        pyg_op_release(&self->op);
    }
    self->state = AOP_CONSUMED;
    PyObject *typ, *val = NULL, *tb = NULL;
    if (!PyArg_UnpackTuple(args, "throw", 1, 3, &typ, &val, &tb))
        return NULL;
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val && val != Py_None ? val : NULL);
    } else {
        PyErr_SetString(PyExc_TypeError,
                        "exceptions must be classes or instances deriving "
                        "from BaseException");
        return NULL;
    }
    if (tb && tb != Py_None && PyTraceBack_Check(tb)) {
        PyObject *t, *v, *old_tb;
        PyErr_Fetch(&t, &v, &old_tb);
        PyErr_NormalizeException(&t, &v, &old_tb);
        Py_XDECREF(old_tb);
        PyException_SetTraceback(v, tb);
        PyErr_Restore(t, v, Py_NewRef(tb));
    }
    return NULL;
}

static PyObject *aop_close(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    if (self->driver)
        return PyObject_CallMethod(self->driver, "close", NULL);
    if (self->state == AOP_NEW && self->op.st) {
        pyg_op_abort(&self->op);
        self->state = AOP_CONSUMED;
        pyg_op_release(&self->op);
    }
    Py_RETURN_NONE;
}

static PyObject *aop_await(pyg_aop *self)
{
    return Py_NewRef((PyObject *)self);
}

/* ---- the steps _aio._park drives ---------------------------------------- */

static PyObject *aop_park(pyg_aop *self, PyObject *const *args,
                          Py_ssize_t nargs)
{
    pyg_state *st = aop_state(self);
    if (nargs != 2 || !Py_IS_TYPE(args[0], st->hub_type)) {
        PyErr_SetString(PyExc_TypeError, "park(hub, future)");
        return NULL;
    }
    if (self->state != AOP_NEW || self->op.settled) {
        PyErr_SetString(PyExc_RuntimeError, "operation already parked or settled");
        return NULL;
    }
    pyg_hub *hub = (pyg_hub *)args[0];
    /* The registration reference first: once registered, a waker on any
       thread may post this op at once. */
    if (PySet_Add(hub->parked, (PyObject *)self) < 0)
        return NULL;
    Py_XSETREF(self->future, Py_NewRef(args[1]));
    Py_XSETREF(self->hub, Py_NewRef(args[0]));
    if (pyg_op_register(&self->op, hub->hub) == GC_NOT_READY) {
        self->state = AOP_PARKED;
        Py_RETURN_TRUE;
    }
    self->state = AOP_SETTLED;
    Py_CLEAR(self->hub);
    Py_INCREF(self); /* the set's reference may be the last but one */
    int rc = PySet_Discard(hub->parked, (PyObject *)self);
    Py_DECREF(self);
    if (rc < 0)
        return NULL;
    Py_RETURN_FALSE;
}

/* Give up: True if the abort won (nothing happened anywhere), False if a
   waker committed first (the outcome is then settled and result() has it;
   the op stays in its hub until the hub hands it back). */
static PyObject *aop_abort(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == AOP_NEW && self->op.st) {
        pyg_op_abort(&self->op);
        self->state = AOP_SETTLED;
        Py_RETURN_TRUE;
    }
    if (self->state != AOP_PARKED)
        return PyBool_FromLong(self->op.st && self->op.aborted);
    self->state = AOP_SETTLED;
    if (!pyg_op_abort(&self->op))
        Py_RETURN_FALSE;
    pyg_hub *hub = (pyg_hub *)self->hub;
    self->hub = NULL;
    Py_INCREF(self);
    int rc = PySet_Discard(hub->parked, (PyObject *)self);
    Py_DECREF(self);
    Py_DECREF(hub);
    if (rc < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *aop_result(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    return take_result(self);
}

/* Undo a committed receive whose value will not be returned. */
static PyObject *aop_give_back(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    bool had = self->op.st && pyg_op_give_back(&self->op);
    if (had && self->state == AOP_SETTLED)
        self->state = AOP_CONSUMED;
    return PyBool_FromLong(had);
}

static PyObject *aop_get_moved(pyg_aop *self, void *Py_UNUSED(c))
{
    /* True when a value changed hands: a hand-off, which a cancellation
       arriving late cannot undo (a close or a ctx case moved nothing). */
    bool settled = self->state == AOP_SETTLED || self->state == AOP_CONSUMED;
    return PyBool_FromLong(settled && self->op.st && pyg_op_moved(&self->op));
}

static PyObject *aop_get_delay(pyg_aop *self, void *Py_UNUSED(c))
{
    /* seconds until the deadline (None: no timeout) */
    if (self->op.timeout.deadline_ns == GC_FOREVER)
        Py_RETURN_NONE;
    int64_t left = self->op.timeout.deadline_ns - gc_now_ns();
    return PyFloat_FromDouble(left > 0 ? (double)left / 1e9 : 0.0);
}

static PyObject *aop_get_state(pyg_aop *self, void *Py_UNUSED(c))
{
    static const char *const names[] = {"new", "parked", "settled", "consumed"};
    return PyUnicode_FromString(names[self->state]);
}

static PyMethodDef aop_methods[] = {
    {"send", (PyCFunction)aop_send, METH_O,
     "send($self, value, /)\n--\n\nThe coroutine protocol: the next step."},
    {"throw", (PyCFunction)aop_throw, METH_VARARGS,
     "throw($self, typ, val=None, tb=None, /)\n--\n\nThe coroutine protocol: "
     "raise into the awaited operation."},
    {"close", (PyCFunction)aop_close, METH_NOARGS,
     "close($self, /)\n--\n\nThe coroutine protocol: give up with no effect."},
    {"park", (PyCFunction)(void (*)(void))aop_park, METH_FASTCALL,
     "park($self, hub, future, /)\n--\n\nRegister on the channels: True if "
     "parked, False if it committed meanwhile."},
    {"abort", (PyCFunction)aop_abort, METH_NOARGS,
     "abort($self)\n--\n\nGive up: True if nothing happened, False if a waker "
     "committed first."},
    {"result", (PyCFunction)aop_result, METH_NOARGS,
     "result($self)\n--\n\nThe settled outcome, as the thread call returns "
     "or raises it."},
    {"give_back", (PyCFunction)aop_give_back, METH_NOARGS,
     "give_back($self)\n--\n\nUndo a committed receive that will not be "
     "returned: True if a value went back."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef aop_members[] = {
    {"future", T_OBJECT, offsetof(pyg_aop, future), READONLY,
     "What the loop awaits while the operation is parked."},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef aop_getset[] = {
    {"moved", (getter)aop_get_moved, NULL,
     "True when the committed outcome moved a value.", NULL},
    {"delay", (getter)aop_get_delay, NULL,
     "Seconds left until timeout= (None: none).", NULL},
    {"state", (getter)aop_get_state, NULL, "The operation's state.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot aop_slots[] = {
    {Py_tp_doc, (void *)"One awaited pygochan operation: a coroutine that "
                        "sends, receives, selects or waits when awaited."},
    {Py_tp_dealloc, aop_dealloc},
    {Py_tp_traverse, aop_traverse},
    {Py_tp_clear, aop_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, aop_iternext},
    {Py_am_await, aop_await},
    {Py_tp_methods, aop_methods},
    {Py_tp_members, aop_members},
    {Py_tp_getset, aop_getset},
    {0, NULL}};

static PyType_Spec aop_spec = {
    .name = "pygochan._core._AsyncOp",
    .basicsize = sizeof(pyg_aop),
    .flags = PYG_INTERNAL_GC_TYPE_FLAGS,
    .slots = aop_slots,
};

/* ---- awaitables made here ------------------------------------------------ */

PyObject *pyg_awaitable_closed(pyg_state *st, PyObject *target, gc_chan *chan,
                               bool closed_already, const char *name,
                               PyObject *timeout_error, PyObject *timeout_obj,
                               PyObject *ctx_obj)
{
    pyg_op *op;
    PyObject *aw = pyg_awaitable_new(st, &op, target, ctx_obj, NULL, NULL);
    if (aw && pyg_op_closed(op, st, chan, closed_already, name, timeout_error,
                            target, timeout_obj, ctx_obj) < 0)
        Py_CLEAR(aw);
    return aw;
}

/* _aop_closed(obj, timeout, ctx): wait for a WaitGroup to reach zero or a
   Future to settle. */
static PyObject *module_aop_closed(PyObject *module, PyObject *const *args,
                                   Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_aop_closed() takes 3 arguments");
        return NULL;
    }
    PyObject *obj = args[0];
    if (PyObject_TypeCheck(obj, st->wait_group_type)) {
        struct gc_wg_gen *gen = pyg_wait_group_gen(obj); /* NULL at zero */
        PyObject *aw = pyg_awaitable_closed(st, obj, gen ? gc_wg_gen_chan(gen) : NULL,
                                            gen == NULL, "wait", NULL, args[1],
                                            args[2]);
        if (aw)
            ((pyg_aop *)aw)->wg_gen = gen;
        else if (gen)
            gc_wg_gen_release(gen);
        return aw;
    }
    if (PyObject_TypeCheck(obj, st->future_base_type)) {
        gc_chan *done = pyg_future_done_chan(obj); /* lives as long as obj */
        if (!done && PyErr_Occurred())
            return NULL;
        /* fut.aresult(timeout=): the class fut.result(timeout=) raises,
           also concurrent.futures.TimeoutError before 3.11 */
        return pyg_awaitable_closed(st, obj, done, done == NULL, "result",
                                    st->future_timeout_error, args[1], args[2]);
    }
    PyErr_Format(PyExc_TypeError, "expected a WaitGroup or a Future, not %.200s",
                 Py_TYPE(obj)->tp_name);
    return NULL;
}

/* _set_loop_driver(park, redeliver, pending_cancel): pygochan._aio's half,
   given once while pygochan is imported. */
static PyObject *module_set_loop_driver(PyObject *module, PyObject *const *args,
                                        Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 3 || !PyCallable_Check(args[0]) || !PyDict_Check(args[1]) ||
        !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "_set_loop_driver(park, redeliver: dict, pending_cancel)");
        return NULL;
    }
    Py_XSETREF(st->aio_park, Py_NewRef(args[0]));
    Py_XSETREF(st->aio_redeliver, Py_NewRef(args[1]));
    Py_XSETREF(st->aio_pending_cancel, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

static PyMethodDef aio_functions[] = {
    {"_aop_closed", (PyCFunction)(void (*)(void))module_aop_closed, METH_FASTCALL,
     "_aop_closed(obj, timeout, ctx)\n--\n\n"
     "An awaitable wait for a WaitGroup or Future (internal)."},
    {"_set_loop_driver", (PyCFunction)(void (*)(void))module_set_loop_driver,
     METH_FASTCALL,
     "_set_loop_driver(park, redeliver, pending_cancel)\n--\n\n"
     "The Python half of the loop driver (internal; see pygochan._aio)."},
    {NULL, NULL, 0, NULL}};

int pyg_aio_traverse(pyg_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->aio_park);
    Py_VISIT(st->aio_redeliver);
    Py_VISIT(st->aio_pending_cancel);
    return 0;
}

void pyg_aio_clear(pyg_state *st)
{
    Py_CLEAR(st->aio_park);
    Py_CLEAR(st->aio_redeliver);
    Py_CLEAR(st->aio_pending_cancel);
}

int pyg_aio_init(PyObject *module, pyg_state *st)
{
    st->hub_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &hub_spec, NULL);
    if (!st->hub_type)
        return -1;
    st->aop_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &aop_spec, NULL);
    if (!st->aop_type)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->aop_type->tp_new = NULL;
#endif
    if (PyModule_AddType(module, st->hub_type) < 0 ||
        PyModule_AddType(module, st->aop_type) < 0 ||
        PyModule_AddFunctions(module, aio_functions) < 0)
        return -1;
    return 0;
}

/* gc.sleep and the testing bubble's binding (pygochan.testing, gc_bubble.h).
 *
 * _Bubble is a bubble; _BubbleMember one thread's membership, made before
 * the thread runs (by the thread entering the bubble, or by threading's
 * start() on a member thread: pygochan/testing/_bubble.py) and ended once:
 * by its thread leaving, or by the starter if the thread never ran.  Every
 * member holds a reference to its _Bubble, whose gc_bubble's user pointer
 * names it (borrowed), so a member thread can always find its bubble. */
#include "state.h"
#include "args.h"
#include "op/op.h"
#include "op/thread.h"

#include "gc_bubble.h"

#include <stdatomic.h>

/* How long a WAIT or EXIT park sleeps at most before it runs signal
   handlers (Ctrl-C within 100 ms). */
#define BUBBLE_SLICE_NS (50 * 1000 * 1000)

typedef struct {
    PyObject_HEAD
    gc_bubble *bubble; /* owned reference */
} pyg_bubble;

enum { MEMBER_RESERVED = 0, MEMBER_IN = 1, MEMBER_GONE = 2 };

typedef struct {
    PyObject_HEAD
    PyObject *owner;         /* the _Bubble: a strong reference */
    gc_bubble_member *member; /* freed by gc_bubble_remove_member */
    atomic_int state;         /* MEMBER_*: who ends it, once */
} pyg_bubble_member;

/* ---- gc.sleep ---------------------------------------------------------- */

static PyObject *sleep_fn(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    static const char *const kwlist[] = {"ctx", NULL};
    PyObject *argv[2];
    pyg_state *st = PyModule_GetState(module);
    if (pyg_parse_args("sleep", args, nargs, kwnames, 1, kwlist, argv) < 0)
        return NULL;
    double seconds;
    if (pyg_parse_seconds(argv[0], "seconds", true, &seconds) < 0)
        return NULL;
    /* A wait on a channel that never closes, for timeout=seconds: its
       timeout is the sleep's end. */
    pyg_op op;
    if (pyg_op_closed(&op, st, NULL, false, "sleep", NULL, NULL, argv[0], argv[1]) < 0)
        return NULL;
    if (pyg_op_try(&op) == GC_NOT_READY)
        pyg_op_block(&op);
    PyObject *result;
    if (op.settled && op.status == GC_TIMEOUT)
        result = Py_NewRef(Py_None);
    else
        result = pyg_op_result(&op);
    pyg_op_release(&op);
    return result;
}

/* ---- _BubbleMember ----------------------------------------------------- */

static PyObject *member_new(pyg_state *st, PyObject *owner, gc_bubble_member *m)
{
    pyg_bubble_member *self = PyObject_GC_New(pyg_bubble_member, st->bubble_member_type);
    if (!self) {
        gc_bubble_remove_member(m);
        return NULL;
    }
    self->owner = Py_NewRef(owner);
    self->member = m;
    atomic_init(&self->state, MEMBER_RESERVED);
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static bool member_claim(pyg_bubble_member *self, int from, int to)
{
    int expected = from;
    return atomic_compare_exchange_strong(&self->state, &expected, to);
}

static PyObject *member_enter(pyg_bubble_member *self, PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "name must be a str");
        return NULL;
    }
    if (gc_bubble_self()) {
        PyErr_SetString(PyExc_RuntimeError, "this thread is in a bubble already");
        return NULL;
    }
    const char *text = PyUnicode_AsUTF8(name);
    if (!text)
        return NULL;
    if (!member_claim(self, MEMBER_RESERVED, MEMBER_IN))
        Py_RETURN_FALSE; /* its starter gave it up: the thread runs outside */
    gc_bubble_enter(self->member, PyThread_get_thread_ident(), text);
    Py_RETURN_TRUE;
}

static PyObject *member_leave(pyg_bubble_member *self, PyObject *Py_UNUSED(ignored))
{
    if (gc_bubble_self() != self->member || !member_claim(self, MEMBER_IN, MEMBER_GONE)) {
        PyErr_SetString(PyExc_RuntimeError, "leave() belongs to the member's own thread");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    gc_bubble_remove_member(self->member);
    Py_END_ALLOW_THREADS
    self->member = NULL;
    Py_RETURN_NONE;
}

static PyObject *member_cancel(pyg_bubble_member *self, PyObject *Py_UNUSED(ignored))
{
    if (!member_claim(self, MEMBER_RESERVED, MEMBER_GONE))
        Py_RETURN_FALSE;
    gc_bubble_member *m = self->member;
    self->member = NULL;
    Py_BEGIN_ALLOW_THREADS
    gc_bubble_remove_member(m);
    Py_END_ALLOW_THREADS
    Py_RETURN_TRUE;
}

static int member_traverse(pyg_bubble_member *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->owner);
    return 0;
}

static int member_clear(pyg_bubble_member *self)
{
    Py_CLEAR(self->owner);
    return 0;
}

static void member_dealloc(pyg_bubble_member *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* A reservation nobody used (its thread object died unstarted) must not
       hold the bubble's time still. */
    if (member_claim(self, MEMBER_RESERVED, MEMBER_GONE)) {
        /* Leaving may settle the bubble, firing its timers: never with the
           GIL held (what their callbacks release must not run here). */
        gc_bubble_member *m = self->member;
        Py_BEGIN_ALLOW_THREADS
        gc_bubble_remove_member(m);
        Py_END_ALLOW_THREADS
    }
    member_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef member_methods[] = {
    {"enter", (PyCFunction)member_enter, METH_O,
     "enter($self, name, /)\n--\n\nOn the new thread: join the bubble (False if the "
     "reservation was given up)."},
    {"leave", (PyCFunction)member_leave, METH_NOARGS,
     "leave($self, /)\n--\n\nOn the member's thread, as it ends: leave the bubble."},
    {"cancel", (PyCFunction)member_cancel, METH_NOARGS,
     "cancel($self, /)\n--\n\nThe thread never ran: give the reservation up "
     "(False if the thread entered first)."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot member_slots[] = {
    {Py_tp_doc, (void *)"One thread's membership of a testing bubble."},
    {Py_tp_dealloc, member_dealloc},
    {Py_tp_traverse, member_traverse},
    {Py_tp_clear, member_clear},
    {Py_tp_methods, member_methods},
    {0, NULL}};

#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define MEMBER_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION)
#else
#define MEMBER_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

static PyType_Spec member_spec = {
    .name = "pygochan._core._BubbleMember",
    .basicsize = sizeof(pyg_bubble_member),
    .flags = MEMBER_FLAGS,
    .slots = member_slots,
};

/* ---- _Bubble ----------------------------------------------------------- */


/* A bubble's clock starts at the real time of entry rounded down to a
   multiple of 1/512 s (less than 2 ms earlier) and reads, in seconds, as a
   whole number of 512ths plus the rest: so the difference of two readings
   is exact for every duration that is a multiple of 1/512 s (3600, 0.5,
   60.75), and start + such a duration converts back to nanoseconds
   exactly -- a test's `b.now() - start == 10` holds, whatever the machine's
   uptime. */
#define BUBBLE_GRAIN_NS 1953125 /* 1/512 s */

static double virtual_seconds(int64_t ns)
{
    int64_t grains = ns / BUBBLE_GRAIN_NS;
    return (double)grains / 512.0 + (double)(ns - grains * BUBBLE_GRAIN_NS) / 1e9;
}

static PyObject *bubble_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((args && PyTuple_GET_SIZE(args) > 0) || (kwds && PyDict_GET_SIZE(kwds) > 0)) {
        PyErr_SetString(PyExc_TypeError, "_Bubble() takes no arguments");
        return NULL;
    }
    pyg_bubble *self = (pyg_bubble *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    int64_t entry = gc_real_now_ns();
    self->bubble = gc_bubble_new(entry - entry % BUBBLE_GRAIN_NS, self);
    if (!self->bubble) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void bubble_dealloc(pyg_bubble *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    gc_bubble_release(self->bubble);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* A membership for a thread about to start (or, enter=True, for the
   calling thread, which joins at once). */
static PyObject *bubble_add(pyg_bubble *self, PyObject *Py_UNUSED(ignored))
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    gc_bubble_member *m = gc_bubble_add_member(self->bubble);
    if (!m)
        return PyErr_NoMemory();
    return member_new(st, (PyObject *)self, m);
}

static PyObject *bubble_now(pyg_bubble *self, PyObject *Py_UNUSED(ignored))
{
    return PyFloat_FromDouble(virtual_seconds(gc_bubble_now_ns(self->bubble)));
}

static PyObject *bubble_get_members(pyg_bubble *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(gc_bubble_members(self->bubble));
}

static PyObject *bubble_get_advances(pyg_bubble *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(gc_bubble_advances(self->bubble));
}

/* Park the calling member until the bubble wakes it (kind WAIT or EXIT). */
static PyObject *bubble_park(pyg_bubble *self, enum gc_bubble_park_kind kind,
                             const char *op)
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    gc_bubble_member *m = gc_bubble_self();
    if (!m || gc_bubble_of(m) != self->bubble) {
        PyErr_Format(PyExc_RuntimeError, "%s must be called by a thread of the bubble", op);
        return NULL;
    }
    enum gc_bubble_wake woke;
    Py_BEGIN_ALLOW_THREADS
    gc_bubble_park(m, kind, op, GC_FOREVER, NULL, NULL, 0, true);
    Py_END_ALLOW_THREADS
    for (;;) {
        enum gc_park_result r;
        Py_BEGIN_ALLOW_THREADS
        r = gc_bubble_sleep(m, gc_real_now_ns() + BUBBLE_SLICE_NS);
        Py_END_ALLOW_THREADS
        if (r == GC_PARK_WOKEN)
            break;
        if (PyErr_CheckSignals() < 0) {
            Py_BEGIN_ALLOW_THREADS
            gc_bubble_unpark(m);
            Py_END_ALLOW_THREADS
            return NULL;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    woke = gc_bubble_unpark(m);
    Py_END_ALLOW_THREADS
    if (woke == GC_BUBBLE_DEADLOCK) {
        pyg_raise_bubble_deadlock(st, self->bubble, op, NULL, 0);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *bubble_wait(pyg_bubble *self, PyObject *Py_UNUSED(ignored))
{
    return bubble_park(self, GC_BUBBLE_WAIT, "bubble.wait()");
}

static PyObject *bubble_join_others(pyg_bubble *self, PyObject *Py_UNUSED(ignored))
{
    return bubble_park(self, GC_BUBBLE_EXIT, "the end of the bubble's threads");
}

static PyObject *bubble_current(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    gc_bubble_member *m = gc_bubble_self();
    if (!m)
        Py_RETURN_NONE;
    /* Alive: this thread's membership holds a reference to it. */
    return Py_NewRef((PyObject *)gc_bubble_user(gc_bubble_of(m)));
}

static PyObject *monotonic_fn(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (gc_bubble_tls != NULL)
        return PyFloat_FromDouble(virtual_seconds(gc_now_ns()));
    return PyFloat_FromDouble((double)gc_now_ns() / 1e9);
}

static PyMethodDef bubble_methods[] = {
    {"_add", (PyCFunction)bubble_add, METH_NOARGS,
     "_add($self, /)\n--\n\nA new membership, counted as running until it ends."},
    {"now", (PyCFunction)bubble_now, METH_NOARGS,
     "now($self, /)\n--\n\nThe bubble's virtual time.monotonic()."},
    {"wait", (PyCFunction)bubble_wait, METH_NOARGS,
     "wait($self, /)\n--\n\nUntil every other thread of the bubble is durably blocked."},
    {"_join_others", (PyCFunction)bubble_join_others, METH_NOARGS,
     "_join_others($self, /)\n--\n\nUntil the calling thread is the bubble's last "
     "(Deadlock if the others can never end)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef bubble_getset[] = {
    {"members", (getter)bubble_get_members, NULL, "Threads in the bubble now.", NULL},
    {"advances", (getter)bubble_get_advances, NULL,
     "How many times the virtual clock has jumped.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot bubble_slots[] = {
    {Py_tp_doc, (void *)"The C part of pygochan.testing.Bubble."},
    {Py_tp_new, bubble_new},
    {Py_tp_dealloc, bubble_dealloc},
    {Py_tp_methods, bubble_methods},
    {Py_tp_getset, bubble_getset},
    {0, NULL}};

static PyType_Spec bubble_spec = {
    .name = "pygochan._core._Bubble",
    .basicsize = sizeof(pyg_bubble),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = bubble_slots,
};

static PyMethodDef bubble_functions[] = {
    {"sleep", (PyCFunction)(void (*)(void))sleep_fn, METH_FASTCALL | METH_KEYWORDS,
     "sleep(seconds, *, ctx=None)\n--\n\n"
     "Go's time.Sleep: block for seconds (GIL released), ended early by ctx\n"
     "(raising its error) and by Ctrl-C; on the virtual clock in a testing bubble.\n\n"
     ">>> gc.sleep(0.5)\n"},
    {"_bubble_current", bubble_current, METH_NOARGS,
     "_bubble_current()\n--\n\nThe calling thread's _Bubble, or None."},
    {"_monotonic", monotonic_fn, METH_NOARGS,
     "_monotonic()\n--\n\npygochan's clock: time.monotonic(), or a testing bubble's "
     "virtual clock on its threads."},
    {NULL, NULL, 0, NULL}};

int pyg_bubble_init(PyObject *module, pyg_state *st)
{
    st->bubble_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &bubble_spec, NULL);
    if (!st->bubble_type)
        return -1;
    st->bubble_member_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &member_spec, NULL);
    if (!st->bubble_member_type)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->bubble_member_type->tp_new = NULL; /* made by _Bubble._add() only */
#endif
    if (PyModule_AddObject(module, "_Bubble", Py_NewRef((PyObject *)st->bubble_type)) < 0)
        return -1;
    return PyModule_AddFunctions(module, bubble_functions);
}

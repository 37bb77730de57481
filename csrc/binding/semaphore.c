/* The C part of Semaphore (golang.org/x/sync/semaphore's weighted one).
 *
 * In C so that taking units and returning to the caller agree: a signal
 * handler runs right after a call returns into Python code, so a Python
 * acquire that had counted the units could still raise before its caller
 * saw it return, and the units stayed taken forever.  Here acquire either
 * returns, holding the units (a KeyboardInterrupt then lands in the
 * caller, after the call), or raises holding nothing.
 *
 * Waiters queue FIFO, each with a Channel(1) that receives None when its
 * units are granted; the channel's own recv does the waiting (GIL
 * released, timeout=/ctx=, Ctrl-C, blocked()).  A waiter's node lives on
 * its acquire's C stack: it leaves the queue (granted, or removed on
 * giving up) before that call returns.
 */
#include "args.h"
#include "channel.h"
#include "op/op.h"

#include "structmember.h"

typedef struct sem_waiter {
    struct sem_waiter *next;
    int64_t n;
    gc_chan *granted; /* of the waiter's Channel(1), which the waiter owns */
} sem_waiter;

typedef struct {
    PyObject_HEAD
    pyg_mutex lock;  /* guards the fields below */
    int64_t size;    /* immutable */
    int64_t held;
    sem_waiter *head, *tail;
    Py_ssize_t waiting;
    PyObject *weakreflist;
} pyg_semaphore;

/* A unit count: an int >= 1 (bool refused). */
static int parse_units(PyObject *obj, int64_t *n, const char *what)
{
    if (PyBool_Check(obj) || !PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow < 0 || (!overflow && v < 1)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 1", what);
        return -1;
    }
    *n = overflow ? INT64_MAX : (int64_t)v;
    return 0;
}

static PyObject *semaphore_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"n", NULL};
    PyObject *n_obj;
    int64_t n;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Semaphore", kwlist, &n_obj))
        return NULL;
    if (PyBool_Check(n_obj) || !PyLong_Check(n_obj)) {
        PyErr_Format(PyExc_TypeError, "Semaphore size must be an int, not %.200s",
                     Py_TYPE(n_obj)->tp_name);
        return NULL;
    }
    if (parse_units(n_obj, &n, "Semaphore size") < 0)
        return NULL;
    pyg_semaphore *self = (pyg_semaphore *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->size = n;
    return (PyObject *)self;
}

static void semaphore_dealloc(pyg_semaphore *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    type->tp_free(self);
    Py_DECREF(type);
}

static int semaphore_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

/* Lock held.  Strictly FIFO: stop at the first request that does not fit. */
static void grant_waiters(pyg_semaphore *self)
{
    while (self->head && self->size - self->held >= self->head->n) {
        sem_waiter *w = self->head;
        self->held += w->n;
        self->head = w->next;
        if (!self->head)
            self->tail = NULL;
        self->waiting--;
        /* a Channel(1) used once: never blocks, never refuses (its waiter
           takes the lock before it lets the channel go) */
        (void)gc_chan_try_send(w->granted, Py_NewRef(Py_None));
    }
}

/* Lock held: take w out of the queue; one leaving the head may let the
   ones behind it in. */
static void remove_waiter(pyg_semaphore *self, sem_waiter *w)
{
    sem_waiter **link = &self->head, *prev = NULL;
    while (*link && *link != w) {
        prev = *link;
        link = &(*link)->next;
    }
    if (!*link)
        return;
    bool at_head = self->head == w;
    *link = w->next;
    if (self->tail == w)
        self->tail = prev;
    self->waiting--;
    if (at_head)
        grant_waiters(self);
}

/* Take n now if nobody waits and they are free; lock not held. */
static bool take_now(pyg_semaphore *self, int64_t n)
{
    bool taken = false;
    pyg_mutex_lock(&self->lock);
    if (!self->head && self->size - self->held >= n) {
        self->held += n;
        taken = true;
    }
    pyg_mutex_unlock(&self->lock);
    return taken;
}

/* 0: n units taken.  -1: exception set, nothing taken. */
static int acquire(pyg_semaphore *self, int64_t n, PyObject *timeout, PyObject *ctx)
{
    if (n > self->size) {
        PyErr_Format(PyExc_ValueError,
                     "acquire(%lld) on a Semaphore of size %lld would wait forever",
                     (long long)n, (long long)self->size);
        return -1;
    }
    if (take_now(self, n))
        return 0;
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    PyObject *granted = PyObject_CallFunction((PyObject *)st->channel_type, "i", 1);
    if (!granted)
        return -1;
    sem_waiter w = {NULL, n, ((pyg_channel *)granted)->chan};
    pyg_mutex_lock(&self->lock);
    if (!self->head && self->size - self->held >= n) {
        self->held += n;
        pyg_mutex_unlock(&self->lock);
        Py_DECREF(granted);
        return 0;
    }
    if (self->tail)
        self->tail->next = &w;
    else
        self->head = &w;
    self->tail = &w;
    self->waiting++;
    pyg_mutex_unlock(&self->lock);

    /* A receive of the grant, which either returns it or raises having
       taken nothing (a grant it took back stays in the channel); blocked()
       shows the Semaphore. */
    PyObject *r = NULL;
    pyg_op op;
    if (pyg_op_channel(&op, st, PYG_OP_RECV, granted, NULL, timeout, ctx) == 0) {
        op.shown_one = (PyObject *)self;
        op.name = "acquire";
        r = pyg_op_run(&op);
    }
    pyg_mutex_lock(&self->lock); /* also: the granter is done with the channel */
    if (!r) {
        void *value;
        bool ok;
        if (gc_chan_try_recv(w.granted, &value, &ok) == GC_OK && value) {
            /* granted while giving up: hand the units back */
            Py_DECREF((PyObject *)value);
            self->held -= n;
            grant_waiters(self);
        } else {
            remove_waiter(self, &w);
        }
    }
    pyg_mutex_unlock(&self->lock);
    Py_DECREF(granted);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static PyObject *semaphore_acquire(pyg_semaphore *self, PyObject *const *args,
                                   Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"n", "timeout", "ctx", NULL};
    PyObject *argv[3];
    int64_t n = 1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "acquire() takes at most 1 positional argument");
        return NULL;
    }
    /* n: positional or keyword; the rest keyword-only */
    if (pyg_parse_args("acquire", args, nargs, kwnames, nargs, kwlist + nargs, argv) < 0 ||
        (argv[0] && parse_units(argv[0], &n, "n") < 0) ||
        acquire(self, n, argv[1], argv[2]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The one optional argument n (positional or keyword) of try_acquire()
   and release(); 1 when absent. */
static int parse_n_only(const char *name, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames, int64_t *n)
{
    static const char *const kwlist[] = {"n", NULL};
    PyObject *argv[1];
    *n = 1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument", name);
        return -1;
    }
    if (pyg_parse_args(name, args, nargs, kwnames, nargs, kwlist + nargs, argv) < 0 ||
        (argv[0] && parse_units(argv[0], n, "n") < 0))
        return -1;
    return 0;
}

static PyObject *semaphore_try_acquire(pyg_semaphore *self, PyObject *const *args,
                                       Py_ssize_t nargs, PyObject *kwnames)
{
    int64_t n;
    if (parse_n_only("try_acquire", args, nargs, kwnames, &n) < 0)
        return NULL;
    return PyBool_FromLong(take_now(self, n));
}

static int release(pyg_semaphore *self, int64_t n)
{
    pyg_mutex_lock(&self->lock);
    int64_t held = self->held;
    if (n <= held) {
        self->held -= n;
        grant_waiters(self);
    }
    pyg_mutex_unlock(&self->lock);
    if (n > held) {
        PyErr_Format(PyExc_ValueError, "release(%lld) of a Semaphore holding %lld",
                     (long long)n, (long long)held);
        return -1;
    }
    return 0;
}

static PyObject *semaphore_release(pyg_semaphore *self, PyObject *const *args,
                                   Py_ssize_t nargs, PyObject *kwnames)
{
    int64_t n;
    if (parse_n_only("release", args, nargs, kwnames, &n) < 0 || release(self, n) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *semaphore_enter(pyg_semaphore *self, PyObject *Py_UNUSED(ignored))
{
    if (acquire(self, 1, NULL, NULL) < 0)
        return NULL;
    return Py_NewRef((PyObject *)self);
}

static PyObject *semaphore_exit(pyg_semaphore *self, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) != 3) {
        PyErr_SetString(PyExc_TypeError, "__exit__ takes 3 arguments");
        return NULL;
    }
    if (release(self, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *semaphore_get(pyg_semaphore *self, void *which)
{
    pyg_mutex_lock(&self->lock);
    long long v = which == (void *)0 ? self->size
                  : which == (void *)1 ? self->held
                                       : (long long)self->waiting;
    pyg_mutex_unlock(&self->lock);
    return PyLong_FromLongLong(v);
}

static PyObject *semaphore_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError, "cannot pickle %.200s objects",
                 Py_TYPE(self)->tp_name);
    return NULL;
}

static PyMethodDef semaphore_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))semaphore_acquire,
     METH_FASTCALL | METH_KEYWORDS,
     "acquire($self, n=1, *, timeout=None, ctx=None)\n--\n\n"
     "Wait until n units are free and take them."},
    {"try_acquire", (PyCFunction)(void (*)(void))semaphore_try_acquire,
     METH_FASTCALL | METH_KEYWORDS,
     "try_acquire($self, n=1)\n--\n\n"
     "Take n units if they are free now and nobody waits; never blocks."},
    {"release", (PyCFunction)(void (*)(void))semaphore_release,
     METH_FASTCALL | METH_KEYWORDS,
     "release($self, n=1)\n--\n\n"
     "Give back n units; releasing more than is held is a ValueError."},
    {"__enter__", (PyCFunction)semaphore_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)semaphore_exit, METH_VARARGS, NULL},
    {"__reduce__", semaphore_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef semaphore_getset[] = {
    {"_size", (getter)semaphore_get, NULL, "The number of units.", (void *)0},
    {"_held", (getter)semaphore_get, NULL, "Units held now (a snapshot).", (void *)1},
    {"_waiting", (getter)semaphore_get, NULL, "Acquires waiting now (a snapshot).",
     (void *)2},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef semaphore_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_semaphore, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyType_Slot semaphore_slots[] = {
    {Py_tp_doc, (void *)"The C part of pygochan.Semaphore; use Semaphore."},
    {Py_tp_new, semaphore_new},
    {Py_tp_dealloc, semaphore_dealloc},
    {Py_tp_traverse, semaphore_traverse},
    {Py_tp_methods, semaphore_methods},
    {Py_tp_getset, semaphore_getset},
    {Py_tp_members, semaphore_members},
    {0, NULL}};

static PyType_Spec semaphore_spec = {
    .name = "pygochan._core._SemaphoreBase",
    .basicsize = sizeof(pyg_semaphore),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = semaphore_slots,
};

int pyg_semaphore_init(PyObject *module, pyg_state *st)
{
    st->semaphore_base_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &semaphore_spec, NULL);
    if (!st->semaphore_base_type)
        return -1;
    return PyModule_AddObject(module, "_SemaphoreBase",
                              Py_NewRef((PyObject *)st->semaphore_base_type));
}

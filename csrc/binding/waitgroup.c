/* WaitGroup: Go's sync.WaitGroup over gc_wg (go() is added in Python). */
#include "waitgroup.h"
#include "args.h"
#include "op/op.h"

#include "gc_wg.h"

#include "structmember.h"

typedef struct {
    PyObject_HEAD
    gc_wg *wg; /* owned; freed in dealloc */
    PyObject *weakreflist;
} pyg_wait_group;

static PyObject *wait_group_new(PyTypeObject *type, PyObject *args,
                                PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "WaitGroup() takes no arguments");
        return NULL;
    }
    pyg_wait_group *self = (pyg_wait_group *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    if (!(self->wg = gc_wg_new())) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void wait_group_dealloc(pyg_wait_group *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    gc_wg_free(self->wg);
    type->tp_free(self);
    Py_DECREF(type);
}

static int wait_group_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int add(pyg_wait_group *self, PyObject *delta_obj)
{
    if (PyBool_Check(delta_obj) || !PyLong_Check(delta_obj)) {
        PyErr_Format(PyExc_TypeError, "delta must be an int, not %.200s",
                     Py_TYPE(delta_obj)->tp_name);
        return -1;
    }
    int overflow;
    long long delta = PyLong_AsLongLongAndOverflow(delta_obj, &overflow);
    if (delta == -1 && PyErr_Occurred())
        return -1;
    enum gc_status st = overflow ? GC_CLOSED : gc_wg_add(self->wg, delta);
    if (st == GC_NOMEM) {
        PyErr_NoMemory();
        return -1;
    }
    if (st != GC_OK) {
        PyErr_Format(PyExc_ValueError,
                     "WaitGroup counter would be %s (it is %lld, delta %R)",
                     delta < 0 || overflow < 0 ? "negative" : "too large",
                     (long long)gc_wg_count(self->wg), delta_obj);
        return -1;
    }
    return 0;
}

static PyObject *wait_group_add(pyg_wait_group *self, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"delta", NULL};
    PyObject *delta = NULL;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "add() takes at most 1 argument");
        return NULL;
    }
    if (nargs == 1 && kwnames && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "add() got more than one delta");
        return NULL;
    }
    if (nargs == 1)
        delta = args[0];
    else if (pyg_parse_args("add", args, 0, kwnames, 0, kwlist, &delta) < 0)
        return NULL;
    PyObject *one = NULL;
    if (!delta && !(delta = one = PyLong_FromLong(1)))
        return NULL;
    int r = add(self, delta);
    Py_XDECREF(one);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *wait_group_done(pyg_wait_group *self, PyObject *Py_UNUSED(ignored))
{
    if (gc_wg_add(self->wg, -1) != GC_OK) {
        PyErr_SetString(PyExc_ValueError,
                        "WaitGroup.done() called more times than add()");
        return NULL;
    }
    Py_RETURN_NONE;
}

enum gc_status pyg_wait_group_add(PyObject *wg, int64_t delta)
{
    return gc_wg_add(((pyg_wait_group *)wg)->wg, delta);
}

gc_wg_gen *pyg_wait_group_gen(PyObject *wg)
{
    return gc_wg_acquire_gen(((pyg_wait_group *)wg)->wg);
}

static int wait_zero(pyg_wait_group *self, PyObject *timeout_obj,
                     PyObject *ctx_obj)
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    gc_wg_gen *gen = gc_wg_acquire_gen(self->wg); /* NULL at zero */
    pyg_op op;
    PyObject *r = NULL;
    if (pyg_op_closed(&op, st, gen ? gc_wg_gen_chan(gen) : NULL, gen == NULL,
                      "wait", NULL, (PyObject *)self, timeout_obj, ctx_obj) == 0)
        r = pyg_op_run(&op);
    if (gen)
        gc_wg_gen_release(gen);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *wait_group_wait(pyg_wait_group *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"timeout", "ctx", NULL};
    PyObject *argv[2];
    if (pyg_parse_args("wait", args, nargs, kwnames, 0, kwlist, argv) < 0 ||
        wait_zero(self, argv[0], argv[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *wait_group_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self);
}

static PyObject *wait_group_exit(pyg_wait_group *self, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) != 3) {
        PyErr_SetString(PyExc_TypeError, "__exit__ takes 3 arguments");
        return NULL;
    }
    if (wait_zero(self, NULL, NULL) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *wait_group_get_count(pyg_wait_group *self, void *Py_UNUSED(c))
{
    return PyLong_FromLongLong(gc_wg_count(self->wg));
}

static PyObject *wait_group_repr(pyg_wait_group *self)
{
    return PyUnicode_FromFormat("<pygochan.WaitGroup count=%lld>",
                                (long long)gc_wg_count(self->wg));
}

static PyObject *wait_group_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError, "cannot pickle %.200s objects",
                 Py_TYPE(self)->tp_name);
    return NULL;
}

static PyMethodDef wait_group_methods[] = {
    {"add", (PyCFunction)(void (*)(void))wait_group_add,
     METH_FASTCALL | METH_KEYWORDS,
     "add($self, delta=1)\n--\n\nAdd delta (may be negative) to the counter; ValueError\n"
     "if it would go below zero."},
    {"done", (PyCFunction)wait_group_done, METH_NOARGS,
     "done($self)\n--\n\nDecrement the counter by one."},
    {"wait", (PyCFunction)(void (*)(void))wait_group_wait,
     METH_FASTCALL | METH_KEYWORDS,
     "wait($self, *, timeout=None, ctx=None)\n--\n\n"
     "Block (GIL released, Ctrl-C answered) until the counter is zero."},
    {"__enter__", wait_group_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)wait_group_exit, METH_VARARGS,
     "Wait for the counter to reach zero."},
    {"__reduce__", wait_group_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef wait_group_getset[] = {
    {"count", (getter)wait_group_get_count, NULL,
     "The counter's current value (a snapshot).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef wait_group_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_wait_group, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

PyDoc_STRVAR(wait_group_doc,
"The C part of pygochan.WaitGroup; use WaitGroup.");

static PyType_Slot wait_group_slots[] = {
    {Py_tp_doc, (void *)wait_group_doc},
    {Py_tp_new, wait_group_new},
    {Py_tp_dealloc, wait_group_dealloc},
    {Py_tp_traverse, wait_group_traverse},
    {Py_tp_repr, wait_group_repr},
    {Py_tp_methods, wait_group_methods},
    {Py_tp_getset, wait_group_getset},
    {Py_tp_members, wait_group_members},
    {0, NULL}};

static PyType_Spec wait_group_spec = {
    .name = "pygochan._core._WaitGroupBase",
    .basicsize = sizeof(pyg_wait_group),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = wait_group_slots,
};

int pyg_sync_init(PyObject *module, pyg_state *st)
{
    st->wait_group_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &wait_group_spec, NULL);
    if (!st->wait_group_type)
        return -1;
    return PyModule_AddObject(module, "_WaitGroupBase",
                              Py_NewRef((PyObject *)st->wait_group_type));
}

int pyg_sync_traverse(pyg_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->wait_group_type);
    Py_VISIT(st->future_base_type);
    Py_VISIT(st->future_type);
    Py_VISIT(st->pool_base_type);
    Py_VISIT(st->pool_work_type);
    for (int i = 0; i < 5; i++)
        Py_VISIT(st->future_states[i]);
    Py_VISIT(st->cancelled_error);
    Py_VISIT(st->invalid_state_error);
    Py_VISIT(st->future_timeout_error);
    Py_VISIT(st->futures_logger);
    Py_VISIT(st->waiters_lock);
    return 0;
}

void pyg_sync_clear(pyg_state *st)
{
    Py_CLEAR(st->wait_group_type);
    Py_CLEAR(st->future_base_type);
    Py_CLEAR(st->future_type);
    Py_CLEAR(st->pool_base_type);
    Py_CLEAR(st->pool_work_type);
    for (int i = 0; i < 5; i++)
        Py_CLEAR(st->future_states[i]);
    Py_CLEAR(st->cancelled_error);
    Py_CLEAR(st->invalid_state_error);
    Py_CLEAR(st->future_timeout_error);
    Py_CLEAR(st->futures_logger);
    Py_CLEAR(st->waiters_lock);
}

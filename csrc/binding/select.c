/* gc.recv / gc.send cases and gc.select. */
#include "select.h"
#include "args.h"
#include "channel.h"
#include "op/loop.h"
#include "op/op.h"

#include "structmember.h"

/* Selects with up to this many cases keep their bookkeeping on the stack. */
#define SMALL_SELECT 8

#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define CASE_FLAGS \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION)
#else
#define CASE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

/* ---- cases ------------------------------------------------------------ */

static int case_traverse(pyg_case *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->channel);
    Py_VISIT(self->value);
    return 0;
}

static int case_clear(pyg_case *self)
{
    Py_CLEAR(self->channel);
    Py_CLEAR(self->value);
    return 0;
}

static void case_dealloc(pyg_case *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    case_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyObject *case_repr(pyg_case *self)
{
    if (self->value)
        return PyUnicode_FromFormat("pygochan.send(%R, %R)", self->channel,
                                    self->value);
    return PyUnicode_FromFormat("pygochan.recv(%R)", self->channel);
}

static PyMemberDef case_members[] = {
    {"channel", T_OBJECT, offsetof(pyg_case, channel), READONLY,
     "The channel, or None (a nil channel: never ready)."},
    {NULL, 0, 0, 0, NULL}};

static PyMemberDef send_case_members[] = {
    {"channel", T_OBJECT, offsetof(pyg_case, channel), READONLY,
     "The channel, or None (a nil channel: never ready)."},
    {"value", T_OBJECT, offsetof(pyg_case, value), READONLY,
     "The value this case sends."},
    {NULL, 0, 0, 0, NULL}};

#define CASE_SLOTS(members, doc)                                              \
    {Py_tp_doc, (void *)(doc)}, {Py_tp_dealloc, case_dealloc},                \
        {Py_tp_traverse, case_traverse}, {Py_tp_clear, case_clear},           \
        {Py_tp_repr, case_repr}, {Py_tp_members, (members)},                  \
    {                                                                         \
        0, NULL                                                               \
    }

static PyType_Slot recv_case_slots[] = {CASE_SLOTS(
    case_members, "A receive case for select(); made by pygochan.recv(ch).")};
static PyType_Slot send_case_slots[] = {CASE_SLOTS(
    send_case_members, "A send case for select(); made by pygochan.send(ch, v).")};

static PyType_Spec recv_case_spec = {
    .name = "pygochan.RecvCase",
    .basicsize = sizeof(pyg_case),
    .flags = CASE_FLAGS,
    .slots = recv_case_slots,
};
static PyType_Spec send_case_spec = {
    .name = "pygochan.SendCase",
    .basicsize = sizeof(pyg_case),
    .flags = CASE_FLAGS,
    .slots = send_case_slots,
};

static int check_channel_arg(pyg_state *st, const char *fname, PyObject *ch)
{
    if (ch == Py_None || Py_IS_TYPE(ch, st->channel_type))
        return 0;
    PyErr_Format(PyExc_TypeError,
                 "%s() expects a Channel or None, not %.200s", fname,
                 Py_TYPE(ch)->tp_name);
    return -1;
}

static PyObject *new_case(PyTypeObject *type, PyObject *channel,
                          PyObject *value)
{
    pyg_case *c = PyObject_GC_New(pyg_case, type);
    if (!c)
        return NULL;
    c->channel = Py_NewRef(channel);
    c->value = value ? Py_NewRef(value) : NULL;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

static PyObject *module_recv(PyObject *module, PyObject *channel)
{
    pyg_state *st = PyModule_GetState(module);
    if (check_channel_arg(st, "recv", channel) < 0 ||
        (channel != Py_None &&
         pyg_channel_refuse((pyg_channel *)channel, PYG_RECV_SIDE, "recv()") < 0))
        return NULL;
    return new_case(st->recv_case_type, channel, NULL);
}

static PyObject *module_send(PyObject *module, PyObject *const *args,
                             Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "send() takes 2 arguments (channel, value), %zd given",
                     nargs);
        return NULL;
    }
    if (check_channel_arg(st, "send", args[0]) < 0)
        return NULL;
    if (args[0] != Py_None &&
        pyg_channel_refuse((pyg_channel *)args[0], PYG_SEND_SIDE, "send()") < 0)
        return NULL;
    return new_case(st->send_case_type, args[0], args[1]);
}

/* ---- select ----------------------------------------------------------- */

/* select()'s and aselect()'s keywords, after the positional cases: kw[0]
   default (a bool, or NULL), kw[1] timeout, kw[2] ctx. */
static int parse_select_keywords(const char *fname, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames,
                                 PyObject **kw)
{
    static const char *const kwlist[] = {"default", "timeout", "ctx", NULL};
    kw[0] = kw[1] = kw[2] = NULL;
    if (kwnames) {
        PyObject *argv[SMALL_SELECT + 3];
        PyObject **all = nargs <= SMALL_SELECT
                             ? argv
                             : PyMem_New(PyObject *, nargs + 3);
        if (!all) {
            PyErr_NoMemory();
            return -1;
        }
        int rc = pyg_parse_args(fname, args, nargs, kwnames, nargs, kwlist, all);
        kw[0] = all[nargs];
        kw[1] = all[nargs + 1];
        kw[2] = all[nargs + 2];
        if (all != argv)
            PyMem_Free(all);
        if (rc < 0)
            return -1;
    }
    if (kw[0] && !PyBool_Check(kw[0])) {
        PyErr_Format(PyExc_TypeError, "%s() default must be a bool, not %.200s",
                     fname, Py_TYPE(kw[0])->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *module_select(PyObject *module, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    pyg_state *st = PyModule_GetState(module);
    PyObject *kw[3];
    if (parse_select_keywords("select", args, nargs, kwnames, kw) < 0)
        return NULL;
    gc_case cases[SMALL_SELECT + 1];
    gc_entry entries[SMALL_SELECT + 1];
    int orders[2 * (SMALL_SELECT + 1)];
    pyg_op_room room = {cases, entries, orders, SMALL_SELECT + 1};
    pyg_op op;
    if (pyg_op_select(&op, st, args, nargs, kw[0] == Py_True, kw[1], kw[2],
                      &room) < 0)
        return NULL;
    return pyg_op_run(&op);
}

static PyObject *module_aselect(PyObject *module, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    pyg_state *st = PyModule_GetState(module);
    PyObject *kw[3];
    if (parse_select_keywords("aselect", args, nargs, kwnames, kw) < 0)
        return NULL;
    /* the op borrows the cases: the awaitable keeps them in a tuple */
    PyObject *cases = PyTuple_New(nargs);
    if (!cases)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(cases, i, Py_NewRef(args[i]));
    pyg_op *op;
    PyObject *aw = pyg_awaitable_new(st, &op, cases, kw[2], NULL, NULL);
    if (aw && pyg_op_select(op, st, &PyTuple_GET_ITEM(cases, 0), nargs,
                            kw[0] == Py_True, kw[1], kw[2], NULL) < 0)
        Py_CLEAR(aw);
    Py_DECREF(cases);
    return aw;
}

PyMethodDef pyg_select_functions[] = {
    {"recv", (PyCFunction)module_recv, METH_O,
     "recv(ch)\n--\n\n"
     "A select() case that receives from ch.  ch=None is Go's nil channel:\n"
     "the case is never ready.  In the result, value and ok are as\n"
     "Channel.recv_ok() returns them.\n\n"
     "    >>> idx, value, ok = select(recv(jobs), recv(quit))\n"},
    {"send", (PyCFunction)(void (*)(void))module_send, METH_FASTCALL,
     "send(ch, value)\n--\n\n"
     "A select() case that sends value on ch.  ch=None is Go's nil channel:\n"
     "the case is never ready.  A chosen send on a closed channel raises\n"
     "ChannelClosed.\n\n"
     "    >>> select(send(out, item), recv(quit))\n"},
    {"select", (PyCFunction)(void (*)(void))module_select,
     METH_FASTCALL | METH_KEYWORDS,
     "select(*cases, default=False, timeout=None, ctx=None)\n--\n\n"
     "Go's select: wait until one of the cases can proceed, commit exactly\n"
     "that one (chosen uniformly at random among those ready) and return\n"
     "SelectResult(index, value, ok): the case's position, and for a recv\n"
     "case the value and ok as recv_ok() gives them ((None, True) for a send\n"
     "case).  default=True returns (-1, None, False) at once when no case is\n"
     "ready; timeout raises TimeoutError; ctx raises the context's error\n"
     "once it is done.  A select that raises had no\n"
     "effect on any channel.\n\n"
     "    >>> idx, value, ok = select(recv(results), send(jobs, job),\n"
     "    ...                         timeout=1.0)\n"},
    {"aselect", (PyCFunction)(void (*)(void))module_aselect,
     METH_FASTCALL | METH_KEYWORDS,
     "aselect(*cases, default=False, timeout=None, ctx=None)\n--\n\n"
     "Go's select, awaited: select() over the same recv()/send() cases,\n"
     "suspending the task (not the thread).  Same fairness, nil cases and\n"
     "results; default=True never suspends.  A select that raises\n"
     "(TimeoutError, the ctx's error, a cancel that won) had no effect on\n"
     "any channel.\n\n"
     "    >>> idx, value, ok = await aselect(recv(results), send(jobs, job),\n"
     "    ...                                timeout=1.0)\n"},
    {NULL, NULL, 0, NULL}};

int pyg_select_init_types(PyObject *module, pyg_state *st)
{
    st->recv_case_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &recv_case_spec, NULL);
    if (!st->recv_case_type)
        return -1;
    st->send_case_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &send_case_spec, NULL);
    if (!st->send_case_type)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    /* Cases are made by recv() / send() only. */
    st->recv_case_type->tp_new = NULL;
    st->send_case_type->tp_new = NULL;
#endif
    if (PyModule_AddType(module, st->recv_case_type) < 0 ||
        PyModule_AddType(module, st->send_case_type) < 0)
        return -1;
    return 0;
}

/* gc.recv / gc.send cases and gc.select. */
#include "pygochan.h"

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
         pyg_refuse_if_send_only((pyg_channel *)channel, "recv()") < 0))
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
        pyg_refuse_if_receive_only((pyg_channel *)args[0], "send()") < 0)
        return NULL;
    return new_case(st->send_case_type, args[0], args[1]);
}

/* ---- select ----------------------------------------------------------- */

/* Release the references offered by send cases, except the committed one
   (skip = its index, or -1), whose reference now belongs to the receiver. */
static void release_offers(const gc_case *cases, int n, int skip)
{
    for (int i = 0; i < n; i++)
        if (cases[i].is_send && i != skip)
            Py_DECREF((PyObject *)cases[i].send_value);
}

static PyObject *module_select(PyObject *module, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    pyg_state *st = PyModule_GetState(module);
    static const char *const kwlist[] = {"default", "timeout", "ctx", NULL};
    PyObject *kw[3] = {NULL, NULL, NULL};
    if (kwnames) {
        /* the cases are all positional: parse only the keywords */
        PyObject *argv[SMALL_SELECT + 3];
        PyObject **all = nargs <= SMALL_SELECT
                             ? argv
                             : PyMem_New(PyObject *, nargs + 3);
        if (!all)
            return PyErr_NoMemory();
        int rc = pyg_parse_args("select", args, nargs, kwnames, nargs, kwlist,
                                all);
        kw[0] = all[nargs];
        kw[1] = all[nargs + 1];
        kw[2] = all[nargs + 2];
        if (all != argv)
            PyMem_Free(all);
        if (rc < 0)
            return NULL;
    }
    bool nonblocking = false;
    if (kw[0]) {
        if (!PyBool_Check(kw[0])) {
            PyErr_Format(PyExc_TypeError,
                         "select() default must be a bool, not %.200s",
                         Py_TYPE(kw[0])->tp_name);
            return NULL;
        }
        nonblocking = kw[0] == Py_True;
    }
    pyg_timeout timeout;
    if (pyg_parse_timeout(kw[1], &timeout) < 0)
        return NULL;
    if (nonblocking && kw[1] && kw[1] != Py_None) {
        PyErr_SetString(PyExc_ValueError,
                        "select(): default=True never blocks, so it cannot "
                        "take a timeout");
        return NULL;
    }
    gc_ctx *ctx;
    if (pyg_ctx_arg(st, kw[2], &ctx) < 0)
        return NULL;
    if (ctx && gc_ctx_err_now(ctx) != GC_CTX_ALIVE)
        return pyg_raise_ctx_error(st, ctx);
    if (nargs > INT_MAX / 2 - 1) {
        PyErr_SetString(PyExc_ValueError, "select(): too many cases");
        return NULL;
    }
    int n = (int)nargs;
    /* A context is one more recv case, on its done channel, after the rest. */
    int total = n + (ctx ? 1 : 0);

    gc_case small_cases[SMALL_SELECT + 1];
    gc_entry small_entries[SMALL_SELECT + 1];
    int small_orders[2 * (SMALL_SELECT + 1)];
    gc_case *cases = small_cases;
    gc_entry *entries = small_entries;
    int *orders = small_orders;
    if (n > SMALL_SELECT) {
        cases = PyMem_New(gc_case, total);
        entries = PyMem_New(gc_entry, total);
        orders = PyMem_New(int, 2 * (size_t)total);
        if (!cases || !entries || !orders) {
            PyErr_NoMemory();
            goto fail_early;
        }
    }
    for (int i = 0; i < n; i++) {
        PyObject *arg = args[i];
        bool is_send = Py_IS_TYPE(arg, st->send_case_type);
        if (!is_send && !Py_IS_TYPE(arg, st->recv_case_type)) {
            PyErr_Format(PyExc_TypeError,
                         "select() argument %d must be pygochan.recv(...) or "
                         "pygochan.send(...), not %.200s",
                         i + 1, Py_TYPE(arg)->tp_name);
            goto fail_early;
        }
        pyg_case *c = (pyg_case *)arg;
        cases[i].chan =
            c->channel == Py_None ? NULL : ((pyg_channel *)c->channel)->chan;
        cases[i].is_send = is_send;
        cases[i].send_value = is_send ? c->value : NULL;
    }
    if (ctx) {
        cases[n].chan = gc_ctx_done(ctx);
        cases[n].is_send = false;
        cases[n].send_value = NULL;
    }
    /* A signal already pending raises before any case can commit. */
    if (PyErr_CheckSignals() < 0)
        goto fail_early;
    /* From here each send case offers a reference of its own. */
    for (int i = 0; i < n; i++)
        if (cases[i].is_send)
            Py_INCREF((PyObject *)cases[i].send_value);

    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, cases, total, entries, orders, orders + total);
    enum gc_status status = gc_select_try(&sel, &res);
    if (status == GC_NOT_READY) {
        if (nonblocking) {
            release_offers(cases, n, -1);
            if (n > SMALL_SELECT) {
                PyMem_Free(cases);
                PyMem_Free(entries);
                PyMem_Free(orders);
            }
            return pyg_select_result(st, -1, NULL, false);
        }
        status = timeout.blocking
                     ? pyg_wait_for(st, &sel, timeout.deadline_ns, &res,
                                    "select", args, nargs)
                     : GC_TIMEOUT;
    }
    PyObject *result = NULL;
    if (status == GC_OK && res.index == n) {
        release_offers(cases, n, -1);
        pyg_raise_ctx_error(st, ctx);
    } else if (status == GC_OK) {
        bool is_send = cases[res.index].is_send;
        release_offers(cases, n, is_send ? res.index : -1);
        if (!is_send && res.ok)
            result = pyg_recv_result(st, cases[res.index].chan, res.value,
                                     PYG_RECV_SELECT, res.index);
        else
            result = pyg_select_result(st, res.index, NULL, res.ok);
    } else {
        release_offers(cases, n, -1);
        if (status != GC_INTERRUPTED)
            pyg_raise_status(st, status, status == GC_CLOSED ? "send" : "select");
    }
    if (n > SMALL_SELECT) {
        PyMem_Free(cases);
        PyMem_Free(entries);
        PyMem_Free(orders);
    }
    return result;

fail_early:
    if (n > SMALL_SELECT) {
        PyMem_Free(cases);
        PyMem_Free(entries);
        PyMem_Free(orders);
    }
    return NULL;
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

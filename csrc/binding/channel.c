/* gc.Channel: a Go channel of Python objects.  The channel's buffer holds
   one reference per buffered value; blocked senders keep theirs until the
   value is taken (see gc_chan.h). */
#include "channel.h"
#include "args.h"
#include "op/thread.h"
#include "op/loop.h"
#include "op/op.h"
#include "stats.h"

#include "structmember.h"


static pyg_state *state_of(pyg_channel *self)
{
    return pyg_state_of_type(Py_TYPE(self));
}

/* ---- creation and teardown -------------------------------------------- */

static PyObject *channel_new(PyTypeObject *type, PyObject *args,
                             PyObject *kwargs)
{
    static char *kwlist[] = {"capacity", NULL};
    PyObject *capacity_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Channel", kwlist,
                                     &capacity_obj))
        return NULL;
    long long capacity = 0;
    if (capacity_obj) {
        if (PyBool_Check(capacity_obj) || !PyLong_Check(capacity_obj)) {
            PyErr_Format(PyExc_TypeError,
                         "Channel capacity must be an int, not %.200s",
                         Py_TYPE(capacity_obj)->tp_name);
            return NULL;
        }
        int overflow;
        capacity = PyLong_AsLongLongAndOverflow(capacity_obj, &overflow);
        if (capacity == -1 && PyErr_Occurred())
            return NULL;
        if (overflow > 0 || capacity > PY_SSIZE_T_MAX) {
            PyErr_SetString(PyExc_ValueError,
                            "Channel capacity is too large (use UNBOUNDED)");
            return NULL;
        }
        if (overflow < 0 || (capacity < 0 && capacity != GC_UNBOUNDED)) {
            PyErr_SetString(PyExc_ValueError,
                            "Channel capacity must be >= 0 or UNBOUNDED");
            return NULL;
        }
    }
    pyg_channel *self = (pyg_channel *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->chan = gc_chan_new(capacity);
    if (!self->chan) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static bool channel_owns_chan(const pyg_channel *self)
{
    return self->kind == PYG_CHAN_OWNED || self->kind == PYG_CHAN_TIMER;
}

/* Release the buffered values' references outside the channel's lock: a
   value's __del__ may use the channel. */
static void release_buffer(pyg_channel *self)
{
    if (!self->chan || !channel_owns_chan(self))
        return;
    size_t count;
    void **items = gc_chan_take_buffer(self->chan, &count);
    for (size_t i = 0; i < count; i++)
        if (!gc_is_timer_value(items[i]))
            Py_DECREF((PyObject *)items[i]);
    free(items);
}

static int channel_clear(pyg_channel *self)
{
    release_buffer(self);
    return 0;
}


static int channel_traverse(pyg_channel *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->view_of);
    if (!self->chan || !channel_owns_chan(self)) /* its owner shows the buffer */
        return 0;
    pyg_visit_adapter a = {visit, arg};
    return gc_chan_visit(self->chan, pyg_visit_value, &a);
}

static void channel_dealloc(pyg_channel *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    switch (self->kind) {
    case PYG_CHAN_RECV_VIEW:
    case PYG_CHAN_SEND_VIEW:
        Py_CLEAR(self->view_of); /* the chan was borrowed from it */
        break;
    case PYG_CHAN_DONE:
        if (self->owner_ctx) /* NULL if made half */
            gc_ctx_release(self->owner_ctx);
        break;
    default:
        gc_timer_free(self->timer); /* stopped before its channel goes */
        self->timer = NULL;
        release_buffer(self);
        gc_chan_free(self->chan);
    }
    self->chan = NULL;
    type->tp_free(self);
    Py_DECREF(type);
}

/* ---- send / recv ------------------------------------------------------ */

PyObject *pyg_done_channel_new(pyg_state *st, gc_ctx *ctx)
{
    PyTypeObject *type = st->channel_type;
    pyg_channel *self = (pyg_channel *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->kind = PYG_CHAN_DONE;
    gc_ctx_retain(ctx);
    self->owner_ctx = ctx;
    self->chan = gc_ctx_done(ctx);
    return (PyObject *)self;
}

PyObject *pyg_timer_channel_new(pyg_state *st)
{
    PyObject *args = PyTuple_New(0);
    if (!args)
        return NULL;
    PyObject *kwargs = Py_BuildValue("{s:i}", "capacity", 1);
    PyObject *ch = kwargs ? PyObject_Call((PyObject *)st->channel_type, args,
                                          kwargs)
                          : NULL;
    Py_DECREF(args);
    Py_XDECREF(kwargs);
    if (!ch)
        return NULL;
    pyg_channel *self = (pyg_channel *)ch;
    self->kind = PYG_CHAN_TIMER;
    self->timer = gc_timer_new(self->chan);
    if (!self->timer) {
        Py_DECREF(ch);
        return PyErr_NoMemory();
    }
    return ch;
}

static const char *const blocking_kwlist[] = {"timeout", "ctx", NULL};

/* A whole thread call of one channel operation (see op.h). */
static PyObject *run_channel_op(pyg_channel *self, enum pyg_op_kind kind,
                                PyObject *value, PyObject *timeout_obj,
                                PyObject *ctx_obj)
{
    pyg_op op;
    if (pyg_op_channel(&op, state_of(self), kind, (PyObject *)self, value,
                       timeout_obj, ctx_obj) < 0)
        return NULL;
    return pyg_op_run(&op);
}

static PyObject *channel_send(pyg_channel *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[3];
    if (pyg_parse_args("send", args, nargs, kwnames, 1, blocking_kwlist,
                       argv) < 0)
        return NULL;
    return run_channel_op(self, PYG_OP_SEND, argv[0], argv[1], argv[2]);
}

static PyObject *channel_recv(pyg_channel *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[2];
    if (pyg_parse_args("recv", args, nargs, kwnames, 0, blocking_kwlist,
                       argv) < 0)
        return NULL;
    return run_channel_op(self, PYG_OP_RECV, NULL, argv[0], argv[1]);
}

static PyObject *channel_recv_ok(pyg_channel *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[2];
    if (pyg_parse_args("recv_ok", args, nargs, kwnames, 0, blocking_kwlist,
                       argv) < 0)
        return NULL;
    return run_channel_op(self, PYG_OP_RECV_OK, NULL, argv[0], argv[1]);
}

PyObject *pyg_channel_awaitable(PyObject *channel, enum pyg_op_kind kind,
                                PyObject *value, PyObject *timeout_obj,
                                PyObject *ctx_obj)
{
    pyg_state *st = state_of((pyg_channel *)channel);
    pyg_op *op;
    PyObject *aw = pyg_awaitable_new(st, &op, channel, value, ctx_obj, NULL);
    if (aw && pyg_op_channel(op, st, kind, channel, value, timeout_obj,
                             ctx_obj) < 0)
        Py_CLEAR(aw);
    return aw;
}

static PyObject *channel_asend(pyg_channel *self, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[3];
    if (pyg_parse_args("asend", args, nargs, kwnames, 1, blocking_kwlist,
                       argv) < 0)
        return NULL;
    return pyg_channel_awaitable((PyObject *)self, PYG_OP_SEND, argv[0],
                                 argv[1], argv[2]);
}

static PyObject *channel_arecv(pyg_channel *self, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[2];
    if (pyg_parse_args("arecv", args, nargs, kwnames, 0, blocking_kwlist,
                       argv) < 0)
        return NULL;
    return pyg_channel_awaitable((PyObject *)self, PYG_OP_RECV, NULL, argv[0],
                                 argv[1]);
}

static PyObject *channel_arecv_ok(pyg_channel *self, PyObject *const *args,
                                  Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[2];
    if (pyg_parse_args("arecv_ok", args, nargs, kwnames, 0, blocking_kwlist,
                       argv) < 0)
        return NULL;
    return pyg_channel_awaitable((PyObject *)self, PYG_OP_RECV_OK, NULL,
                                 argv[0], argv[1]);
}

PyObject *pyg_channel_next(PyObject *channel, PyObject *ctx_obj)
{
    return run_channel_op((pyg_channel *)channel, PYG_OP_ITER, NULL, NULL,
                          ctx_obj);
}

static PyObject *channel_iternext(pyg_channel *self)
{
    return run_channel_op(self, PYG_OP_ITER, NULL, NULL, NULL);
}

static PyObject *channel_close(pyg_channel *self, PyObject *Py_UNUSED(ignored))
{
    if (pyg_channel_refuse(self, PYG_SEND_SIDE, "close") < 0)
        return NULL;
    if (gc_chan_close(self->chan) != GC_OK) {
        pyg_raise_status(state_of(self), GC_CLOSED, "close");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- introspection ---------------------------------------------------- */

static Py_ssize_t channel_len(pyg_channel *self)
{
    return (Py_ssize_t)gc_chan_len(self->chan);
}

/* A channel is always true, even when empty: `if ch:` reads as "is there a
   channel" (Go's nil check), never as "is something buffered". */
static int channel_bool(pyg_channel *Py_UNUSED(self))
{
    return 1;
}

static PyObject *channel_get_capacity(pyg_channel *self, void *Py_UNUSED(c))
{
    return PyLong_FromLongLong(gc_chan_capacity(self->chan));
}

static PyObject *channel_get_id(pyg_channel *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(gc_chan_id(self->chan));
}

static PyObject *channel_get_closed(pyg_channel *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(gc_chan_is_closed(self->chan));
}

static PyObject *channel_repr(pyg_channel *self)
{
    size_t senders, receivers;
    gc_chan_count_waiting(self->chan, &senders, &receivers);
    int64_t capacity = gc_chan_capacity(self->chan);
    char capacity_text[32];
    if (capacity == GC_UNBOUNDED)
        snprintf(capacity_text, sizeof capacity_text, "UNBOUNDED");
    else
        snprintf(capacity_text, sizeof capacity_text, "%lld",
                 (long long)capacity);
    return PyUnicode_FromFormat(
        "<pygochan.Channel %scapacity=%s len=%zu closed=%s waiting_senders=%zu "
        "waiting_receivers=%zu>",
        self->kind == PYG_CHAN_RECV_VIEW   ? "(receive-only view) "
        : self->kind == PYG_CHAN_SEND_VIEW ? "(send-only view) "
                                           : "",
        capacity_text, gc_chan_len(self->chan),
        gc_chan_is_closed(self->chan) ? "True" : "False", senders, receivers);
}

static PyObject *channel_stats(pyg_channel *self, PyObject *Py_UNUSED(ignored))
{
    gc_chan_stats s;
    gc_chan_get_stats(self->chan, &s);
    return pyg_channel_stats_object(state_of(self), &s,
                                    gc_chan_capacity(self->chan));
}

static PyObject *channel_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError,
                 "cannot pickle '%.200s' object: a channel is shared between "
                 "threads, not copied",
                 Py_TYPE(self)->tp_name);
    return NULL;
}

static PyMethodDef channel_methods[] = {
    {"send", (PyCFunction)(void (*)(void))channel_send,
     METH_FASTCALL | METH_KEYWORDS,
     "send($self, value, *, timeout=None, ctx=None)\n--\n\n"
     "Send value: block until a receiver takes it (unbuffered) or there is\n"
     "room in the buffer.  Raises ChannelClosed if the channel is or becomes\n"
     "closed, TimeoutError after timeout seconds; either way the value was\n"
     "not sent.\n\n"
     "    >>> ch = Channel(1)\n    >>> ch.send('job')\n"},
    {"recv", (PyCFunction)(void (*)(void))channel_recv,
     METH_FASTCALL | METH_KEYWORDS,
     "recv($self, *, timeout=None, ctx=None)\n--\n\n"
     "Receive a value, blocking until one is available.  Buffered values\n"
     "sent before close() are still delivered; once the channel is closed\n"
     "and drained, raises ChannelClosed.  TimeoutError after timeout seconds,\n"
     "having received nothing.\n\n"
     "    >>> ch = Channel(1); ch.send(42); ch.recv()\n    42\n"},
    {"recv_ok", (PyCFunction)(void (*)(void))channel_recv_ok,
     METH_FASTCALL | METH_KEYWORDS,
     "recv_ok($self, *, timeout=None, ctx=None)\n--\n\n"
     "Receive like Go's `v, ok := <-ch`: (value, True), or (None, False)\n"
     "once the channel is closed and drained.  Never raises ChannelClosed.\n\n"
     "    >>> ch = Channel(1); ch.close(); ch.recv_ok()\n    (None, False)\n"},
    {"asend", (PyCFunction)(void (*)(void))channel_asend,
     METH_FASTCALL | METH_KEYWORDS,
     "asend($self, value, *, timeout=None, ctx=None)\n--\n\n"
     "Send value, suspending the task (not the thread) until it is taken.\n"
     "The semantics of send(): timeout=/ctx= end the wait with no effect; a\n"
     "cancelled await had no effect unless the hand-off already happened,\n"
     "in which case it returns and the task sees the cancellation at its\n"
     "next suspension point.\n\n"
     "    >>> await ch.asend(job, timeout=5)\n"},
    {"arecv", (PyCFunction)(void (*)(void))channel_arecv,
     METH_FASTCALL | METH_KEYWORDS,
     "arecv($self, *, timeout=None, ctx=None)\n--\n\n"
     "Receive a value, suspending the task until one is available; the\n"
     "semantics of recv() (ChannelClosed once closed and drained).\n\n"
     "    >>> job = await ch.arecv(timeout=1.0)\n"},
    {"arecv_ok", (PyCFunction)(void (*)(void))channel_arecv_ok,
     METH_FASTCALL | METH_KEYWORDS,
     "arecv_ok($self, *, timeout=None, ctx=None)\n--\n\n"
     "Receive like Go's `v, ok := <-ch`, awaited: (value, True), or\n"
     "(None, False) once closed and drained.\n\n"
     "    >>> value, ok = await ch.arecv_ok()\n"},
    {"close", (PyCFunction)channel_close, METH_NOARGS,
     "close($self)\n--\n\n"
     "Close the channel: blocked and future senders raise ChannelClosed,\n"
     "receivers drain what is buffered and then see the end.  Closing twice\n"
     "raises ChannelClosed.\n\n"
     "    >>> ch = Channel(2); ch.send(1); ch.close(); list(ch)\n    [1]\n"},
    {"recv_only", pyg_channel_recv_only, METH_NOARGS,
     "recv_only($self)\n--\n\n"
     "A receive-only view of this channel (Go's <-chan T): recv, recv_ok,\n"
     "iteration and select's recv() work on it; send and close raise\n"
     "TypeError.  It shares the channel itself.\n\n"
     "    >>> results = Channel(8); out = results.recv_only()\n"},
    {"send_only", pyg_channel_send_only, METH_NOARGS,
     "send_only($self)\n--\n\n"
     "A send-only view of this channel (Go's chan<- T): send, close and\n"
     "select's send() work on it; receiving raises TypeError.  Closing is\n"
     "the sender's side, as in Go.\n\n"
     "    >>> jobs = Channel(8); producer_end = jobs.send_only()\n"},
    {"iter", (PyCFunction)(void (*)(void))pyg_channel_iter,
     METH_FASTCALL | METH_KEYWORDS,
     "iter($self, *, ctx=None)\n--\n\n"
     "Iterate like `for v in ch`, bound to a context: the loop ends when the\n"
     "channel is closed and drained, and raises ctx's error (Canceled or\n"
     "DeadlineExceeded, both ContextError) when ctx is done first; nothing\n"
     "is received then.\n\n"
     "    >>> for job in jobs.iter(ctx=ctx):\n    ...     handle(job)\n"},
    {"stats", (PyCFunction)channel_stats, METH_NOARGS,
     "stats($self, /)\n--\n\n"
     "A ChannelStats snapshot: sends, receives, send_blocked_seconds,\n"
     "recv_blocked_seconds, max_fill, senders_waiting, receivers_waiting,\n"
     "capacity, length, closed.  A view reports its channel's counters.\n\n"
     "    >>> ch = gc.Channel(2); ch.send(1); ch.stats().sends\n"
     "    1\n"},
    {"__reduce__", channel_reduce, METH_NOARGS, NULL},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "Channel[T] for type annotations."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef channel_getset[] = {
    {"capacity", (getter)channel_get_capacity, NULL,
     "Buffer size: 0 for unbuffered, UNBOUNDED (-1) for unbounded.", NULL},
    {"_id", (getter)channel_get_id, NULL,
     "The channel's number in traces (never reused; a view has its "
     "channel's).", NULL},
    {"closed", (getter)channel_get_closed, NULL,
     "True once close() has been called (buffered values may remain).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef channel_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_channel, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

PyDoc_STRVAR(channel_doc,
"Channel(capacity=0)\n--\n\n"
"A Go channel for threads: a FIFO that hands Python objects from senders to\n"
"receivers.  capacity 0 is unbuffered (a send waits for its receiver), n > 0\n"
"buffers n values, UNBOUNDED never blocks a sender.  Every blocking call\n"
"releases the GIL, takes timeout=, and has no effect when it raises.\n\n"
"    >>> import pygochan as gc\n"
"    >>> ch = gc.Channel(3)\n"
"    >>> for i in range(3): ch.send(i)\n"
"    >>> ch.close()\n"
"    >>> [v for v in ch]\n"
"    [0, 1, 2]\n");

static PyType_Slot channel_slots[] = {
    {Py_tp_doc, (void *)channel_doc},
    {Py_tp_new, channel_new},
    {Py_tp_dealloc, channel_dealloc},
    {Py_tp_traverse, channel_traverse},
    {Py_tp_clear, channel_clear},
    {Py_tp_repr, channel_repr},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, channel_iternext},
    {Py_am_aiter, pyg_channel_aiter},
    {Py_tp_methods, channel_methods},
    {Py_tp_getset, channel_getset},
    {Py_tp_members, channel_members},
    {Py_sq_length, channel_len},
    {Py_nb_bool, channel_bool},
    {0, NULL}};

static PyType_Spec channel_spec = {
    .name = "pygochan.Channel",
    .basicsize = sizeof(pyg_channel),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = channel_slots,
};

int pyg_channel_init_type(PyObject *module, pyg_state *st)
{
    st->channel_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &channel_spec, NULL);
    if (!st->channel_type)
        return -1;
    return PyModule_AddType(module, st->channel_type);
}

/* ---- views and iteration ------------------------------------------------ */

/* Channel direction views (Go's <-chan T and chan<- T) and iteration bound
   to a context.  A view is a Channel object that borrows the chan of the
   channel it views and holds a reference to that channel, so the chan
   lives as long as any view; the operations are the channel's own, with
   the forbidden side refused (see pyg_channel_refuse). */

static PyObject *new_view(PyObject *self, enum pyg_channel_kind kind)
{
    pyg_channel *base = (pyg_channel *)self;
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    bool base_is_view = base->kind == PYG_CHAN_RECV_VIEW ||
                        base->kind == PYG_CHAN_SEND_VIEW;
    if (base_is_view && base->kind != kind) {
        PyErr_SetString(PyExc_TypeError,
                        "a channel view cannot change its direction");
        return NULL;
    }
    if (kind == PYG_CHAN_SEND_VIEW &&
        pyg_channel_refuse(base, PYG_SEND_SIDE, "send_only()") < 0)
        return NULL;
    PyObject *root = base->view_of ? base->view_of : self;
    PyTypeObject *type = st->channel_type;
    pyg_channel *view = (pyg_channel *)type->tp_alloc(type, 0);
    if (!view)
        return NULL;
    view->view_of = Py_NewRef(root);
    view->chan = ((pyg_channel *)root)->chan;
    view->kind = (unsigned char)kind;
    return (PyObject *)view;
}

PyObject *pyg_channel_recv_only(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return new_view(self, PYG_CHAN_RECV_VIEW);
}

PyObject *pyg_channel_send_only(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return new_view(self, PYG_CHAN_SEND_VIEW);
}

/* ---- Channel.iter(ctx=) ------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *channel; /* the Channel (owned) */
    PyObject *ctx;     /* a Context (owned), or NULL */
} channel_iter;

PyObject *pyg_channel_iter(PyObject *self, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"ctx", NULL};
    PyObject *ctx_obj;
    gc_ctx *ctx;
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    if (pyg_parse_args("iter", args, nargs, kwnames, 0, kwlist, &ctx_obj) < 0 ||
        pyg_ctx_arg(st, ctx_obj, &ctx) < 0 ||
        pyg_channel_refuse((pyg_channel *)self, PYG_RECV_SIDE, "iter") < 0)
        return NULL;
    channel_iter *it = PyObject_GC_New(channel_iter, st->channel_iter_type);
    if (!it)
        return NULL;
    it->channel = Py_NewRef(self);
    it->ctx = ctx_obj && ctx_obj != Py_None ? Py_NewRef(ctx_obj) : NULL;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static PyObject *channel_iter_next(channel_iter *self)
{
    return pyg_channel_next(self->channel, self->ctx);
}

static int channel_iter_traverse(channel_iter *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->channel);
    Py_VISIT(self->ctx);
    return 0;
}

static int channel_iter_clear(channel_iter *self)
{
    Py_CLEAR(self->channel);
    Py_CLEAR(self->ctx);
    return 0;
}

static void channel_iter_dealloc(channel_iter *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    channel_iter_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

static PyObject *channel_iter_repr(channel_iter *self)
{
    if (!self->channel)
        return PyUnicode_FromString("<pygochan.ChannelIterator>");
    return PyUnicode_FromFormat("<pygochan.ChannelIterator of %R, ctx=%R>",
                                self->channel, self->ctx ? self->ctx : Py_None);
}

static PyType_Slot channel_iter_slots[] = {
    {Py_tp_doc, (void *)"What Channel.iter(ctx=) returns: an iterator that ends\n"
                        "when the channel is closed and drained and raises\n"
                        "ctx's error when ctx is done first."},
    {Py_tp_dealloc, channel_iter_dealloc},
    {Py_tp_traverse, channel_iter_traverse},
    {Py_tp_clear, channel_iter_clear},
    {Py_tp_repr, channel_iter_repr},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, channel_iter_next},
    {0, NULL}};

static PyType_Spec channel_iter_spec = {
    .name = "pygochan.ChannelIterator",
    .basicsize = sizeof(channel_iter),
    .flags = PYG_INTERNAL_GC_TYPE_FLAGS,
    .slots = channel_iter_slots,
};

/* ---- async for v in ch ------------------------------------------------ */

PyObject *pyg_channel_aiter(PyObject *self)
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    if (pyg_channel_refuse((pyg_channel *)self, PYG_RECV_SIDE, "recv") < 0)
        return NULL;
    channel_iter *it = PyObject_GC_New(channel_iter, st->channel_aiter_type);
    if (!it)
        return NULL;
    it->channel = Py_NewRef(self);
    it->ctx = NULL;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static PyObject *channel_aiter_anext(channel_iter *self)
{
    return pyg_channel_awaitable(self->channel, PYG_OP_AITER, NULL, NULL,
                                 self->ctx);
}

static PyObject *channel_aiter_self(PyObject *self)
{
    return Py_NewRef(self);
}

static PyType_Slot channel_aiter_slots[] = {
    {Py_tp_doc, (void *)"What `async for` over a Channel uses: each step\n"
                        "receives like ch.arecv(), and the loop ends when the\n"
                        "channel is closed and drained."},
    {Py_tp_dealloc, channel_iter_dealloc},
    {Py_tp_traverse, channel_iter_traverse},
    {Py_tp_clear, channel_iter_clear},
    {Py_am_aiter, channel_aiter_self},
    {Py_am_anext, channel_aiter_anext},
    {0, NULL}};

static PyType_Spec channel_aiter_spec = {
    .name = "pygochan.ChannelAsyncIterator",
    .basicsize = sizeof(channel_iter),
    .flags = PYG_INTERNAL_GC_TYPE_FLAGS,
    .slots = channel_aiter_slots,
};

int pyg_views_init(PyObject *module, pyg_state *st)
{
    st->channel_iter_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &channel_iter_spec, NULL);
    if (!st->channel_iter_type)
        return -1;
    st->channel_aiter_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &channel_aiter_spec, NULL);
    return st->channel_aiter_type ? 0 : -1;
}

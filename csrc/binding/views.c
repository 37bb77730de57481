/* Channel direction views (Go's <-chan T and chan<- T) and iteration bound
   to a context.  A view is a Channel object that borrows the chan of the
   channel it views and holds a reference to that channel, so the chan
   lives as long as any view; the operations are the channel's own, with
   the forbidden side refused (see pyg_channel_refuse). */
#include "op/op.h"

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

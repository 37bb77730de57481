/* Channel: its kinds, the direction check every operation makes, and
   the values it carries. */
#ifndef PYG_CHANNEL_H
#define PYG_CHANNEL_H

#include "state.h"

/* What a Python Channel is.  The kind decides who owns its gc_chan and
   which side of it Python code may use (pyg_channel_refuse); it never
   changes after creation. */
enum pyg_channel_kind {
    PYG_CHAN_OWNED,     /* Channel(): owns chan; both sides */
    PYG_CHAN_TIMER,     /* a Timer's or Ticker's c: owns chan and timer;
                           receive only (the timer sends) */
    PYG_CHAN_DONE,      /* a done channel: owner_ctx owns chan; receive
                           only (cancelling closes it) */
    PYG_CHAN_RECV_VIEW, /* recv_only(): borrows view_of's chan */
    PYG_CHAN_SEND_VIEW, /* send_only(): borrows view_of's chan; send, close */
};

/* The two sides of a channel: sending (send, close, a send case, a
   send-only view) and receiving (recv, iteration, a recv case). */
enum pyg_channel_side { PYG_SEND_SIDE, PYG_RECV_SIDE };

typedef struct {
    PyObject_HEAD
    gc_chan *chan;          /* OWNED, TIMER: owned, freed in dealloc; DONE:
                               owner_ctx's; views: view_of's */
    gc_timer *timer;        /* TIMER: owned (armed by the Timer) */
    gc_ctx *owner_ctx;      /* DONE: a reference on the context */
    PyObject *view_of;      /* views: the Channel whose chan this borrows
                               (owned) */
    unsigned char kind;     /* enum pyg_channel_kind; immutable */
    PyObject *weakreflist;
} pyg_channel;

/* Core visit callbacks (gc_chan_visit, gc_ctx_visit_values) over values
   that are objects or timer values: pyg_visit_value(value, &adapter) calls
   the collector's visit for each object. */
typedef struct {
    visitproc visit;
    void *arg;
} pyg_visit_adapter;
static inline int pyg_visit_value(void *value, void *arg)
{
    pyg_visit_adapter *a = arg;
    if (gc_is_timer_value(value))
        return 0;
    return a->visit((PyObject *)value, a->arg);
}

/* What each kind of channel lets Python code do, and how a refusal
   names it. */
static const struct pyg_channel_kind_rules {
    bool send_side, recv_side;
    const char *refused_as;
} pyg_channel_kinds[] = {
    [PYG_CHAN_OWNED] = {true, true, ""},
    [PYG_CHAN_TIMER] = {false, true, "a timer's channel: it is receive-only"},
    [PYG_CHAN_DONE] = {false, true, "a context's done channel: it is receive-only"},
    [PYG_CHAN_RECV_VIEW] = {false, true,
                            "a receive-only view of a channel: it is receive-only"},
    [PYG_CHAN_SEND_VIEW] = {true, false,
                            "a send-only view of a channel: it is send-only"},
};

/* Refuse what ch's kind forbids: 0 if Python code may use that side of
   it, else -1 with a TypeError naming `what` and the kind.  The one
   direction check of every operation, thread or awaited. */
static inline int pyg_channel_refuse(pyg_channel *self,
                                     enum pyg_channel_side side,
                                     const char *what)
{
    unsigned char k = self->kind;
    if (side == PYG_SEND_SIDE ? pyg_channel_kinds[k].send_side
                              : pyg_channel_kinds[k].recv_side)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s on %s", what, pyg_channel_kinds[k].refused_as);
    return -1;
}

/* Channel methods: views and iteration. */
PyObject *pyg_channel_recv_only(PyObject *self, PyObject *ignored);
PyObject *pyg_channel_send_only(PyObject *self, PyObject *ignored);
/* The next value of `for v in ch` (ctx_obj: Channel.iter(ctx=), or NULL):
   NULL without an exception at the end. */
PyObject *pyg_channel_next(PyObject *channel, PyObject *ctx_obj);
/* `async for v in ch`. */
PyObject *pyg_channel_aiter(PyObject *self);
PyObject *pyg_channel_iter(PyObject *self, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames);

/* A value coming out of the core as a new reference: timer values become
   float seconds on the time.monotonic() clock; objects pass through. */
static inline PyObject *pyg_value_out(void *value)
{
    if (gc_is_timer_value(value))
        return PyFloat_FromDouble((double)gc_timer_value_ns(value) / 1e9);
    return (PyObject *)value;
}

/* A channel for timer values only: Python code may receive, not send or
   close.  The channel owns `timer` (armed by the caller). */
PyObject *pyg_timer_channel_new(pyg_state *st);

PyObject *pyg_done_channel_new(pyg_state *st, gc_ctx *ctx);

#endif

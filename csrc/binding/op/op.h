/*
 * One blocking operation of the binding, built once and driven two ways.
 *
 * Every call that may wait -- a send, a receive (value, pair, iteration),
 * a select, a wait for a channel that is only ever closed (a done channel:
 * contexts, futures, wait groups), a pool's hand-off of a job -- is a
 * pyg_op.  A builder parses and checks the call's arguments (kind and
 * direction of the channel, timeout=, ctx=, the select's cases) and fills
 * the op's cases; then a driver runs it:
 *
 *     the thread driver (pyg_op_run):
 *         pyg_op_try     -> committed, or nothing happened
 *         pyg_op_block   -> park with the GIL released, signal slices,
 *                           blocked()/deadlock records (op/thread.c)
 *         pyg_op_result  -> the return value, or the exception
 *         pyg_op_release
 *
 *     the loop driver (op/loop.c, an awaitable around the op):
 *         pyg_op_try, then pyg_op_register on the loop's hub; the hub hands
 *         it back settled (pyg_op_settle_parked), or the task's cancel()
 *         calls pyg_op_abort first; then pyg_op_result, pyg_op_release.
 *
 * The rules both drivers share live here once: a done ctx raises before
 * anything is attempted; a pending signal raises before a send can commit
 * (a committed send cannot be undone); a receive's result is built before
 * the last signal check and the value goes back to its channel if that
 * raises (pyg_recv_result); a value received and never returned goes back
 * (pyg_op_release); an op that raises had no effect.
 *
 * Ownership: the op owns the references its send cases offer (from
 * pyg_op_try until one commits or the op gives up) and a received value
 * until pyg_op_result returns it.  Everything else it points at (the
 * channels' objects, the ctx, the pool, the objects blocked() shows) is
 * borrowed: whoever holds the op (a C call's frame, an awaitable) keeps
 * them alive.  An op is used by one thread at a time, with the GIL (or on
 * a free-threaded build, by the thread that owns it); wakers on other
 * threads only touch the gc_select's waiter and entries, through the core.
 */
#ifndef PYG_OP_H
#define PYG_OP_H

#include "args.h"

/* What the op does, and so what pyg_op_result makes of its outcome. */
enum pyg_op_kind {
    PYG_OP_SEND,    /* case 0 sends: None */
    PYG_OP_RECV,    /* the value; ChannelClosed once closed and drained */
    PYG_OP_RECV_OK, /* (value, True), or (None, False) */
    PYG_OP_ITER,    /* the value; at the end NULL without an exception */
    PYG_OP_AITER,   /* the value; StopAsyncIteration at the end */
    PYG_OP_SELECT,  /* SelectResult(index, value, ok) */
    PYG_OP_CLOSED,  /* wait until a close-only channel is closed: None */
    PYG_OP_SUBMIT,  /* a pool's job onto its job channel: the job's Future */
};

/* Room for a select's cases that the caller provides (its stack), so that
   a small select allocates nothing; larger ones take heap memory. */
typedef struct {
    gc_case *cases;
    gc_entry *entries;
    int *orders; /* 2 * capacity */
    int capacity;
} pyg_op_room;

#define PYG_OP_INLINE_CASES 2

typedef struct pyg_op {
    pyg_state *st;
    unsigned char kind;       /* enum pyg_op_kind */
    bool nonblocking;         /* select(default=True), try_submit: one attempt */
    bool offers_live;         /* send cases hold their offered references */
    bool value_owned;         /* res.value: a received reference not yet returned */
    bool sel_ready;           /* sel initialised (a wait or a select needs it) */
    bool heap_room;           /* cases/entries/orders are PyMem blocks */
    bool route_open;          /* SUBMIT: the pool's route awaits its settlement */
    bool settled;             /* status and res hold the outcome */
    bool aborted;             /* settled by giving up: nothing happened */
    bool closed_already;      /* CLOSED: nothing to wait for */
    int ncases;               /* the caller's cases */
    int total;                /* plus the ctx's done channel, last */
    const char *name;         /* "send", "recv", "select", "wait", ...: errors, blocked() */
    PyObject *timeout_error;  /* the class a timeout raises (borrowed) */
    PyObject *shown_one;      /* what blocked() shows (borrowed)... */
    PyObject *const *shown;   /* ...or these */
    Py_ssize_t nshown;
    pyg_timeout timeout;
    gc_ctx *ctx;              /* ctx= (borrowed), or NULL */
    PyObject *ctx_obj;        /* ctx='s Context (borrowed), or NULL: blocked records */
    gc_chan *closed_chan;     /* CLOSED: the channel, NULL if it never closes */
    PyObject *pool;           /* SUBMIT: the Pool (borrowed) and its job's route, */
    int route;
    /* settled once the send is decided either way (the pool's own code) */
    void (*settle_route)(PyObject *pool, int route, bool sent);
    enum gc_status status;    /* the outcome, once settled */
    gc_select_result res;
    gc_case *cases;
    gc_entry *entries;
    int *orders;
    gc_select sel;
    gc_case inline_cases[PYG_OP_INLINE_CASES];
    gc_entry inline_entries[PYG_OP_INLINE_CASES];
    int inline_orders[2 * PYG_OP_INLINE_CASES];
} pyg_op;

/* ---- builders: 0, or -1 with an exception set and nothing to release -- */

/* A send, receive or iteration on a Channel: the channel's kind and
   direction allow it (TypeError otherwise), timeout= and ctx= parse. */
int pyg_op_channel(pyg_op *op, pyg_state *st, enum pyg_op_kind kind,
                   PyObject *channel, PyObject *value, PyObject *timeout_obj,
                   PyObject *ctx_obj);
/* select(*cases, default=, timeout=, ctx=): each case a gc.recv/gc.send. */
int pyg_op_select(pyg_op *op, pyg_state *st, PyObject *const *cases,
                  Py_ssize_t ncases, bool nonblocking, PyObject *timeout_obj,
                  PyObject *ctx_obj, const pyg_op_room *room);
/* Wait until chan (NULL: never) is closed, or, with closed_already, nothing
   to wait for (the arguments are still checked); name and timeout_error
   (NULL: TimeoutError) word the timeout; shown is what blocked() lists. */
int pyg_op_closed(pyg_op *op, pyg_state *st, gc_chan *chan, bool closed_already,
                  const char *name, PyObject *timeout_error, PyObject *shown,
                  PyObject *timeout_obj, PyObject *ctx_obj);
/* A pool's job (future) onto its job channel on the route gc_pool_route
   gave it; timeout and ctx parsed already.  settle_route(pool, route, sent)
   runs exactly once, by whichever step decides the send. */
void pyg_op_submit(pyg_op *op, pyg_state *st, PyObject *pool, gc_chan *jobs,
                   PyObject *future, int route,
                   void (*settle_route)(PyObject *pool, int route, bool sent),
                   bool nonblocking, pyg_timeout timeout, gc_ctx *ctx);

/* ---- driving ---------------------------------------------------------- */

/* The first attempt: a done ctx raises (GC_INTERRUPTED, exception set), a
   pending signal raises before a send is offered, then one non-blocking
   pass.  GC_NOT_READY: nothing happened; anything else: settled. */
enum gc_status pyg_op_try(pyg_op *op);
/* The thread driver's wait after a try that found nothing: park with the
   GIL released until the op settles (op/thread.c records it for blocked() and
   the deadlock detector).  A nonblocking op or timeout=0 settles as
   timed out at once. */
enum gc_status pyg_op_block(pyg_op *op);
/* The settled op's outcome, as the thread call returns or raises it (a new
   reference, or NULL with an exception; PYG_OP_ITER's end: NULL without). */
PyObject *pyg_op_result(pyg_op *op);
/* Undo what was not returned (a received value goes back to its channel),
   release what is still offered, settle an open route as not sent, free
   heap room.  Most ops have nothing left by then: checked inline. */
void pyg_op_release_rest(pyg_op *op);
static inline void pyg_op_release(pyg_op *op)
{
    if (op->value_owned || op->offers_live || op->route_open || op->heap_room)
        pyg_op_release_rest(op);
}
/* try, block, result, release: a whole thread call. */
PyObject *pyg_op_run(pyg_op *op);

/* The loop driver's steps (op/loop.c).  register: GC_NOT_READY when parked on
   hub, else settled during registration.  abort: true when the abort won
   (nothing happened anywhere, the op settles as timed out); false when a
   waker committed first (the op is settled).  settle_parked: the hub
   handed back a parked op. */
enum gc_status pyg_op_register(pyg_op *op, struct gc_hub *hub);
bool pyg_op_abort(pyg_op *op);
void pyg_op_settle_parked(pyg_op *op);
/* A committed received value that will never be returned goes back: true
   if there was one. */
bool pyg_op_give_back(pyg_op *op);
/* True when the op committed a hand-off (a value moved), which a late
   cancellation cannot undo. */
bool pyg_op_moved(const pyg_op *op);
/* Before the loop driver parks a hand-off on unbuffered channels, where a
   peer thread on another core answers each value within microseconds:
   wait as a thread would, GIL released, for one spin and no sleep, then
   withdraw.  Settled (GC_OK / GC_CLOSED) if the peer answered; GC_NOT_READY
   (nothing happened) if it did not, or if the op is not a hand-off, or if
   recent spins on this thread found nobody that fast. */
enum gc_status pyg_op_spin(pyg_op *op);

/* An awaitable channel operation (the loop driver's Channel methods). */
PyObject *pyg_channel_awaitable(PyObject *channel, enum pyg_op_kind kind,
                                PyObject *value, PyObject *timeout_obj,
                                PyObject *ctx_obj);

#endif

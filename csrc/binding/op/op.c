/* The binding's one blocking operation: builders, the first attempt, the
   result converter and the give-back (see op.h).  The thread driver's
   wait is pyg_wait_with (op/thread.c); the loop driver is op/loop.c. */
#include "op/op.h"
#include "args.h"
#include "channel.h"
#include "select.h"
#include "op/thread.h"

#include <math.h>
#include <string.h>

#include "gc_hub.h"

/* ---- building --------------------------------------------------------- */

static void init_common(pyg_op *op, pyg_state *st, enum pyg_op_kind kind,
                        const char *name)
{
    op->st = st;
    op->kind = (unsigned char)kind;
    op->nonblocking = false;
    op->offers_live = false;
    op->value_owned = false;
    op->sel_ready = false;
    op->heap_room = false;
    op->route_open = false;
    op->settled = false;
    op->aborted = false;
    op->closed_already = false;
    op->ncases = 0;
    op->total = 0;
    op->name = name;
    op->timeout_error = NULL;
    op->shown_one = NULL;
    op->shown = NULL;
    op->nshown = 0;
    op->timeout.blocking = true;
    op->timeout.deadline_ns = GC_FOREVER;
    op->timeout.seconds = -1.0;
    op->ctx = NULL;
    op->ctx_obj = NULL;
    op->closed_chan = NULL;
    op->pool = NULL;
    op->route = 0;
    op->settle_route = NULL;
    op->status = GC_NOT_READY;
    op->res.index = -1;
    op->res.value = NULL;
    op->res.ok = false;
    op->cases = op->inline_cases;
    op->entries = op->inline_entries;
    op->orders = op->inline_orders;
}

/* timeout= and ctx=, as every blocking call takes them. */
static int parse_limits(pyg_op *op, PyObject *timeout_obj, PyObject *ctx_obj)
{
    /* init_common left no timeout and no ctx: most calls pass neither */
    if (timeout_obj && timeout_obj != Py_None &&
        pyg_parse_timeout(timeout_obj, &op->timeout) < 0)
        return -1;
    if (ctx_obj && ctx_obj != Py_None) {
        if (pyg_ctx_arg(op->st, ctx_obj, &op->ctx) < 0)
            return -1;
        op->ctx_obj = ctx_obj;
    }
    return 0;
}

/* Room for total cases: the op's own, the caller's, or the heap. */
static int reserve(pyg_op *op, int total, const pyg_op_room *room)
{
    if (total <= PYG_OP_INLINE_CASES)
        return 0;
    if (room && total <= room->capacity) {
        op->cases = room->cases;
        op->entries = room->entries;
        op->orders = room->orders;
        return 0;
    }
    op->cases = PyMem_New(gc_case, total);
    op->entries = PyMem_New(gc_entry, total);
    op->orders = PyMem_New(int, 2 * (size_t)total);
    op->heap_room = true;
    if (!op->cases || !op->entries || !op->orders) {
        pyg_op_release(op);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The caller's ncases cases are filled in: add the ctx's done channel. */
static void finish_cases(pyg_op *op, int ncases)
{
    op->ncases = ncases;
    op->total = ncases;
    if (op->ctx) {
        op->cases[ncases].chan = gc_ctx_done(op->ctx);
        op->cases[ncases].is_send = false;
        op->cases[ncases].send_value = NULL;
        op->total++;
    }
}

int pyg_op_channel(pyg_op *op, pyg_state *st, enum pyg_op_kind kind,
                   PyObject *channel, PyObject *value, PyObject *timeout_obj,
                   PyObject *ctx_obj)
{
    bool is_send = kind == PYG_OP_SEND;
    init_common(op, st, kind, is_send ? "send" : "recv");
    if (!Py_IS_TYPE(channel, st->channel_type)) {
        PyErr_Format(PyExc_TypeError, "expected a Channel, not %.200s",
                     Py_TYPE(channel)->tp_name);
        return -1;
    }
    pyg_channel *ch = (pyg_channel *)channel;
    if (pyg_channel_refuse(ch, is_send ? PYG_SEND_SIDE : PYG_RECV_SIDE,
                           op->name) < 0 ||
        parse_limits(op, timeout_obj, ctx_obj) < 0)
        return -1;
    op->cases[0].chan = ch->chan;
    op->cases[0].is_send = is_send;
    op->cases[0].send_value = is_send ? value : NULL;
    op->shown_one = channel;
    op->shown = &op->shown_one;
    op->nshown = 1;
    finish_cases(op, 1);
    return 0;
}

int pyg_op_select(pyg_op *op, pyg_state *st, PyObject *const *cases,
                  Py_ssize_t ncases, bool nonblocking, PyObject *timeout_obj,
                  PyObject *ctx_obj, const pyg_op_room *room)
{
    init_common(op, st, PYG_OP_SELECT, "select");
    op->nonblocking = nonblocking;
    if (parse_limits(op, timeout_obj, ctx_obj) < 0)
        return -1;
    if (nonblocking && timeout_obj && timeout_obj != Py_None) {
        PyErr_SetString(PyExc_ValueError,
                        "select(): default=True never blocks, so it cannot "
                        "take a timeout");
        return -1;
    }
    if (ncases > INT_MAX / 2 - 1) {
        PyErr_SetString(PyExc_ValueError, "select(): too many cases");
        return -1;
    }
    int n = (int)ncases;
    if (reserve(op, n + (op->ctx ? 1 : 0), room) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        PyObject *arg = cases[i];
        bool is_send = Py_IS_TYPE(arg, st->send_case_type);
        if (!is_send && !Py_IS_TYPE(arg, st->recv_case_type)) {
            PyErr_Format(PyExc_TypeError,
                         "select() argument %d must be pygochan.recv(...) or "
                         "pygochan.send(...), not %.200s",
                         i + 1, Py_TYPE(arg)->tp_name);
            pyg_op_release(op);
            return -1;
        }
        pyg_case *c = (pyg_case *)arg;
        op->cases[i].chan =
            c->channel == Py_None ? NULL : ((pyg_channel *)c->channel)->chan;
        op->cases[i].is_send = is_send;
        op->cases[i].send_value = is_send ? c->value : NULL;
    }
    op->shown = cases;
    op->nshown = ncases;
    finish_cases(op, n);
    return 0;
}

int pyg_op_closed(pyg_op *op, pyg_state *st, gc_chan *chan, bool closed_already,
                  const char *name, PyObject *timeout_error, PyObject *shown,
                  PyObject *timeout_obj, PyObject *ctx_obj)
{
    init_common(op, st, PYG_OP_CLOSED, name);
    if (parse_limits(op, timeout_obj, ctx_obj) < 0)
        return -1;
    op->closed_already = closed_already;
    op->timeout_error = timeout_error;
    op->closed_chan = chan;
    op->cases[0].chan = chan;
    op->cases[0].is_send = false;
    op->cases[0].send_value = NULL;
    op->shown_one = shown;
    op->shown = &op->shown_one;
    op->nshown = shown ? 1 : 0;
    finish_cases(op, 1);
    return 0;
}

void pyg_op_submit(pyg_op *op, pyg_state *st, PyObject *pool, gc_chan *jobs,
                   PyObject *future, int route,
                   void (*settle_route)(PyObject *pool, int route, bool sent),
                   bool nonblocking, pyg_timeout timeout, gc_ctx *ctx)
{
    init_common(op, st, PYG_OP_SUBMIT, "submit");
    op->nonblocking = nonblocking;
    op->timeout = timeout;
    op->ctx = ctx;
    op->pool = pool;
    op->route = route;
    op->settle_route = settle_route;
    op->route_open = true;
    op->cases[0].chan = jobs;
    op->cases[0].is_send = true;
    op->cases[0].send_value = future;
    op->shown_one = pool;
    op->shown = &op->shown_one;
    op->nshown = 1;
    finish_cases(op, 1);
}

/* ---- outcomes --------------------------------------------------------- */

/* Release the references offered by send cases, except skip's (the
   committed send, whose reference now belongs to the receiver). */
static void release_offers(pyg_op *op, int skip)
{
    if (!op->offers_live)
        return;
    op->offers_live = false;
    for (int i = 0; i < op->ncases; i++)
        if (op->cases[i].is_send && i != skip)
            Py_DECREF((PyObject *)op->cases[i].send_value);
}

/* A submit's send is decided (sent, or never will be): settle its route. */
static void close_route(pyg_op *op, bool sent)
{
    if (!op->route_open)
        return;
    op->route_open = false;
    op->settle_route(op->pool, op->route, sent);
}

/* The outcome is known: status and res hold it. */
static void settle(pyg_op *op, enum gc_status status)
{
    op->settled = true;
    op->status = status;
    if (!op->offers_live && !op->route_open) {
        /* a receive, or a wait: nothing offered, no route to settle */
        op->value_owned = status == GC_OK && op->res.ok &&
                          op->res.index >= 0 && op->res.index < op->ncases &&
                          !op->cases[op->res.index].is_send;
        return;
    }
    int chosen = -1;
    bool committed_case = status == GC_OK && op->res.index >= 0 &&
                          op->res.index < op->ncases;
    if (committed_case && op->cases[op->res.index].is_send)
        chosen = op->res.index;
    release_offers(op, chosen);
    op->value_owned = committed_case && !op->cases[op->res.index].is_send &&
                      op->res.ok;
    close_route(op, chosen >= 0);
}

/* Settled by giving up. */
static void give_up(pyg_op *op)
{
    settle(op, GC_TIMEOUT);
    op->aborted = true;
}

static void ensure_select(pyg_op *op)
{
    if (op->sel_ready)
        return;
    op->sel_ready = true;
    gc_select_init(&op->sel, op->cases, op->total, op->entries, op->orders,
                   op->orders + op->total);
}

enum gc_status pyg_op_try(pyg_op *op)
{
    pyg_state *st = op->st;
    /* Nothing to wait for wins over a done context: the call has no effect
       either way, and the caller learns the more useful fact. */
    if (op->kind == PYG_OP_CLOSED &&
        (op->closed_already ||
         (op->closed_chan && gc_chan_is_closed(op->closed_chan)))) {
        op->res.index = 0;
        op->res.ok = false;
        settle(op, GC_OK);
        return GC_OK;
    }
    if (op->ctx && gc_ctx_err_now(op->ctx) != GC_CTX_ALIVE) {
        pyg_raise_ctx_error(st, op->ctx);
        settle(op, GC_INTERRUPTED);
        op->aborted = true;
        return GC_INTERRUPTED;
    }
    bool offers = false;
    for (int i = 0; i < op->ncases; i++)
        offers |= op->cases[i].is_send;
    if (offers) {
        /* A signal already pending raises before a send can commit: once
           committed, a send cannot be undone (the receiver may have the
           value).  Receives check after they commit instead (see
           pyg_recv_result), and a wait checks before it sleeps. */
        if (PyErr_CheckSignals() < 0) {
            settle(op, GC_INTERRUPTED);
            op->aborted = true;
            return GC_INTERRUPTED;
        }
        for (int i = 0; i < op->ncases; i++)
            if (op->cases[i].is_send)
                Py_INCREF((PyObject *)op->cases[i].send_value);
        op->offers_live = true;
    }
    enum gc_status status;
    switch (op->kind) {
    case PYG_OP_SELECT:
        ensure_select(op);
        status = gc_select_try(&op->sel, &op->res);
        break;
    case PYG_OP_CLOSED:
        return GC_NOT_READY; /* not closed: checked above */
    case PYG_OP_SEND:
    case PYG_OP_SUBMIT:
        /* The ctx was alive a moment ago: try the channel alone first. */
        status = gc_chan_try_send(op->cases[0].chan, op->cases[0].send_value);
        op->res.index = 0;
        op->res.ok = true;
        break;
    default:
        status = gc_chan_try_recv(op->cases[0].chan, &op->res.value,
                                  &op->res.ok);
        op->res.index = 0;
        break;
    }
    if (status != GC_NOT_READY)
        settle(op, status);
    return status;
}

enum gc_status pyg_op_block(pyg_op *op)
{
    if (op->nonblocking || !op->timeout.blocking) {
        give_up(op);
        return GC_TIMEOUT;
    }
    ensure_select(op);
    pyg_wait_how how = {op->name, op->shown, op->nshown, NULL, NULL, 0, op->ctx_obj};
    enum gc_status status =
        pyg_wait_with(op->st, &op->sel, op->timeout.deadline_ns, &op->res, &how);
    settle(op, status);
    op->aborted = status != GC_OK && status != GC_CLOSED;
    return status;
}

PyObject *pyg_op_result(pyg_op *op)
{
    pyg_state *st = op->st;
    enum gc_status status = op->status;
    if (status == GC_OK && op->res.index == op->ncases) /* the ctx case */
        return pyg_raise_ctx_error(st, op->ctx);
    if (status == GC_OK && op->value_owned) {
        /* built in full, then the pending signal handlers run; if one
           raises, the value goes back (pyg_recv_result) */
        op->value_owned = false;
        enum pyg_recv_form form = op->kind == PYG_OP_RECV_OK  ? PYG_RECV_PAIR
                                  : op->kind == PYG_OP_SELECT ? PYG_RECV_SELECT
                                                              : PYG_RECV_VALUE;
        return pyg_recv_result(st, op->cases[op->res.index].chan,
                               op->res.value, form, op->res.index);
    }
    switch (status) {
    case GC_OK:
        break;
    case GC_INTERRUPTED:
        return NULL; /* the exception is set */
    case GC_TIMEOUT:
    case GC_NOT_READY:
        if (op->kind == PYG_OP_SELECT && op->nonblocking)
            return pyg_select_result(st, -1, NULL, false);
        PyErr_Format(op->timeout_error ? op->timeout_error : PyExc_TimeoutError,
                     "%s timed out", op->name);
        return NULL;
    case GC_CLOSED:
        if (op->kind == PYG_OP_SUBMIT)
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot schedule new futures after shutdown");
        else
            pyg_raise_status(st, GC_CLOSED, "send");
        return NULL;
    default:
        pyg_raise_status(st, status, op->name);
        return NULL;
    }
    /* Committed without a value: a send, a close, or a receive that found
       its channel closed and drained. */
    switch (op->kind) {
    case PYG_OP_RECV:
        pyg_raise_status(st, GC_CLOSED, "recv");
        return NULL;
    case PYG_OP_RECV_OK:
        return Py_BuildValue("(OO)", Py_None, Py_False);
    case PYG_OP_ITER:
        return NULL; /* the end of the iteration */
    case PYG_OP_AITER:
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return NULL;
    case PYG_OP_SELECT:
        return pyg_select_result(st, op->res.index, NULL, op->res.ok);
    case PYG_OP_SUBMIT:
        return Py_NewRef((PyObject *)op->cases[0].send_value);
    default: /* SEND, CLOSED */
        Py_RETURN_NONE;
    }
}

bool pyg_op_give_back(pyg_op *op)
{
    if (!op->value_owned)
        return false;
    op->value_owned = false;
    pyg_give_back(op->cases[op->res.index].chan, op->res.value);
    return true;
}

void pyg_op_release_rest(pyg_op *op)
{
    pyg_op_give_back(op);
    release_offers(op, -1);
    close_route(op, false);
    if (op->heap_room) {
        op->heap_room = false;
        PyMem_Free(op->cases);
        PyMem_Free(op->entries);
        PyMem_Free(op->orders);
        op->cases = op->inline_cases;
        op->entries = op->inline_entries;
        op->orders = op->inline_orders;
    }
}

PyObject *pyg_op_run(pyg_op *op)
{
    if (pyg_op_try(op) == GC_NOT_READY)
        pyg_op_block(op);
    PyObject *result = pyg_op_result(op);
    pyg_op_release(op);
    return result;
}

/* ---- the loop driver's steps ------------------------------------------ */

enum gc_status pyg_op_register(pyg_op *op, struct gc_hub *hub)
{
    ensure_select(op);
    enum gc_status status = gc_select_register(&op->sel, hub, &op->res);
    if (status != GC_NOT_READY)
        settle(op, status);
    return status;
}

void pyg_op_settle_parked(pyg_op *op)
{
    gc_select_unregister(&op->sel);
    settle(op, gc_select_committed(&op->sel, &op->res));
}

bool pyg_op_abort(pyg_op *op)
{
    if (op->settled)
        return op->aborted;
    if (!op->sel_ready || op->sel.hub == NULL) {
        give_up(op); /* never registered */
        return true;
    }
    if (gc_waiter_abort(&op->sel.waiter)) {
        gc_select_unregister(&op->sel);
        give_up(op);
        return true;
    }
    /* A waker claimed it: it finishes in a few instructions, holding no
       lock of ours. */
    if (gc_waiter_state(&op->sel.waiter) != GC_W_DONE) {
        Py_BEGIN_ALLOW_THREADS
        gc_waiter_wait_done(&op->sel.waiter);
        Py_END_ALLOW_THREADS
    }
    pyg_op_settle_parked(op);
    return false;
}

bool pyg_op_moved(const pyg_op *op)
{
    return op->status == GC_OK && op->res.index >= 0 &&
           op->res.index < op->ncases &&
           (op->cases[op->res.index].is_send || op->res.ok);
}

static bool spin_may_help(const pyg_op *op)
{
    if (op->kind == PYG_OP_CLOSED || op->ncases == 0)
        return false;
    for (int i = 0; i < op->ncases; i++)
        if (op->cases[i].chan && gc_chan_capacity(op->cases[i].chan) != 0)
            return false;
    return true;
}

/* A thread runs at most one event loop at a time, so the loop's spin
   budget is the thread's: after a miss, the next `spin_skip` hand-offs park
   without spinning, and every further miss doubles that (up to
   SPIN_PENALTY_MAX), so that a loop whose peers are its own tasks, or slow
   threads, stops delaying its other work. */
#define SPIN_PENALTY_MAX 63
static _Thread_local int spin_skip;
static _Thread_local int spin_penalty;

enum gc_status pyg_op_spin(pyg_op *op)
{
    if (!spin_may_help(op))
        return GC_NOT_READY;
    if (spin_skip > 0) {
        spin_skip--;
        return GC_NOT_READY;
    }
    ensure_select(op);
    enum gc_status status;
    Py_BEGIN_ALLOW_THREADS
    status = gc_select_spin(&op->sel, gc_spin_yields, &op->res);
    Py_END_ALLOW_THREADS
    if (status == GC_TIMEOUT) {
        spin_penalty = spin_penalty * 2 + 1;
        if (spin_penalty > SPIN_PENALTY_MAX)
            spin_penalty = SPIN_PENALTY_MAX;
        spin_skip = spin_penalty;
        return GC_NOT_READY;
    }
    spin_penalty = 0;
    settle(op, status);
    return status;
}

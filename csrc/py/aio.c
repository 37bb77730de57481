/*
 * The C half of pygochan's asyncio support (pygochan/_aio.py drives it).
 *
 * _Hub: one per event loop, around a gc_hub (csrc/gc_hub.h).  Wakers on
 * any thread finish a parked operation by pushing it onto the hub; the
 * loop, woken through the hub's descriptor, calls take() on its own thread.
 *
 * _AsyncOp: one send, receive or select awaited by a coroutine.  The same
 * gc_select as a blocking call, but its storage lives in this object rather
 * than on a thread's stack, and its waiter names the loop's hub:
 *
 *     op = _aop(mode, target, value, timeout, ctx)   # parse, like the thread call
 *     op.try_()                  # the non-blocking pass: True if committed
 *     op.park(hub, future)       # register: True if parked
 *     ... the hub's take() settles it (committed), or op.abort() wins ...
 *     op.result()                # the thread call's return value / exception
 *
 * Every method runs on the loop's thread with the GIL (or, free-threaded,
 * on that thread alone): all reference counting happens there, exactly like
 * the thread path.  Wakers only move core pointers.  The exceptions are the
 * hub's pending(), idle() and wait(), which only read: a loop without
 * add_reader has a thread of its own watch the hub for it.
 */
#include "pygochan.h"

#include <stddef.h>

#include "gc_hub.h"
#include "gc_wg.h"
#include "structmember.h"

/* AOP_CLOSED: wait until a channel that is only ever closed is closed (a
   WaitGroup's generation, a Future's done channel).  AOP_SUBMIT: a send of
   a job onto a pool's job channel, routed by the pool (see
   pyg_aop_pool_submit). */
enum aop_mode { AOP_RECV, AOP_RECV_OK, AOP_SEND, AOP_SELECT, AOP_CLOSED,
                AOP_SUBMIT, AOP_NMODES };

enum aop_state {
    AOP_NEW,       /* made; maybe tried */
    AOP_PARKED,    /* registered on its channels, in its hub's parked set */
    AOP_COMMITTED, /* the outcome is known (status, res) */
    AOP_ABORTED,   /* gave up with no effect */
    AOP_CONSUMED   /* result() returned or raised it */
};

typedef struct {
    PyObject_HEAD
    gc_hub *hub; /* owned reference */
    /* The parked operations.  Each entry is that operation's registration
       reference: it stands for the pointers the channels' wait queues hold,
       which the GC cannot see, so the set is deliberately not traversed --
       a parked operation (and through its future, its task) is never
       collected from under a channel, like a blocked thread. */
    PyObject *parked;
    PyObject *weakreflist;
} pyg_hub;

typedef struct {
    PyObject_HEAD
    int mode;
    int state;
    int ncases;         /* the caller's cases (1 unless a select) */
    int total;          /* plus the ctx's done channel */
    PyObject *target;   /* the Channel, or the tuple of cases (owned) */
    PyObject *ctx_obj;  /* the Context, or NULL (owned) */
    gc_ctx *ctx;        /* ctx_obj's core context, or NULL */
    struct gc_wg_gen *wg_gen; /* AOP_CLOSED on a WaitGroup: owned reference */
    PyObject *hub;      /* the pyg_hub while parked or until taken (owned) */
    PyObject *future;   /* what the loop awaits (owned), or NULL */
    /* AOP_SUBMIT: the Pool (owned) and the route its job took; the route
       stays open (route_open) until the send is settled either way, then
       gc_pool_send_finished runs exactly once. */
    PyObject *pool;
    int route;
    bool route_open;
    pyg_timeout timeout;
    bool offers_live;   /* send cases still hold their travelling references */
    bool value_owned;   /* res.value is a received reference not yet returned */
    enum gc_status status;
    gc_select_result res;
    gc_case *cases;
    gc_entry *entries;
    int *orders;
    gc_select sel;
    gc_case small_cases[2];
    gc_entry small_entries[2];
    int small_orders[4];
} pyg_aop;

static const char *const op_names[AOP_NMODES] = {"recv", "recv_ok", "send",
                                                 "select", "wait", "submit"};

static pyg_aop *aop_of_waiter(gc_waiter *w)
{
    return (pyg_aop *)((char *)w - offsetof(pyg_aop, sel) -
                       offsetof(gc_select, waiter));
}

/* ---- offers and outcomes ---------------------------------------------- */

/* Release the references offered by send cases, except skip's (the
   committed send, whose reference now belongs to the receiver). */
static void release_offers(pyg_aop *op, int skip)
{
    if (!op->offers_live)
        return;
    op->offers_live = false;
    for (int i = 0; i < op->ncases; i++)
        if (op->cases[i].is_send && i != skip)
            Py_DECREF((PyObject *)op->cases[i].send_value);
}

/* A submit's send is settled (sent, or never will be): close its route. */
static void close_route(pyg_aop *op, bool sent)
{
    if (!op->route_open)
        return;
    op->route_open = false;
    pyg_pool_submit_settled(op->pool, op->route, sent);
}

/* The outcome is known: status/res hold it. */
static void record_outcome(pyg_aop *op, enum gc_status status)
{
    op->status = status;
    op->state = AOP_COMMITTED;
    int chosen = -1;
    if (status == GC_OK && op->res.index < op->ncases &&
        op->cases[op->res.index].is_send)
        chosen = op->res.index;
    release_offers(op, chosen);
    op->value_owned = status == GC_OK && op->res.index < op->ncases &&
                      !op->cases[op->res.index].is_send && op->res.ok;
    close_route(op, chosen >= 0);
}

/* A parked operation whose waiter is DONE: unlink its other entries and
   read what committed. */
static void settle_done(pyg_aop *op)
{
    gc_select_unregister(&op->sel);
    record_outcome(op, gc_select_committed(&op->sel, &op->res));
}

/* Give a received value that will never be returned back to the head of
   its channel: the receive is undone, exactly once. */
static void give_back(pyg_aop *op)
{
    if (!op->value_owned)
        return;
    op->value_owned = false;
    gc_chan *from = op->cases[op->res.index].chan;
    if (gc_chan_give_back(from, op->res.value) != GC_OK &&
        !gc_is_timer_value(op->res.value))
        Py_DECREF((PyObject *)op->res.value); /* no memory: cannot go back */
}

/* ---- the hub ---------------------------------------------------------- */

static PyObject *hub_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "_Hub() takes no arguments");
        return NULL;
    }
    pyg_hub *self = (pyg_hub *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->parked = PySet_New(NULL);
    if (!self->parked) {
        Py_DECREF(self);
        return NULL;
    }
    self->hub = gc_hub_new();
    if (!self->hub) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Hand back everything posted so far: each operation settled, out of the
   parked set, in completion order.  NULL on error (nothing is lost: the
   remaining operations are settled and released all the same). */
static PyObject *take_all(pyg_hub *self)
{
    PyObject *out = PyList_New(0);
    gc_waiter *w = gc_hub_take(self->hub);
    while (w) {
        gc_waiter *next = w->hub_next;
        pyg_aop *op = aop_of_waiter(w);
        if (op->state == AOP_PARKED)
            settle_done(op);
        if (out && PyList_Append(out, (PyObject *)op) < 0)
            Py_CLEAR(out);
        /* drops the registration reference (the list, if any, holds one) */
        if (PySet_Discard(self->parked, (PyObject *)op) < 0 && out)
            Py_CLEAR(out);
        w = next;
    }
    return out;
}

static PyObject *hub_take(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return take_all(self);
}

static PyObject *hub_pending(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(gc_hub_pending(self->hub));
}

/* The fallback watcher's sleep (a loop without add_reader): see
   gc_hub_wait.  Any thread; the GIL is released while it waits. */
static PyObject *hub_wait(pyg_hub *self, PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(seconds >= 0.0) || seconds > 86400.0) {
        PyErr_SetString(PyExc_ValueError,
                        "wait(timeout): 0 <= timeout <= 86400 seconds");
        return NULL;
    }
    int ms = (int)(seconds * 1000.0);
    bool pending;
    Py_BEGIN_ALLOW_THREADS
    pending = gc_hub_wait(self->hub, ms);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(pending);
}

/* True when no operation is parked here and none waits to be taken (a
   completed one stays in the parked set until take() hands it back).
   Any thread: the set changes only on the loop's. */
static PyObject *hub_idle(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(PySet_GET_SIZE(self->parked) == 0);
}

static PyObject *hub_fileno(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(gc_hub_fd(self->hub));
}

static PyObject *hub_parked_ops(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    return PySequence_List(self->parked);
}

static PyObject *hub_stats(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    gc_hub_stats s;
    gc_hub_get_stats(self->hub, &s);
    return Py_BuildValue("{s:n,s:K,s:K,s:K}", "parked",
                         PySet_GET_SIZE(self->parked), "posts",
                         (unsigned long long)s.posts, "signals",
                         (unsigned long long)s.signals, "takes",
                         (unsigned long long)s.takes);
}

static PyObject *hub_forget_fd(pyg_hub *self, PyObject *Py_UNUSED(ignored))
{
    gc_hub_forget_fd_after_fork(self->hub);
    Py_RETURN_NONE;
}

static void hub_dealloc(pyg_hub *self)
{
    PyTypeObject *type = Py_TYPE(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->hub) {
        /* Parked operations hold the hub, so none is left; a take still
           releases anything posted after the last drain. */
        if (self->parked) {
            PyObject *rest = take_all(self);
            if (!rest)
                PyErr_Clear();
            Py_XDECREF(rest);
        }
        gc_hub_release(self->hub);
    }
    Py_XDECREF(self->parked);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef hub_methods[] = {
    {"take", (PyCFunction)hub_take, METH_NOARGS,
     "take($self)\n--\n\nThe operations completed since the last take, settled."},
    {"pending", (PyCFunction)hub_pending, METH_NOARGS,
     "pending($self)\n--\n\nTrue when take() would return something."},
    {"wait", (PyCFunction)hub_wait, METH_O,
     "wait($self, timeout, /)\n--\n\nSleep (GIL released) until signalled "
     "or timeout seconds pass; consume the signal; True if a take would "
     "return something."},
    {"idle", (PyCFunction)hub_idle, METH_NOARGS,
     "idle($self, /)\n--\n\nTrue when no operation is parked here or "
     "waits to be taken."},
    {"fileno", (PyCFunction)hub_fileno, METH_NOARGS,
     "fileno($self)\n--\n\nThe descriptor that is readable while completions wait."},
    {"parked_ops", (PyCFunction)hub_parked_ops, METH_NOARGS,
     "parked_ops($self)\n--\n\nThe operations registered and not yet taken."},
    {"stats", (PyCFunction)hub_stats, METH_NOARGS,
     "stats($self)\n--\n\nparked, posts, signals (descriptor writes), takes."},
    {"_forget_fd_after_fork", (PyCFunction)hub_forget_fd, METH_NOARGS,
     "In a fork child: close the descriptor shared with the parent."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef hub_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_hub, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyType_Slot hub_slots[] = {
    {Py_tp_doc, (void *)"_Hub()\n--\n\nCompletions for one event loop "
                        "(internal; see pygochan._aio)."},
    {Py_tp_new, hub_new},
    {Py_tp_dealloc, hub_dealloc},
    {Py_tp_methods, hub_methods},
    {Py_tp_members, hub_members},
    {0, NULL}};

static PyType_Spec hub_spec = {
    .name = "pygochan._core._Hub",
    .basicsize = sizeof(pyg_hub),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = hub_slots,
};

/* ---- the operation ---------------------------------------------------- */

static int aop_traverse(pyg_aop *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->target);
    Py_VISIT(self->ctx_obj);
    Py_VISIT(self->hub);
    Py_VISIT(self->future);
    Py_VISIT(self->pool);
    /* Offered and received values are the core's, like a blocked call's. */
    return 0;
}

static int aop_clear(pyg_aop *self)
{
    /* Only the future can close a cycle (future -> task -> coroutine ->
       this op); the channels must stay while a value may go back. */
    Py_CLEAR(self->future);
    return 0;
}

static void aop_dealloc(pyg_aop *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* Never parked here: the hub's parked set holds parked operations. */
    if (self->cases) {
        give_back(self); /* a receive nobody will ever see is undone */
        release_offers(self, -1);
        close_route(self, false);
        if (self->cases != self->small_cases) {
            PyMem_Free(self->cases);
            PyMem_Free(self->entries);
            PyMem_Free(self->orders);
        }
    }
    if (self->wg_gen)
        gc_wg_gen_release(self->wg_gen);
    Py_CLEAR(self->future);
    Py_CLEAR(self->hub);
    Py_CLEAR(self->pool);
    Py_CLEAR(self->ctx_obj);
    Py_CLEAR(self->target);
    type->tp_free(self);
    Py_DECREF(type);
}

/* Fill op->cases from a tuple of gc.recv/gc.send cases, as select() does. */
static int parse_select_cases(pyg_state *st, pyg_aop *op, PyObject *cases)
{
    for (int i = 0; i < op->ncases; i++) {
        PyObject *arg = PyTuple_GET_ITEM(cases, i);
        bool is_send = Py_IS_TYPE(arg, st->send_case_type);
        if (!is_send && !Py_IS_TYPE(arg, st->recv_case_type)) {
            PyErr_Format(PyExc_TypeError,
                         "aselect() argument %d must be pygochan.recv(...) or "
                         "pygochan.send(...), not %.200s",
                         i + 1, Py_TYPE(arg)->tp_name);
            return -1;
        }
        pyg_case *c = (pyg_case *)arg;
        op->cases[i].chan =
            c->channel == Py_None ? NULL : ((pyg_channel *)c->channel)->chan;
        op->cases[i].is_send = is_send;
        op->cases[i].send_value = is_send ? c->value : NULL;
    }
    return 0;
}

/* An operation of mode on ncases cases (filled in by the caller, then
   start_op), with the thread call's timeout=/ctx= checks: a done ctx raises
   its error here, with no effect. */
static pyg_aop *alloc_op(pyg_state *st, int mode, PyObject *target,
                         Py_ssize_t ncases, pyg_timeout timeout,
                         PyObject *ctx_obj, gc_ctx *ctx);

static pyg_aop *new_op(pyg_state *st, int mode, PyObject *target,
                       Py_ssize_t ncases, PyObject *timeout_obj,
                       PyObject *ctx_obj)
{
    pyg_timeout timeout;
    gc_ctx *ctx;
    if (pyg_parse_timeout(timeout_obj, &timeout) < 0 ||
        pyg_ctx_arg(st, ctx_obj, &ctx) < 0)
        return NULL;
    if (ctx && gc_ctx_err_now(ctx) != GC_CTX_ALIVE) {
        pyg_raise_ctx_error(st, ctx);
        return NULL;
    }
    return alloc_op(st, mode, target, ncases, timeout, ctx_obj, ctx);
}

/* An operation with its timeout and ctx already checked. */
static pyg_aop *alloc_op(pyg_state *st, int mode, PyObject *target,
                         Py_ssize_t ncases, pyg_timeout timeout,
                         PyObject *ctx_obj, gc_ctx *ctx)
{
    pyg_aop *op = PyObject_GC_New(pyg_aop, st->aop_type);
    if (!op)
        return NULL;
    op->mode = mode;
    op->state = AOP_NEW;
    op->ncases = 0; /* no offers to release until start_op */
    op->total = (int)ncases + (ctx ? 1 : 0);
    op->target = Py_NewRef(target);
    op->ctx_obj = ctx ? Py_NewRef(ctx_obj) : NULL;
    op->ctx = ctx;
    op->wg_gen = NULL;
    op->hub = NULL;
    op->future = NULL;
    op->pool = NULL;
    op->route = 0;
    op->route_open = false;
    op->timeout = timeout;
    op->offers_live = false;
    op->value_owned = false;
    op->status = GC_NOT_READY;
    op->res.index = -1;
    op->res.value = NULL;
    op->res.ok = false;
    op->cases = NULL;
    op->entries = NULL;
    op->orders = NULL;
    PyObject_GC_Track(op);
    if (op->total <= 2) {
        op->cases = op->small_cases;
        op->entries = op->small_entries;
        op->orders = op->small_orders;
    } else {
        op->entries = PyMem_New(gc_entry, op->total);
        op->orders = PyMem_New(int, 2 * (size_t)op->total);
        op->cases = PyMem_New(gc_case, op->total);
        if (!op->cases || !op->entries || !op->orders) {
            PyMem_Free(op->entries);
            PyMem_Free(op->orders);
            PyMem_Free(op->cases);
            op->cases = NULL;
            Py_DECREF(op);
            PyErr_NoMemory();
            return NULL;
        }
    }
    return op;
}

/* The caller's ncases cases are in op->cases: add the ctx case, take the
   send cases' references and shuffle the poll order. */
static PyObject *start_op(pyg_aop *op, int ncases)
{
    op->ncases = ncases;
    if (op->ctx) {
        op->cases[ncases].chan = gc_ctx_done(op->ctx);
        op->cases[ncases].is_send = false;
        op->cases[ncases].send_value = NULL;
    }
    /* From here each send case offers a reference of its own. */
    for (int i = 0; i < ncases; i++)
        if (op->cases[i].is_send)
            Py_INCREF((PyObject *)op->cases[i].send_value);
    op->offers_live = true;
    gc_select_init(&op->sel, op->cases, op->total, op->entries, op->orders,
                   op->orders + op->total);
    return (PyObject *)op;
}

/* _aop(mode, target, value, timeout, ctx): a channel operation. */
static PyObject *module_aop(PyObject *module, PyObject *const *args,
                            Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "_aop() takes 5 arguments");
        return NULL;
    }
    int mode = PyLong_AsLong(args[0]);
    if (mode == -1 && PyErr_Occurred())
        return NULL;
    if (mode < 0 || mode >= AOP_CLOSED) {
        PyErr_SetString(PyExc_ValueError, "_aop(): unknown mode");
        return NULL;
    }
    PyObject *target = args[1];
    Py_ssize_t ncases = 1;
    if (mode == AOP_SELECT) {
        if (!PyTuple_Check(target)) {
            PyErr_SetString(PyExc_TypeError, "_aop(): cases must be a tuple");
            return NULL;
        }
        ncases = PyTuple_GET_SIZE(target);
        if (ncases > INT_MAX / 2 - 1) {
            PyErr_SetString(PyExc_ValueError, "aselect(): too many cases");
            return NULL;
        }
    } else {
        if (!Py_IS_TYPE(target, st->channel_type)) {
            PyErr_Format(PyExc_TypeError, "expected a Channel, not %.200s",
                         Py_TYPE(target)->tp_name);
            return NULL;
        }
        if (pyg_refuse_direction((pyg_channel *)target, mode == AOP_SEND) < 0)
            return NULL;
    }
    pyg_aop *op = new_op(st, mode, target, ncases, args[3], args[4]);
    if (!op)
        return NULL;
    if (mode == AOP_SELECT) {
        op->ncases = (int)ncases; /* parse_select_cases reads it */
        int rc = parse_select_cases(st, op, target);
        op->ncases = 0;
        if (rc < 0) {
            Py_DECREF(op);
            return NULL;
        }
    } else {
        op->cases[0].chan = ((pyg_channel *)target)->chan;
        op->cases[0].is_send = mode == AOP_SEND;
        op->cases[0].send_value = mode == AOP_SEND ? args[2] : NULL;
    }
    return start_op(op, (int)ncases);
}

/* _aop_closed(obj, timeout, ctx): wait for a WaitGroup to reach zero or a
   Future to settle; None when there is nothing to wait for. */
static PyObject *module_aop_closed(PyObject *module, PyObject *const *args,
                                   Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_aop_closed() takes 3 arguments");
        return NULL;
    }
    PyObject *obj = args[0];
    bool is_wg = PyObject_TypeCheck(obj, st->wait_group_type);
    if (!is_wg && !PyObject_TypeCheck(obj, st->future_base_type)) {
        PyErr_Format(PyExc_TypeError, "expected a WaitGroup or a Future, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    pyg_aop *op = new_op(st, AOP_CLOSED, obj, 1, args[1], args[2]);
    if (!op)
        return NULL;
    gc_chan *chan;
    if (is_wg) {
        op->wg_gen = pyg_wait_group_gen(obj);
        chan = op->wg_gen ? gc_wg_gen_chan(op->wg_gen) : NULL;
    } else {
        chan = pyg_future_done_chan(obj); /* lives as long as obj */
    }
    if (!chan) {
        Py_DECREF(op);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    op->cases[0].chan = chan;
    op->cases[0].is_send = false;
    op->cases[0].send_value = NULL;
    return start_op(op, 1);
}

PyObject *pyg_aop_pool_submit(pyg_state *st, PyObject *pool, gc_chan *jobs,
                              PyObject *future, int route, pyg_timeout timeout,
                              PyObject *ctx_obj, gc_ctx *ctx)
{
    pyg_aop *op = alloc_op(st, AOP_SUBMIT, future, 1, timeout, ctx_obj, ctx);
    if (!op)
        return NULL;
    op->pool = Py_NewRef(pool);
    op->route = route;
    op->route_open = true;
    op->cases[0].chan = jobs;
    op->cases[0].is_send = true;
    op->cases[0].send_value = future;
    return start_op(op, 1);
}

static PyObject *aop_try(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state != AOP_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "operation already started");
        return NULL;
    }
    enum gc_status st = gc_select_try(&self->sel, &self->res);
    if (st == GC_NOT_READY)
        Py_RETURN_FALSE;
    record_outcome(self, st);
    Py_RETURN_TRUE;
}

static PyObject *aop_park(pyg_aop *self, PyObject *const *args,
                          Py_ssize_t nargs)
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    if (nargs != 2 || !Py_IS_TYPE(args[0], st->hub_type)) {
        PyErr_SetString(PyExc_TypeError, "park(hub, future)");
        return NULL;
    }
    if (self->state != AOP_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "operation already started");
        return NULL;
    }
    pyg_hub *hub = (pyg_hub *)args[0];
    /* The registration reference first: once registered, a waker on any
       thread may post this op at once. */
    if (PySet_Add(hub->parked, (PyObject *)self) < 0)
        return NULL;
    Py_XSETREF(self->future, Py_NewRef(args[1]));
    Py_XSETREF(self->hub, Py_NewRef(args[0]));
    enum gc_status status =
        gc_select_register(&self->sel, hub->hub, &self->res);
    if (status == GC_NOT_READY) {
        self->state = AOP_PARKED;
        Py_RETURN_TRUE;
    }
    record_outcome(self, status);
    Py_CLEAR(self->hub);
    Py_INCREF(self); /* the set's reference may be the last but one */
    int rc = PySet_Discard(hub->parked, (PyObject *)self);
    Py_DECREF(self);
    if (rc < 0)
        return NULL;
    Py_RETURN_FALSE;
}

/* Give up: True if the abort won (nothing happened anywhere), False if a
   waker committed first (the outcome is then settled and result() has it;
   the op stays in its hub until the hub hands it back). */
static PyObject *aop_abort(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == AOP_NEW) {
        release_offers(self, -1);
        close_route(self, false);
        self->state = AOP_ABORTED;
        Py_RETURN_TRUE;
    }
    if (self->state != AOP_PARKED)
        return PyBool_FromLong(self->state == AOP_ABORTED);
    if (gc_waiter_abort(&self->sel.waiter)) {
        gc_select_unregister(&self->sel);
        release_offers(self, -1);
        close_route(self, false);
        self->state = AOP_ABORTED;
        pyg_hub *hub = (pyg_hub *)self->hub;
        self->hub = NULL;
        Py_INCREF(self);
        int rc = PySet_Discard(hub->parked, (PyObject *)self);
        Py_DECREF(self);
        Py_DECREF(hub);
        if (rc < 0)
            return NULL;
        Py_RETURN_TRUE;
    }
    /* The claimer finishes in a few instructions, with no lock we hold. */
    if (gc_waiter_state(&self->sel.waiter) != GC_W_DONE) {
        Py_BEGIN_ALLOW_THREADS
        gc_waiter_wait_done(&self->sel.waiter);
        Py_END_ALLOW_THREADS
    }
    settle_done(self);
    Py_RETURN_FALSE;
}

/* Worth a spin: a hand-off on unbuffered channels only.  There every value
   costs the loop one wake-up; on a buffered channel a fast peer fills the
   buffer and one wake-up drains the whole burst. */
static bool spin_may_help(pyg_aop *op)
{
    if (op->mode == AOP_CLOSED || op->ncases == 0)
        return false;
    for (int i = 0; i < op->ncases; i++)
        if (op->cases[i].chan && gc_chan_capacity(op->cases[i].chan) != 0)
            return false;
    return true;
}

/* A parked hand-off whose peer may answer within microseconds (a thread
   on another core): yield-spin as a blocked thread does before it sleeps,
   with the GIL released.  True if it completed meanwhile (its hub then
   holds it: the caller drains the hub and reads result()); None if a spin
   cannot help here. */
static PyObject *aop_spin(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state != AOP_PARKED || !spin_may_help(self))
        Py_RETURN_NONE;
    uint32_t s;
    Py_BEGIN_ALLOW_THREADS
    (void)gc_waiter_spin(&self->sel.waiter, gc_spin_yields);
    s = gc_waiter_state(&self->sel.waiter);
    if (s == GC_W_CLAIMED)
        gc_waiter_wait_done(&self->sel.waiter);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(s != GC_W_WAITING);
}

/* The thread call's outcome: its return value, or its exception. */
static PyObject *aop_result(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    const char *name = op_names[self->mode];
    if (self->state == AOP_ABORTED) {
        if (self->mode == AOP_CLOSED &&
            PyObject_TypeCheck(self->target, st->future_base_type))
            /* fut.aresult(timeout=): the class fut.result(timeout=) raises,
               also concurrent.futures.TimeoutError before 3.11 */
            PyErr_SetString(st->future_timeout_error, "result timed out");
        else
            pyg_raise_status(st, GC_TIMEOUT, name);
        return NULL;
    }
    if (self->state != AOP_COMMITTED) {
        PyErr_SetString(PyExc_RuntimeError,
                        self->state == AOP_CONSUMED ? "result already taken"
                                                    : "operation not settled");
        return NULL;
    }
    self->state = AOP_CONSUMED;
    if (self->mode == AOP_SUBMIT && self->status == GC_CLOSED) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot schedule new futures after shutdown");
        return NULL;
    }
    if (self->status != GC_OK) {
        pyg_raise_status(st, self->status,
                         self->status == GC_CLOSED ? "send" : name);
        return NULL;
    }
    if (self->res.index == self->ncases) /* the ctx's done channel */
        return pyg_raise_ctx_error(st, self->ctx);
    if (self->value_owned) {
        /* A received value: built into what the call returns, then the
           pending signal handlers run (on the main thread), as for a
           thread's receive; if one raises, the value goes back. */
        self->value_owned = false;
        enum pyg_recv_form form = self->mode == AOP_RECV      ? PYG_RECV_VALUE
                                  : self->mode == AOP_RECV_OK ? PYG_RECV_PAIR
                                                              : PYG_RECV_SELECT;
        return pyg_recv_result(st, self->cases[self->res.index].chan,
                               self->res.value, form, self->res.index);
    }
    /* No value: a committed receive that owns none found its channel
       closed and drained (a value given back left the op consumed). */
    switch (self->mode) {
    case AOP_RECV:
        pyg_raise_status(st, GC_CLOSED, "recv");
        return NULL;
    case AOP_RECV_OK:
        return Py_BuildValue("(OO)", Py_None, Py_False);
    case AOP_SEND:
    case AOP_CLOSED:
        Py_RETURN_NONE;
    case AOP_SUBMIT:
        return Py_NewRef(self->target); /* the job's Future */
    default:
        return pyg_select_result(st, self->res.index, NULL, self->res.ok);
    }
}

/* Undo a committed receive whose value will not be returned. */
static PyObject *aop_give_back(pyg_aop *self, PyObject *Py_UNUSED(ignored))
{
    bool had = self->value_owned;
    give_back(self);
    if (had && self->state == AOP_COMMITTED)
        self->state = AOP_CONSUMED;
    return PyBool_FromLong(had);
}

static PyObject *aop_get_moved(pyg_aop *self, void *Py_UNUSED(c))
{
    /* True when a value changed hands: a hand-off, which a cancellation
       arriving late cannot undo (a close or a ctx case moved nothing). */
    bool moved = (self->state == AOP_COMMITTED ||
                  self->state == AOP_CONSUMED) &&
                 self->status == GC_OK && self->res.index < self->ncases &&
                 (self->cases[self->res.index].is_send || self->res.ok);
    return PyBool_FromLong(moved);
}

static PyObject *aop_get_delay(pyg_aop *self, void *Py_UNUSED(c))
{
    /* seconds until the deadline (None: no timeout); 0 for timeout=0 */
    if (!self->timeout.blocking)
        return PyFloat_FromDouble(0.0);
    if (self->timeout.deadline_ns == GC_FOREVER)
        Py_RETURN_NONE;
    int64_t left = self->timeout.deadline_ns - gc_now_ns();
    return PyFloat_FromDouble(left > 0 ? (double)left / 1e9 : 0.0);
}

static PyObject *aop_get_blocking(pyg_aop *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(self->timeout.blocking);
}

static PyObject *aop_get_state(pyg_aop *self, void *Py_UNUSED(c))
{
    static const char *const names[] = {"new", "parked", "committed",
                                        "aborted", "consumed"};
    return PyUnicode_FromString(names[self->state]);
}

static PyMethodDef aop_methods[] = {
    {"try_", (PyCFunction)aop_try, METH_NOARGS,
     "try_($self)\n--\n\nOne non-blocking attempt: True if it committed."},
    {"park", (PyCFunction)(void (*)(void))aop_park, METH_FASTCALL,
     "park($self, hub, future, /)\n--\n\nRegister on the channels: True if "
     "parked, False if it committed meanwhile."},
    {"abort", (PyCFunction)aop_abort, METH_NOARGS,
     "abort($self)\n--\n\nGive up: True if nothing happened, False if a waker "
     "committed first."},
    {"spin", (PyCFunction)aop_spin, METH_NOARGS,
     "spin($self)\n--\n\nParked on unbuffered channels: wait a few yields "
     "for a waker, the GIL released; True if one finished the operation, "
     "None if no spin was tried."},
    {"result", (PyCFunction)aop_result, METH_NOARGS,
     "result($self)\n--\n\nThe committed outcome, as the thread call returns "
     "or raises it."},
    {"give_back", (PyCFunction)aop_give_back, METH_NOARGS,
     "give_back($self)\n--\n\nUndo a committed receive that will not be "
     "returned: True if a value went back."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef aop_members[] = {
    {"future", T_OBJECT, offsetof(pyg_aop, future), READONLY,
     "What the loop awaits while the operation is parked."},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef aop_getset[] = {
    {"moved", (getter)aop_get_moved, NULL,
     "True when the committed outcome moved a value.", NULL},
    {"delay", (getter)aop_get_delay, NULL,
     "Seconds left until timeout= (None: none).", NULL},
    {"blocking", (getter)aop_get_blocking, NULL,
     "False for timeout=0: one attempt only.", NULL},
    {"state", (getter)aop_get_state, NULL, "The operation's state.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot aop_slots[] = {
    {Py_tp_doc, (void *)"One awaited channel operation (internal; made by "
                        "pygochan._aio)."},
    {Py_tp_dealloc, aop_dealloc},
    {Py_tp_traverse, aop_traverse},
    {Py_tp_clear, aop_clear},
    {Py_tp_methods, aop_methods},
    {Py_tp_members, aop_members},
    {Py_tp_getset, aop_getset},
    {0, NULL}};

#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define AOP_FLAGS \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION)
#else
#define AOP_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

static PyType_Spec aop_spec = {
    .name = "pygochan._core._AsyncOp",
    .basicsize = sizeof(pyg_aop),
    .flags = AOP_FLAGS,
    .slots = aop_slots,
};

static PyMethodDef aio_functions[] = {
    {"_aop", (PyCFunction)(void (*)(void))module_aop, METH_FASTCALL,
     "_aop(mode, target, value, timeout, ctx)\n--\n\n"
     "An awaited operation (internal; see pygochan._aio)."},
    {"_aop_closed", (PyCFunction)(void (*)(void))module_aop_closed, METH_FASTCALL,
     "_aop_closed(obj, timeout, ctx)\n--\n\n"
     "An awaited wait for a WaitGroup or Future (internal), or None."},
    {NULL, NULL, 0, NULL}};

int pyg_aio_init(PyObject *module, pyg_state *st)
{
    st->hub_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &hub_spec, NULL);
    if (!st->hub_type)
        return -1;
    st->aop_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &aop_spec, NULL);
    if (!st->aop_type)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->aop_type->tp_new = NULL;
#endif
    if (PyModule_AddType(module, st->hub_type) < 0 ||
        PyModule_AddType(module, st->aop_type) < 0 ||
        PyModule_AddFunctions(module, aio_functions) < 0)
        return -1;
    PyObject *modes = Py_BuildValue("(iiii)", AOP_RECV, AOP_RECV_OK, AOP_SEND,
                                    AOP_SELECT);
    if (!modes || PyModule_AddObject(module, "_AOP_MODES", modes) < 0) {
        Py_XDECREF(modes);
        return -1;
    }
    return 0;
}

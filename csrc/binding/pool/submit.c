/* Pool.submit, _asubmit_op and try_submit: route a job, then hand it off
   to an idle worker or the queue as an operation (op/op.h). */
#include "pool/pool_impl.h"
#include "args.h"
#include "op/loop.h"
#include "op/op.h"
#include "future.h"

/* ---- submit ----------------------------------------------------------- */

static const char *const submit_kwlist[] = {"submit_timeout", "submit_ctx", NULL};

/* Split fn, *args, **kwargs (minus the submit_* keywords) out of a
   vectorcall.  New references in *fn_args (a tuple) and *kwargs (NULL when
   empty); *fn borrowed. */
static int split_call(const char *name, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, PyObject **fn, PyObject **fn_args,
                      PyObject **kwargs, PyObject **options)
{
    options[0] = options[1] = NULL;
    *kwargs = NULL;
    if (nargs < 1) {
        PyErr_Format(PyExc_TypeError, "%s() missing the callable", name);
        return -1;
    }
    *fn = args[0];
    if (!PyCallable_Check(*fn)) {
        PyErr_Format(PyExc_TypeError, "%s() needs a callable, not %.200s", name,
                     Py_TYPE(*fn)->tp_name);
        return -1;
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, j);
        PyObject *value = args[nargs + j];
        int which = -1;
        for (int k = 0; submit_kwlist[k]; k++)
            if (PyUnicode_CompareWithASCIIString(key, submit_kwlist[k]) == 0)
                which = k;
        if (which >= 0) {
            options[which] = value;
            continue;
        }
        if (!*kwargs && !(*kwargs = PyDict_New()))
            return -1;
        if (PyDict_SetItem(*kwargs, key, value) < 0) {
            Py_CLEAR(*kwargs);
            return -1;
        }
    }
    *fn_args = PyTuple_New(nargs - 1);
    if (!*fn_args) {
        Py_CLEAR(*kwargs);
        return -1;
    }
    for (Py_ssize_t i = 1; i < nargs; i++)
        PyTuple_SET_ITEM(*fn_args, i - 1, Py_NewRef(args[i]));
    return 0;
}

static PyObject *refuse_after_shutdown(void)
{
    PyErr_SetString(PyExc_RuntimeError, "cannot schedule new futures after shutdown");
    return NULL;
}

/* The hand-off of a job is decided: let gc_pool count it (see gc_pool.h). */
static void submit_settled(PyObject *pool, int route, bool sent);

/* How a submit waits when the pool is saturated: not at all, blocking the
   thread, or through an awaitable a coroutine awaits. */
enum submit_wait { SUBMIT_TRY, SUBMIT_BLOCK, SUBMIT_AWAIT };

/* Route a new future's job; the hand-off to a worker or the queue is an
   operation (op.h), driven by this thread, or by an event loop for
   SUBMIT_AWAIT.  Returns the future (for SUBMIT_AWAIT: the awaitable;
   for SUBMIT_TRY: None when there was no room), or NULL with an
   exception, the job not submitted.  One exit releases what the call
   holds. */
static PyObject *submit(pyg_pool *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames, enum submit_wait wait)
{
    bool blocking = wait != SUBMIT_TRY;
    const char *name = wait == SUBMIT_TRY     ? "try_submit"
                       : wait == SUBMIT_BLOCK ? "submit"
                                              : "asubmit";
    pyg_state *st = pool_state(self);
    PyObject *fn, *fn_args = NULL, *kwargs = NULL, *options[2];
    PyObject *future = NULL, *result = NULL;
    pyg_timeout timeout = {true, GC_FOREVER, -1.0};
    gc_ctx *ctx = NULL;
    if (require_configured(self) < 0 ||
        split_call(name, args, nargs, kwnames, &fn, &fn_args, &kwargs, options) < 0)
        goto done;
    if ((options[0] || options[1]) && !blocking) {
        PyErr_SetString(PyExc_TypeError,
                        "try_submit() never blocks: no submit_timeout/submit_ctx");
        goto done;
    }
    if (pyg_parse_timeout(options[0], &timeout) < 0 ||
        pyg_ctx_arg(st, options[1], &ctx) < 0 ||
        !(future = pyg_future_new_task(st, fn, fn_args, kwargs)))
        goto done;
    /* settled by the pool's workers: in the pool's bubble, if any */
    pyg_future_set_bubble(future, gc_chan_bubble(gc_pool_jobs(self->pool)));
    if (self->work->measure_queue_wait)
        pyg_future_stamp_submitted(future);
    if (ctx && gc_ctx_err_now(ctx) != GC_CTX_ALIVE) {
        pyg_raise_ctx_error(st, ctx);
        goto done;
    }
    /* A signal already pending raises before the job is routed: a routed
       job cannot be taken back (a worker may be running it). */
    if (PyErr_CheckSignals() < 0)
        goto done;
    /* A blocking submit from outside the pool can wait for a worker that
       is publishing a result (see gc_pool.h). */
    enum gc_pool_route route =
        gc_pool_route(self->pool, blocking && !pyg_pool_on_worker_of(self->pool));
    if (route == GC_ROUTE_SHUT_DOWN) {
        refuse_after_shutdown();
        goto done;
    }
    if (route == GC_ROUTE_NEW_WORKER) {
        int started = pyg_pool_start_worker(self, future); /* takes its own reference */
        if (started >= 0)
            self->work->submitted++;
        /* started > 0: submitted (the worker runs it), yet interrupted */
        if (started == 0)
            result = Py_NewRef(future);
        goto done;
    }
    /* To an idle worker or the queue: a send on the job channel, an
       operation that settles the route once the send is decided. */
    gc_chan *jobs = gc_pool_jobs(self->pool);
    if (wait == SUBMIT_AWAIT) {
        pyg_op *aop;
        result = pyg_awaitable_new(st, &aop, (PyObject *)self, future, options[1],
                                   NULL);
        if (result)
            pyg_op_submit(aop, st, (PyObject *)self, jobs, future, route,
                          submit_settled, false, timeout, ctx);
        else
            gc_pool_send_finished(self->pool, route, false);
        goto done;
    }
    pyg_op op;
    pyg_op_submit(&op, st, (PyObject *)self, jobs, future, route, submit_settled,
                  !blocking, timeout, ctx);
    if (pyg_op_try(&op) == GC_NOT_READY) {
        if (!blocking) {
            result = Py_NewRef(Py_None); /* no room: no effect */
        } else if (route == GC_ROUTE_QUEUE && pyg_pool_on_worker_of(self->pool)) {
            /* Routed to an idle worker, a hand-off waits only for that
               worker to reach the channel; queued, it waits for a worker
               to finish, and this is one. */
            PyErr_SetString(PyExc_RuntimeError,
                            "submit() from one of the pool's own workers while "
                            "every worker is busy and the queue is full would "
                            "wait forever; use try_submit() or a larger pool");
        } else {
            pyg_op_block(&op);
        }
    }
    if (op.settled)
        result = pyg_op_result(&op);
    pyg_op_release(&op);
done:
    Py_XDECREF(fn_args);
    Py_XDECREF(kwargs);
    Py_XDECREF(future);
    return result;
}

PyObject *pyg_pool_submit(pyg_pool *self, PyObject *const *args,
                             Py_ssize_t nargs, PyObject *kwnames)
{
    return submit(self, args, nargs, kwnames, SUBMIT_BLOCK);
}

PyObject *pyg_pool_asubmit_op(pyg_pool *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    return submit(self, args, nargs, kwnames, SUBMIT_AWAIT);
}

static void submit_settled(PyObject *pool, int route, bool sent)
{
    pyg_pool *self = (pyg_pool *)pool;
    gc_pool_send_finished(self->pool, (enum gc_pool_route)route, sent);
    if (sent)
        self->work->submitted++;
}

PyObject *pyg_pool_try_submit(pyg_pool *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    return submit(self, args, nargs, kwnames, SUBMIT_TRY);
}

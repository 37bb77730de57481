/*
 * The C part of Pool: submitting, the worker loop, resize and shutdown over
 * gc_pool.  Threads are started by start_worker (pyg_start_thread)
 * (threading.Thread, so they show up in threading.enumerate() and are
 * joined at exit); each runs _work(), which only returns when gc_pool says
 * the worker may exit.
 *
 * Workers hold the pool's _PoolWork, never the Pool object: a Pool that
 * nobody references is collected even while its workers sit idle, and its
 * dealloc shuts gc_pool down, so they drain the queue and exit.  The last
 * of the Pool and its workers to let go frees the _PoolWork.
 *
 * Jobs in the job channel are owned references to Futures (see gc_chan.h),
 * owned and shown to the collector by the _PoolWork.
 */
#include "args.h"
#include "op/thread.h"
#include "threads.h"
#include "op/loop.h"
#include "future.h"
#include "op/op.h"

#include "gc_park.h"
#include "gc_pool.h"

#include "structmember.h"

/* What the workers share with their Pool (pygochan._core._PoolWork); the
   Pool and each running worker hold a reference. */
typedef struct {
    PyObject_HEAD
    gc_pool *pool;            /* owned; set before the object is shared */
    int64_t idle_timeout_ns;  /* GC_FOREVER: idle workers never exit */
    /* Counters: workers and submitters bump them concurrently. */
    _Atomic uint64_t submitted, failed, cancelled;
    /* 1 while an idle worker spins long for the next job (gc_select's
       spin_role); zeroed by the allocator. */
    _Atomic int long_spinner;
} pool_work;

typedef struct {
    PyObject_HEAD
    pool_work *work;          /* owned; NULL until _configure */
    gc_pool *pool;            /* work->pool, for short */
    PyObject *idle_timeout;   /* the configured value (owned) */
    PyObject *weakreflist;
} pyg_pool;

/* The pool whose worker the current thread is, so that a submit that would
   block forever (every worker waiting on its own submit) raises instead. */
static _Thread_local gc_pool *worker_of;

static pyg_state *state_of(pyg_pool *self)
{
    return pyg_state_of_type(Py_TYPE(self));
}

static int require_configured(pyg_pool *self)
{
    if (self->pool)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "Pool.__init__ was not called");
    return -1;
}

static PyObject *pool_new(PyTypeObject *type, PyObject *Py_UNUSED(args),
                          PyObject *Py_UNUSED(kwargs))
{
    return type->tp_alloc(type, 0);
}

/* arg: {visit, the collector's arg}, as pool_work_traverse packs them. */
static int visit_job(void *value, void *arg)
{
    void **va = arg;
    visitproc visit = (visitproc)va[0];
    return visit((PyObject *)value, va[1]);
}

static int pool_work_traverse(pool_work *work, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(work));
    void *va[2] = {(void *)visit, arg};
    return gc_chan_visit(gc_pool_jobs(work->pool), visit_job, va);
}

static int pool_traverse(pyg_pool *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->idle_timeout);
    Py_VISIT(self->work);
    return 0;
}

/* Cancel every job still buffered.  Returns how many. */
static size_t cancel_buffered(pool_work *work)
{
    size_t n = 0;
    void **jobs = gc_chan_take_buffer(gc_pool_jobs(work->pool), &n);
    for (size_t i = 0; i < n; i++) {
        pyg_future_cancel(jobs[i]);
        Py_DECREF((PyObject *)jobs[i]);
    }
    free(jobs);
    work->cancelled += n;
    return n;
}

/* Called once the Pool and every worker have let go (or, in a cycle,
   once the collector found that none will): no worker is left to run
   what is still buffered. */
static int pool_work_clear(pool_work *work)
{
    gc_pool_shutdown(work->pool);
    cancel_buffered(work);
    return 0;
}

static void pool_work_dealloc(pool_work *work)
{
    PyTypeObject *type = Py_TYPE(work);
    PyObject_GC_UnTrack(work);
    pool_work_clear(work);
    gc_pool_free(work->pool);
    type->tp_free(work);
    Py_DECREF(type);
}

static int pool_clear(pyg_pool *self)
{
    Py_CLEAR(self->idle_timeout);
    return 0;
}

static void pool_dealloc(pyg_pool *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    pool_clear(self);
    /* As with a dropped ThreadPoolExecutor, what is queued still runs:
       the workers drain the closed queue, then exit. */
    if (self->pool)
        gc_pool_shutdown(self->pool);
    Py_CLEAR(self->work);
    type->tp_free(self);
    Py_DECREF(type);
}

static int parse_workers(PyObject *obj, size_t *out)
{
    if (PyBool_Check(obj) || !PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "max_workers must be an int, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(obj);
    if (n == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        n = -1;
    }
    if (n < 1) { /* ThreadPoolExecutor's message */
        PyErr_SetString(PyExc_ValueError, "max_workers must be greater than 0");
        return -1;
    }
    if (n > 100000) {
        PyErr_Format(PyExc_ValueError,
                     "max_workers must be at most 100000, not %R", obj);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

static PyObject *pool_configure(pyg_pool *self, PyObject *args)
{
    PyObject *workers_obj, *idle_obj, *queue_obj;
    if (!PyArg_ParseTuple(args, "OOO:_configure", &workers_obj, &idle_obj,
                          &queue_obj))
        return NULL;
    if (self->pool) {
        PyErr_SetString(PyExc_RuntimeError, "Pool is already initialized");
        return NULL;
    }
    size_t workers;
    if (parse_workers(workers_obj, &workers) < 0)
        return NULL;
    int64_t idle_ns = GC_FOREVER;
    if (idle_obj != Py_None) {
        double seconds;
        if (pyg_parse_seconds(idle_obj, "idle_timeout", true, &seconds) < 0)
            return NULL;
        idle_ns = seconds >= 9.2e9 ? GC_FOREVER : (int64_t)(seconds * 1e9);
    }
    if (PyBool_Check(queue_obj) || !PyLong_Check(queue_obj)) {
        PyErr_Format(PyExc_TypeError, "queue_size must be an int, not %.200s",
                     Py_TYPE(queue_obj)->tp_name);
        return NULL;
    }
    int overflow;
    long long queue = PyLong_AsLongLongAndOverflow(queue_obj, &overflow);
    if (queue == -1 && PyErr_Occurred())
        return NULL;
    if (overflow || queue < GC_UNBOUNDED) {
        PyErr_Format(PyExc_ValueError,
                     "queue_size must be >= 0 or UNBOUNDED (-1), not %R",
                     queue_obj);
        return NULL;
    }
    gc_pool *pool = gc_pool_new(queue, workers);
    if (!pool)
        return PyErr_NoMemory();
    PyTypeObject *work_type = state_of(self)->pool_work_type;
    pool_work *work = (pool_work *)work_type->tp_alloc(work_type, 0);
    if (!work) {
        gc_pool_free(pool);
        return NULL;
    }
    work->pool = pool;
    work->idle_timeout_ns = idle_ns;
    /* Two threads may race to initialise one pool: one wins. */
    bool won = false;
    PYG_LOCK_OBJECT(self);
    if (!self->pool) {
        self->idle_timeout = Py_NewRef(idle_obj);
        self->work = work;
        self->pool = work->pool;
        won = true;
    }
    PYG_UNLOCK_OBJECT();
    if (!won) {
        Py_DECREF(work);
        PyErr_SetString(PyExc_RuntimeError, "Pool is already initialized");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- starting workers ------------------------------------------------- */

static void undo_worker_start(void *pool)
{
    gc_pool_start_failed((gc_pool *)pool);
}

/* Start a worker thread that runs _work._run_worker([first], upkeep), named by the
   Python side's _worker_name() and kept in its _worker_threads set while
   it lives.  gc_pool has counted the worker already: pyg_start_thread
   gives the count back when the thread will not run, whatever a signal
   handler raises where (the worker's own exit accounts for it otherwise).
   0: started.  -1: not started (the worker count is undone), exception
   set.  1: started, but Thread.start() raised after the thread came to be
   (Ctrl-C): the worker runs `first`, and the exception is set for the
   caller to propagate. */
static int start_worker(pyg_pool *self, PyObject *first)
{
    pyg_state *st = pyg_state_of_type(Py_TYPE(self));
    pyg_thread_books books = {.undo = undo_worker_start, .undo_arg = self->pool};
    PyObject *name = NULL, *first_list = NULL, *upkeep = NULL, *args = NULL;
    if (!(books.threads = PyObject_GetAttrString((PyObject *)self, "_worker_threads")) ||
        !PySet_Check(books.threads)) {
        if (books.threads)
            PyErr_SetString(PyExc_TypeError, "Pool._worker_threads is not a set");
        goto fail;
    }
    if (!(name = PyObject_CallMethod((PyObject *)self, "_worker_name", NULL)) ||
        !(first_list = PyList_New(1)))
        goto fail;
    /* the list is emptied by _run_worker: nothing keeps the future */
    PyList_SET_ITEM(first_list, 0, Py_NewRef(first ? first : Py_None));
    if (!(upkeep = PyObject_GetAttrString((PyObject *)self, "_thread_upkeep")) ||
        !(args = PyTuple_Pack(2, first_list, upkeep)))
        goto fail;
    Py_CLEAR(first_list);
    Py_CLEAR(upkeep);
    PyObject *run = PyObject_GetAttrString((PyObject *)self->work, "_run_worker");
    if (!run)
        goto fail;
    int started = pyg_start_thread(st, &books, run, args, name, Py_None, NULL);
    Py_DECREF(run);
    Py_DECREF(args);
    Py_DECREF(name);
    Py_DECREF(books.threads);
    return started;

fail:
    gc_pool_start_failed(self->pool);
    Py_XDECREF(books.threads);
    Py_XDECREF(name);
    Py_XDECREF(first_list);
    Py_XDECREF(upkeep);
    Py_XDECREF(args);
    return -1;
}

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
    pyg_state *st = state_of(self);
    PyObject *fn, *fn_args = NULL, *kwargs = NULL, *options[2];
    PyObject *future = NULL, *result = NULL;
    pyg_timeout timeout = {true, GC_FOREVER};
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
        gc_pool_route(self->pool, blocking && worker_of != self->pool);
    if (route == GC_ROUTE_SHUT_DOWN) {
        refuse_after_shutdown();
        goto done;
    }
    if (route == GC_ROUTE_NEW_WORKER) {
        int started = start_worker(self, future); /* takes its own reference */
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
        } else if (route == GC_ROUTE_QUEUE && worker_of == self->pool) {
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

static PyObject *pool_submit(pyg_pool *self, PyObject *const *args,
                             Py_ssize_t nargs, PyObject *kwnames)
{
    return submit(self, args, nargs, kwnames, SUBMIT_BLOCK);
}

static PyObject *pool_asubmit_op(pyg_pool *self, PyObject *const *args,
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

static PyObject *pool_try_submit(pyg_pool *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    return submit(self, args, nargs, kwnames, SUBMIT_TRY);
}

/* ---- the worker loop -------------------------------------------------- */

static void job_finished(void *pool)
{
    gc_pool_job_finished(pool);
}

/* True if the job ran (the worker is finishing it: see gc_pool.h). */
static bool run_job(pool_work *work, PyObject *job)
{
    if (!pyg_future_claim(job)) {
        work->cancelled++;
        return false;
    }
    gc_pool_job_started(work->pool);
    if (pyg_future_run_claimed(job, job_finished, work->pool))
        work->failed++;
    return true;
}

/* A worker that just finished a job spins longer than a channel's receiver
   before it sleeps (the time budget of gc_spin still caps it at 50 us): a
   submitter waiting on the result submits again within microseconds, and
   a worker asleep on an idle vCPU takes tens of them to wake, which made a
   single submitter's submit().result() loop cost 60 us instead of 2.  One
   idle worker at a time spins that long (pool_work.long_spinner): the
   others would only take CPU from the submitters. */
#define WORKER_SPIN_YIELDS 256

/* Run Python code while a worker waits for a job.  On the free-threaded
   build an object owned by this thread (made here, or handed to it by a
   collection) and dropped by another is freed only when this thread runs
   Python code: biased reference counting queues it to its owner.  A worker
   parked for good would keep it forever, and with it a dropped Pool whose
   dealloc is what lets that worker exit; so the worker runs some before it
   sleeps and once every UPKEEP_SLICE_NS while it does. */
#ifdef Py_GIL_DISABLED
#define UPKEEP_SLICE_NS ((int64_t)1000 * 1000 * 1000)
#else
#define UPKEEP_SLICE_NS 0
#endif

/* pyg_wait_how.on_slice of an idle worker's wait (free-threaded build). */
static int run_thread_upkeep(void *upkeep)
{
    PyObject *r = PyObject_CallNoArgs((PyObject *)upkeep);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable((PyObject *)upkeep);
    return 0;
}

/* Receive this worker's next job (>= 0), or find that it must exit (-1,
   already counted out by gc_pool).  Jobs buffered are taken without
   letting go of the GIL.  An idle worker waits like any other thread
   (pyg_wait_with): blocked() lists it as an "idle worker" waiting on its
   pool's _PoolWork (pygochan._debug shows the Pool instead), and the
   deadlock detector counts it asleep, for good when the pool has no idle
   timeout (a deadline is a way out, as for any timed wait). */
static int receive_job(pyg_state *state, pool_work *work, gc_chan *jobs,
                       PyObject *upkeep, void **job)
{
    gc_pool *pool = work->pool;
    PyObject *waited_on = (PyObject *)work;
    pyg_wait_how how = {"idle worker", &waited_on, 1, NULL, NULL, 0};
    if (UPKEEP_SLICE_NS > 0) {
        how.on_slice = run_thread_upkeep;
        how.on_slice_arg = upkeep;
        how.slice_ns = UPKEEP_SLICE_NS;
    }
    for (;;) {
        bool ok = false;
        enum gc_status st = gc_chan_try_recv(jobs, job, &ok);
        if (st == GC_NOT_READY) {
            gc_case c = {jobs, NULL, false};
            gc_entry entry;
            int orders[2];
            gc_select sel;
            gc_select_result res;
            int64_t deadline = work->idle_timeout_ns == GC_FOREVER
                                   ? GC_FOREVER
                                   : gc_deadline_after((double)work->idle_timeout_ns / 1e9);
            gc_select_init(&sel, &c, 1, &entry, orders, orders + 1);
            sel.spin_yields = WORKER_SPIN_YIELDS;
            sel.spin_role = &work->long_spinner;
            st = pyg_wait_with(state, &sel, deadline, &res, &how);
            if (st == GC_OK) {
                *job = res.value;
                ok = res.ok;
            }
        }
        if (st == GC_INTERRUPTED) {
            /* Signal handlers run on the main thread only, and the upkeep
               never fails: what ends an idle worker's wait is the exit of
               a deadlocked program (see debug/blocked.c), with Deadlock.  The
               worker leaves quietly, unless a job is on its way to it
               after all. */
            if (PyErr_ExceptionMatches(state->deadlock))
                PyErr_Clear();
            else if (PyErr_Occurred())
                PyErr_WriteUnraisable(waited_on);
            *job = NULL;
            if (gc_pool_idle_expired(pool))
                return -1;
            continue;
        }
        if (st == GC_TIMEOUT) {
            *job = NULL;
            if (gc_pool_idle_expired(pool))
                return -1;
            continue;
        }
        if (!ok) {
            *job = NULL;
            gc_pool_worker_closed(pool);
            return -1;
        }
        if (*job != GC_POOL_WAKE)
            return 0;
        *job = NULL;
        if (gc_pool_should_retire(pool))
            return -1;
    }
}

static PyObject *pool_work_run(pool_work *work, PyObject *const *args,
                               Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "_run_worker(first_jobs: list, upkeep: callable)");
        return NULL;
    }
    PyObject *first = args[0], *upkeep = args[1];
    pyg_state *state = pyg_state_of_type(Py_TYPE(work));
    gc_pool *pool = work->pool;
    gc_chan *jobs = gc_pool_jobs(pool);
    gc_pool *outer = worker_of;
    worker_of = pool;
    /* The first job comes in a one-item list that is emptied here, so that
       neither the thread's arguments nor its frames keep the future (and
       its result) alive after it ran. */
    void *job = NULL;
    if (PyList_GET_SIZE(first) == 1) {
        PyObject *item = PyList_GET_ITEM(first, 0);
        if (item != Py_None)
            job = Py_NewRef(item);
        if (PyList_SetSlice(first, 0, 1, NULL) < 0) {
            Py_XDECREF((PyObject *)job);
            worker_of = outer;
            return NULL;
        }
    }
    for (;;) {
        bool ran = false;
        if (job) {
            ran = run_job(work, job);
            Py_DECREF((PyObject *)job);
            job = NULL;
        }
        if (!gc_pool_worker_ready(pool, ran))
            break;
        if (receive_job(state, work, jobs, upkeep, &job) < 0)
            break;
    }
    worker_of = outer;
    Py_RETURN_NONE;
}

/* ---- control ---------------------------------------------------------- */

static PyObject *pool_resize(pyg_pool *self, PyObject *arg)
{
    size_t workers;
    if (require_configured(self) < 0 || parse_workers(arg, &workers) < 0)
        return NULL;
    size_t to_start = gc_pool_resize(self->pool, workers);
    for (size_t i = 0; i < to_start; i++) {
        if (start_worker(self, NULL) != 0) {
            while (++i < to_start)
                gc_pool_start_failed(self->pool);
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *pool_close(pyg_pool *self, PyObject *args)
{
    int cancel_futures;
    if (!PyArg_ParseTuple(args, "p:_close", &cancel_futures) ||
        require_configured(self) < 0)
        return NULL;
    gc_pool_shutdown(self->pool);
    size_t n = cancel_futures ? cancel_buffered(self->work) : 0;
    return PyLong_FromSize_t(n);
}

static PyObject *pool_cancel_queued(pyg_pool *self, PyObject *Py_UNUSED(ignored))
{
    if (require_configured(self) < 0)
        return NULL;
    return PyLong_FromSize_t(cancel_buffered(self->work));
}

static int get_stats(pyg_pool *self, gc_pool_stats *s)
{
    if (require_configured(self) < 0)
        return -1;
    gc_pool_get_stats(self->pool, s);
    return 0;
}

static PyObject *pool_get_running(pyg_pool *self, void *Py_UNUSED(c))
{
    gc_pool_stats s;
    return get_stats(self, &s) < 0 ? NULL : PyLong_FromSize_t(s.busy);
}

static PyObject *pool_get_idle(pyg_pool *self, void *Py_UNUSED(c))
{
    gc_pool_stats s;
    if (get_stats(self, &s) < 0)
        return NULL;
    return PyLong_FromSize_t(s.alive > s.busy ? s.alive - s.busy : 0);
}

static PyObject *pool_get_workers(pyg_pool *self, void *Py_UNUSED(c))
{
    gc_pool_stats s;
    return get_stats(self, &s) < 0 ? NULL : PyLong_FromSize_t(s.alive);
}

static PyObject *pool_get_pending(pyg_pool *self, void *Py_UNUSED(c))
{
    gc_pool_stats s;
    return get_stats(self, &s) < 0 ? NULL : PyLong_FromSize_t(s.queued);
}

static PyObject *pool_get_max_workers(pyg_pool *self, void *Py_UNUSED(c))
{
    gc_pool_stats s;
    return get_stats(self, &s) < 0 ? NULL : PyLong_FromSize_t(s.max_workers);
}

static PyObject *pool_get_queue_size(pyg_pool *self, void *Py_UNUSED(c))
{
    if (require_configured(self) < 0)
        return NULL;
    return PyLong_FromLongLong(gc_chan_capacity(gc_pool_jobs(self->pool)));
}

static PyObject *pool_get_idle_timeout(pyg_pool *self, void *Py_UNUSED(c))
{
    if (require_configured(self) < 0)
        return NULL;
    return Py_NewRef(self->idle_timeout);
}

static PyObject *pool_get_work(pyg_pool *self, void *Py_UNUSED(c))
{
    if (require_configured(self) < 0)
        return NULL;
    return Py_NewRef((PyObject *)self->work);
}

static PyObject *pool_get_shut_down(pyg_pool *self, void *Py_UNUSED(c))
{
    gc_pool_stats s;
    return get_stats(self, &s) < 0 ? NULL : PyBool_FromLong(s.shut_down);
}

static PyObject *pool_stats(pyg_pool *self, PyObject *Py_UNUSED(ignored))
{
    gc_pool_stats s;
    if (get_stats(self, &s) < 0)
        return NULL;
    return Py_BuildValue(
        "{s:n,s:n,s:n,s:n,s:n,s:n,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
        "max_workers", (Py_ssize_t)s.max_workers,
        "workers", (Py_ssize_t)s.alive,
        "running", (Py_ssize_t)s.busy,
        "idle", (Py_ssize_t)(s.alive > s.busy ? s.alive - s.busy : 0),
        "pending", (Py_ssize_t)s.queued,
        "blocked_submitters", (Py_ssize_t)s.blocked_submitters,
        "submitted", (unsigned long long)self->work->submitted,
        "started", (unsigned long long)s.jobs_started,
        "completed", (unsigned long long)s.jobs_finished,
        "failed", (unsigned long long)self->work->failed,
        "cancelled", (unsigned long long)self->work->cancelled,
        "workers_started", (unsigned long long)s.workers_started,
        "workers_exited", (unsigned long long)s.workers_exited);
}

static PyMethodDef pool_methods[] = {
    {"_configure", (PyCFunction)pool_configure, METH_VARARGS,
     "_configure(max_workers, idle_timeout, queue_size)"},
    {"submit", (PyCFunction)(void (*)(void))pool_submit,
     METH_FASTCALL | METH_KEYWORDS,
     "submit($self, fn, /, *args, submit_timeout=None, submit_ctx=None, **kwargs)\n"
     "--\n\n"
     "Schedule ``fn(*args, **kwargs)``.  Never blocks with the default unbounded\n"
     "queue; with queue_size=n it blocks while every worker is busy and the\n"
     "queue is full, and submit_timeout / submit_ctx bound that wait (a submit\n"
     "that raises had no effect).\n\n"
     "    fut = pool.submit(pow, 2, 10)\n"
     "    fut.result()   # 1024"},
    {"_asubmit_op", (PyCFunction)(void (*)(void))pool_asubmit_op,
     METH_FASTCALL | METH_KEYWORDS,
     "_asubmit_op($self, fn, /, *args, submit_timeout=None, submit_ctx=None, **kwargs)\n"
     "--\n\n"
     "submit() for Pool.asubmit: the Future, or, when the pool is saturated,\n"
     "the _AsyncOp whose awaited send queues it (internal)."},
    {"try_submit", (PyCFunction)(void (*)(void))pool_try_submit,
     METH_FASTCALL | METH_KEYWORDS,
     "try_submit($self, fn, /, *args, **kwargs)\n--\n\n"
     "Like submit, but return None instead of blocking."},
    {"resize", (PyCFunction)pool_resize, METH_O,
     "resize($self, max_workers)\n--\n\n"
     "Change max_workers.  Growing starts workers for waiting tasks at once;\n"
     "shrinking retires idle workers now and busy ones after their task."},
    {"_close", (PyCFunction)pool_close, METH_VARARGS,
     "_close(cancel_futures) -- refuse new tasks; returns how many were cancelled"},
    {"_cancel_queued", (PyCFunction)pool_cancel_queued, METH_NOARGS,
     "_cancel_queued() -- cancel what is queued; returns how many"},
    {"stats", (PyCFunction)pool_stats, METH_NOARGS,
     "stats($self)\n--\n\n"
     "A snapshot: gauges (max_workers, workers, running, idle, pending,\n"
     "blocked_submitters) and cumulative counters (submitted, started,\n"
     "completed, failed, cancelled, workers_started, workers_exited)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef pool_getset[] = {
    {"running", (getter)pool_get_running, NULL, "Tasks running now.", NULL},
    {"idle", (getter)pool_get_idle, NULL, "Workers alive and not running a task.", NULL},
    {"workers", (getter)pool_get_workers, NULL, "Worker threads alive.", NULL},
    {"pending", (getter)pool_get_pending, NULL,
     "Tasks accepted and queued, not yet started.", NULL},
    {"max_workers", (getter)pool_get_max_workers, NULL,
     "The most workers the pool runs at once (see resize).", NULL},
    {"queue_size", (getter)pool_get_queue_size, NULL,
     "Tasks buffered beyond the workers (0: hand-off; -1: unbounded).", NULL},
    {"idle_timeout", (getter)pool_get_idle_timeout, NULL,
     "Seconds an idle worker waits before exiting (None: never).", NULL},
    {"_shut_down", (getter)pool_get_shut_down, NULL, NULL, NULL},
    {"_work", (getter)pool_get_work, NULL,
     "What the workers hold instead of the Pool (a _PoolWork).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef pool_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_pool, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyType_Slot pool_slots[] = {
    {Py_tp_doc, (void *)"The C part of pygochan.Pool; use Pool."},
    {Py_tp_new, pool_new},
    {Py_tp_dealloc, pool_dealloc},
    {Py_tp_traverse, pool_traverse},
    {Py_tp_clear, pool_clear},
    {Py_tp_methods, pool_methods},
    {Py_tp_getset, pool_getset},
    {Py_tp_members, pool_members},
    {0, NULL}};

static PyType_Spec pool_spec = {
    .name = "pygochan._core._PoolBase",
    .basicsize = sizeof(pyg_pool),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = pool_slots,
};

static PyMethodDef pool_work_methods[] = {
    {"_run_worker", (PyCFunction)(void (*)(void))pool_work_run, METH_FASTCALL,
     "_run_worker([first_job], upkeep) -- a worker thread's body; empties the\n"
     "list, and calls upkeep() (which runs no code of its own) before it sleeps"},
    {NULL, NULL, 0, NULL}};

static PyType_Slot pool_work_slots[] = {
    {Py_tp_doc, (void *)"A Pool's queue and core, shared with its workers."},
    {Py_tp_dealloc, pool_work_dealloc},
    {Py_tp_traverse, pool_work_traverse},
    {Py_tp_clear, pool_work_clear},
    {Py_tp_methods, pool_work_methods},
    {0, NULL}};

static PyType_Spec pool_work_spec = {
    .name = "pygochan._core._PoolWork",
    .basicsize = sizeof(pool_work),
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
#else
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
#endif
    .slots = pool_work_slots,
};

int pyg_pool_init(PyObject *module, pyg_state *st)
{
    st->pool_work_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &pool_work_spec, NULL);
    if (!st->pool_work_type)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->pool_work_type->tp_new = NULL; /* made by Pool._configure */
#endif
    st->pool_base_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &pool_spec, NULL);
    if (!st->pool_base_type)
        return -1;
    return PyModule_AddObject(module, "_PoolBase",
                              Py_NewRef((PyObject *)st->pool_base_type));
}

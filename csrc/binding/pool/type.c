/*
 * The C part of Pool, its type: configuration, resize, shutdown and
 * statistics over gc_pool (submitting is pool/submit.c, the workers
 * pool/worker.c).  Threads are started by pyg_pool_start_worker (pyg_start_thread)
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
#include "pool/pool_impl.h"
#include "args.h"
#include "future.h"

#include "structmember.h"

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
    PyTypeObject *work_type = pool_state(self)->pool_work_type;
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

/* ---- control ---------------------------------------------------------- */

static PyObject *pool_resize(pyg_pool *self, PyObject *arg)
{
    size_t workers;
    if (require_configured(self) < 0 || parse_workers(arg, &workers) < 0)
        return NULL;
    size_t to_start = gc_pool_resize(self->pool, workers);
    for (size_t i = 0; i < to_start; i++) {
        if (pyg_pool_start_worker(self, NULL) != 0) {
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

/* {worker thread name: busy seconds} of the workers alive now, oldest
   first.  The list is copied under the pool's lock into C memory, then
   turned into Python objects without it. */
static PyObject *busy_per_worker(gc_pool *pool)
{
    size_t room = 8, n;
    gc_pool_worker_busy *busy = NULL;
    for (;;) {
        gc_pool_worker_busy *grown = PyMem_Realloc(busy, room * sizeof *busy);
        if (!grown) {
            PyMem_Free(busy);
            return PyErr_NoMemory();
        }
        busy = grown;
        n = gc_pool_workers_busy(pool, busy, room);
        if (n <= room)
            break;
        room = n + 8; /* workers started meanwhile */
    }
    PyObject *result = PyDict_New();
    for (size_t i = 0; result && i < n; i++) {
        PyObject *seconds = PyFloat_FromDouble((double)busy[i].busy_ns / 1e9);
        if (!seconds || PyDict_SetItemString(result, busy[i].name, seconds) < 0)
            Py_CLEAR(result);
        Py_XDECREF(seconds);
    }
    PyMem_Free(busy);
    return result;
}

static PyObject *pool_stats(pyg_pool *self, PyObject *Py_UNUSED(ignored))
{
    gc_pool_stats s;
    if (get_stats(self, &s) < 0)
        return NULL;
    PyObject *per_worker = busy_per_worker(self->pool);
    if (!per_worker)
        return NULL;
    return Py_BuildValue(
        "{s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:d,s:d,s:N}",
        "max_workers", (Py_ssize_t)s.max_workers,
        "workers", (Py_ssize_t)s.alive,
        "running", (Py_ssize_t)s.busy,
        "busy", (Py_ssize_t)s.busy,
        "idle", (Py_ssize_t)(s.alive > s.busy ? s.alive - s.busy : 0),
        "pending", (Py_ssize_t)s.queued,
        "queued", (Py_ssize_t)s.queued,
        "blocked_submitters", (Py_ssize_t)s.blocked_submitters,
        "submitted", (unsigned long long)self->work->submitted,
        "started", (unsigned long long)s.jobs_started,
        "completed", (unsigned long long)s.jobs_finished,
        "failed", (unsigned long long)self->work->failed,
        "cancelled", (unsigned long long)self->work->cancelled,
        "workers_started", (unsigned long long)s.workers_started,
        "workers_exited", (unsigned long long)s.workers_exited,
        "queue_wait_seconds", (double)s.queue_wait_ns / 1e9,
        "busy_seconds", (double)s.busy_ns / 1e9,
        "busy_seconds_per_worker", per_worker);
}

static PyMethodDef pool_methods[] = {
    {"_configure", (PyCFunction)pool_configure, METH_VARARGS,
     "_configure(max_workers, idle_timeout, queue_size)"},
    {"submit", (PyCFunction)(void (*)(void))pyg_pool_submit,
     METH_FASTCALL | METH_KEYWORDS,
     "submit($self, fn, /, *args, submit_timeout=None, submit_ctx=None, **kwargs)\n"
     "--\n\n"
     "Schedule ``fn(*args, **kwargs)``.  Never blocks with the default unbounded\n"
     "queue; with queue_size=n it blocks while every worker is busy and the\n"
     "queue is full, and submit_timeout / submit_ctx bound that wait (a submit\n"
     "that raises had no effect).\n\n"
     "    fut = pool.submit(pow, 2, 10)\n"
     "    fut.result()   # 1024"},
    {"_asubmit_op", (PyCFunction)(void (*)(void))pyg_pool_asubmit_op,
     METH_FASTCALL | METH_KEYWORDS,
     "_asubmit_op($self, fn, /, *args, submit_timeout=None, submit_ctx=None, **kwargs)\n"
     "--\n\n"
     "submit() for Pool.asubmit: the Future, or, when the pool is saturated,\n"
     "the _AsyncOp whose awaited send queues it (internal)."},
    {"try_submit", (PyCFunction)(void (*)(void))pyg_pool_try_submit,
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
     "A snapshot: gauges (max_workers, workers, running (also as busy),\n"
     "idle, pending (also as queued), blocked_submitters), cumulative\n"
     "counters (submitted, started, completed, failed, cancelled,\n"
     "workers_started, workers_exited) and times in seconds:\n"
     "queue_wait_seconds (submit to start, summed over started tasks),\n"
     "busy_seconds (start to the worker being free again, summed over\n"
     "every worker, running tasks counted up to now) and\n"
     "busy_seconds_per_worker ({thread name: busy seconds} of the workers\n"
     "alive now).\n\n"
     "    >>> pool.stats()['busy_seconds']\n"
     "    0.25\n"},
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
    {"_run_worker", (PyCFunction)(void (*)(void))pyg_pool_work_run, METH_FASTCALL,
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

/* A Pool's workers: starting one (a threading.Thread through
   pyg_start_thread), and its loop, which takes jobs from the pool's job
   channel and runs them until gc_pool says it may exit.  An idle worker
   waits through the thread driver (pyg_wait_with) like any blocking call. */
#include "pool/pool_impl.h"
#include "op/thread.h"
#include "threads.h"
#include "future.h"

#include "gc_park.h"

/* The pool whose worker the current thread is, so that a submit that would
   block forever (every worker waiting on its own submit) raises instead. */
static _Thread_local gc_pool *worker_of;

bool pyg_pool_on_worker_of(gc_pool *pool)
{
    return worker_of == pool;
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
int pyg_pool_start_worker(pyg_pool *self, PyObject *first)
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

/* ---- the worker loop -------------------------------------------------- */

static void job_finished(void *pool)
{
    gc_pool_job_finished(pool);
}

/* True if the job ran (the worker is finishing it: see gc_pool.h). */
static bool run_job(pool_work *work, PyObject *job)
{
    int64_t submitted_ns;
    if (!pyg_future_claim(job, &submitted_ns)) {
        work->cancelled++;
        return false;
    }
    gc_pool_job_started(work->pool, submitted_ns);
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
static int receive_job(pyg_state *state, pool_work *work, gc_pool_worker *me,
                       gc_chan *jobs, PyObject *upkeep, void **job)
{
    gc_pool *pool = work->pool;
    PyObject *waited_on = (PyObject *)work;
    pyg_wait_how how = {"idle worker", &waited_on, 1, NULL, NULL, 0, NULL};
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
            /* the pool's statistics: this worker is idle while it waits */
            gc_pool_worker_idle_begin(pool, me);
            st = pyg_wait_with(state, &sel, deadline, &res, &how);
            gc_pool_worker_idle_end(pool, me);
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

PyObject *pyg_pool_work_run(pool_work *work, PyObject *const *args,
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
    /* This worker's record in the pool's statistics, named as its thread. */
    gc_pool_worker me;
    const char *name_text = NULL;
    PyObject *thread = NULL, *name = NULL;
    PyObject *threading = PyImport_ImportModule("threading");
    if (threading && (thread = PyObject_CallMethod(threading, "current_thread", NULL)) &&
        (name = PyObject_GetAttrString(thread, "name")) && PyUnicode_Check(name))
        name_text = PyUnicode_AsUTF8(name);
    if (!name_text)
        PyErr_Clear(); /* a worker without a name still works */
    gc_pool_worker_attach(pool, &me, name_text);
    Py_XDECREF(name);
    Py_XDECREF(thread);
    Py_XDECREF(threading);
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
            gc_pool_worker_detach(pool, &me);
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
        if (receive_job(state, work, &me, jobs, upkeep, &job) < 0)
            break;
    }
    gc_pool_worker_detach(pool, &me);
    worker_of = outer;
    Py_RETURN_NONE;
}

/* What the pool's files (pool/type.c, pool/submit.c, pool/worker.c) share;
   no other file includes this.  The Pool's C part over gc_pool: Python's
   Pool (pygochan/_pool.py) subclasses _PoolBase. */
#ifndef PYG_POOL_IMPL_H
#define PYG_POOL_IMPL_H

#include "state.h"

#include "gc_pool.h"

/* What the workers share with their Pool (pygochan._core._PoolWork); the
   Pool and each running worker hold a reference. */
typedef struct {
    PyObject_HEAD
    gc_pool *pool;            /* owned; set before the object is shared */
    int64_t idle_timeout_ns;  /* GC_FOREVER: idle workers never exit */
    /* Pool(measure_queue_wait=True): each submit reads the clock, and each
       start, for stats()'s queue_wait_seconds.  Immutable. */
    bool measure_queue_wait;
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

static inline pyg_state *pool_state(pyg_pool *self)
{
    return pyg_state_of_type(Py_TYPE(self));
}

/* -1 with an exception unless _configure ran. */
static inline int require_configured(pyg_pool *self)
{
    if (self->pool)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "Pool.__init__ was not called");
    return -1;
}

/* pool/worker.c: start a worker (see there), and run one
   (_PoolWork._run_worker); true if this thread is one of pool's workers. */
int pyg_pool_start_worker(pyg_pool *self, PyObject *first);
PyObject *pyg_pool_work_run(pool_work *work, PyObject *const *args, Py_ssize_t nargs);
bool pyg_pool_on_worker_of(gc_pool *pool);

/* pool/submit.c: Pool.submit, _asubmit_op and try_submit. */
PyObject *pyg_pool_submit(pyg_pool *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *pyg_pool_asubmit_op(pyg_pool *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames);
PyObject *pyg_pool_try_submit(pyg_pool *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames);

#endif

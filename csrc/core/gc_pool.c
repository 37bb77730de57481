/* gc_pool: routing jobs and deciding when workers start and exit. */
#include "gc_pool.h"

#include "platform/gc_platform.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gc_park.h"

#include "gc_fork.h"

char gc_pool_wake_token;

struct gc_pool {
    gc_chan *jobs; /* owned; immutable pointer */

    /* Guards every field below except the atomics.  Taken before the job
       channel's lock (gc_chan_len under it), never the other way round, and
       never held while waiting. */
    gc_mutex lock;
    size_t max_workers;
    size_t alive;   /* workers started (or reserved) and not exited */
    size_t idle;    /* receiving workers no job is on its way to */
    size_t backlog; /* jobs sent or being sent for busy workers that no
                       worker has yet come back for */
    bool shut_down;
    uint64_t workers_started, workers_exited;
    /* Attached worker records, oldest first (gc_pool_worker_attach), and
       the busy time of the workers that detached. */
    gc_pool_worker *workers_head, *workers_tail;
    int64_t detached_busy_ns;

    /* Workers whose job has returned and whose outcome is being published:
       each is on its way to gc_pool_worker_ready.  Raised without the lock
       (a submitter that misses the raise ran before the outcome was
       visible); lowered only under it, so gc_pool_route and
       gc_pool_worker_ready agree on who takes the backlog. */
    atomic_size_t finishing;

    /* Read without the lock: busy is a gauge, the others count up. */
    atomic_size_t busy;
    atomic_uint_fast64_t jobs_started, jobs_finished;
    _Atomic int64_t queue_wait_ns; /* counts up, without the lock */
    gc_fork_node fork_node;
};

gc_pool *gc_pool_new(int64_t queue_size, size_t max_workers)
{
    gc_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->jobs = gc_chan_new(queue_size);
    if (!pool->jobs || gc_mutex_init(&pool->lock) != 0) {
        gc_chan_free(pool->jobs);
        free(pool);
        return NULL;
    }
    if (!gc_fork_register(&pool->fork_node, GC_FORK_POOL, &pool->lock, pool)) {
        gc_mutex_destroy(&pool->lock);
        gc_chan_free(pool->jobs);
        free(pool);
        return NULL;
    }
    gc_chan_set_lifo_receivers(pool->jobs);
    pool->max_workers = max_workers;
    atomic_init(&pool->finishing, 0);
    atomic_init(&pool->busy, 0);
    atomic_init(&pool->jobs_started, 0);
    atomic_init(&pool->jobs_finished, 0);
    atomic_init(&pool->queue_wait_ns, 0);
    return pool;
}

void gc_pool_free(gc_pool *pool)
{
    if (!pool)
        return;
    gc_chan_free(pool->jobs);
    gc_fork_unregister(&pool->fork_node, GC_FORK_POOL);
    gc_mutex_destroy(&pool->lock);
    free(pool);
}

gc_chan *gc_pool_jobs(gc_pool *pool)
{
    return pool->jobs;
}

enum gc_pool_route gc_pool_route(gc_pool *pool, bool may_wait_for_finishing)
{
    enum gc_pool_route route;
    gc_mutex_lock(&pool->lock);
    if (pool->shut_down) {
        route = GC_ROUTE_SHUT_DOWN;
    } else if (pool->idle > 0) {
        pool->idle--;
        route = GC_ROUTE_TO_IDLE;
    } else if (may_wait_for_finishing &&
               atomic_load(&pool->finishing) > pool->backlog) {
        /* A worker publishing its outcome, not yet owed a queued job, comes
           back for this one: no second thread for a submit that follows a
           result. */
        pool->backlog++;
        route = GC_ROUTE_QUEUE;
    } else if (pool->alive < pool->max_workers) {
        pool->alive++;
        pool->workers_started++;
        route = GC_ROUTE_NEW_WORKER;
    } else {
        pool->backlog++;
        route = GC_ROUTE_QUEUE;
    }
    gc_mutex_unlock(&pool->lock);
    return route;
}

void gc_pool_send_finished(gc_pool *pool, enum gc_pool_route route, bool sent)
{
    if (sent)
        return;
    gc_mutex_lock(&pool->lock);
    /* The receiver this job was owed is idle again: either the slot taken
       at routing, or, if a worker already came back for the backlog, that
       worker. */
    if (route == GC_ROUTE_QUEUE && pool->backlog > 0)
        pool->backlog--;
    else
        pool->idle++;
    gc_mutex_unlock(&pool->lock);
}

void gc_pool_start_failed(gc_pool *pool)
{
    gc_mutex_lock(&pool->lock);
    pool->alive--;
    pool->workers_started--;
    gc_mutex_unlock(&pool->lock);
}

static void exit_locked(gc_pool *pool)
{
    pool->alive--;
    pool->workers_exited++;
}

void gc_pool_worker_attach(gc_pool *pool, gc_pool_worker *worker,
                           const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n >= sizeof worker->name)
        n = sizeof worker->name - 1;
    if (n)
        memcpy(worker->name, name, n);
    worker->name[n] = '\0';
    int64_t now = gc_real_now_ns();
    gc_mutex_lock(&pool->lock);
    worker->attached_ns = now;
    worker->idle_ns = worker->idle_since_ns = 0;
    worker->next = NULL;
    worker->prev = pool->workers_tail;
    if (pool->workers_tail)
        pool->workers_tail->next = worker;
    else
        pool->workers_head = worker;
    pool->workers_tail = worker;
    gc_mutex_unlock(&pool->lock);
}

/* A worker's busy time up to now; pool->lock held. */
static int64_t worker_busy_locked(const gc_pool_worker *worker, int64_t now)
{
    int64_t until = worker->idle_since_ns ? worker->idle_since_ns : now;
    int64_t busy = until - worker->attached_ns - worker->idle_ns;
    return busy > 0 ? busy : 0;
}

void gc_pool_worker_detach(gc_pool *pool, gc_pool_worker *worker)
{
    int64_t now = gc_real_now_ns();
    gc_mutex_lock(&pool->lock);
    if (worker->prev)
        worker->prev->next = worker->next;
    else
        pool->workers_head = worker->next;
    if (worker->next)
        worker->next->prev = worker->prev;
    else
        pool->workers_tail = worker->prev;
    pool->detached_busy_ns += worker_busy_locked(worker, now);
    gc_mutex_unlock(&pool->lock);
}

void gc_pool_worker_idle_begin(gc_pool *pool, gc_pool_worker *worker)
{
    int64_t now = gc_real_now_ns();
    gc_mutex_lock(&pool->lock);
    worker->idle_since_ns = now;
    gc_mutex_unlock(&pool->lock);
}

void gc_pool_worker_idle_end(gc_pool *pool, gc_pool_worker *worker)
{
    int64_t now = gc_real_now_ns();
    gc_mutex_lock(&pool->lock);
    if (worker->idle_since_ns && now > worker->idle_since_ns)
        worker->idle_ns += now - worker->idle_since_ns;
    worker->idle_since_ns = 0;
    gc_mutex_unlock(&pool->lock);
}

bool gc_pool_worker_ready(gc_pool *pool, bool after_job)
{
    bool stay = true;
    gc_mutex_lock(&pool->lock);
    if (after_job)
        atomic_fetch_sub(&pool->finishing, 1);
    if (pool->alive > pool->max_workers) {
        exit_locked(pool);
        stay = false;
    } else if (pool->backlog > 0) {
        pool->backlog--;
    } else {
        pool->idle++;
    }
    gc_mutex_unlock(&pool->lock);
    return stay;
}

/* A receiving worker leaves only by taking an idle slot, so every job on its
   way still finds a receiver. */
static bool leave_idle(gc_pool *pool, bool only_over_capacity)
{
    bool leave = false;
    gc_mutex_lock(&pool->lock);
    if (pool->idle > 0 &&
        (!only_over_capacity || pool->alive > pool->max_workers)) {
        pool->idle--;
        exit_locked(pool);
        leave = true;
    }
    gc_mutex_unlock(&pool->lock);
    return leave;
}

bool gc_pool_should_retire(gc_pool *pool)
{
    return leave_idle(pool, true);
}

bool gc_pool_idle_expired(gc_pool *pool)
{
    return leave_idle(pool, false);
}

void gc_pool_worker_closed(gc_pool *pool)
{
    gc_mutex_lock(&pool->lock);
    /* Closed and drained: no job is on its way to anyone. */
    if (pool->idle > 0)
        pool->idle--;
    exit_locked(pool);
    gc_mutex_unlock(&pool->lock);
}

void gc_pool_job_started(gc_pool *pool, int64_t queued_since_ns)
{
    if (queued_since_ns) {
        int64_t now = gc_real_now_ns();
        if (now > queued_since_ns)
            atomic_fetch_add_explicit(&pool->queue_wait_ns, now - queued_since_ns,
                                      memory_order_relaxed);
    }
    atomic_fetch_add(&pool->busy, 1);
    atomic_fetch_add(&pool->jobs_started, 1);
}

void gc_pool_job_finished(gc_pool *pool)
{
    atomic_fetch_add(&pool->finishing, 1);
    atomic_fetch_sub(&pool->busy, 1);
    atomic_fetch_add(&pool->jobs_finished, 1);
}

size_t gc_pool_resize(gc_pool *pool, size_t max_workers)
{
    size_t to_start = 0, to_wake = 0;
    gc_mutex_lock(&pool->lock);
    pool->max_workers = max_workers;
    if (!pool->shut_down) {
        if (pool->alive < max_workers) {
            /* Work queued for a free worker gets one now. */
            to_start = max_workers - pool->alive;
            if (to_start > pool->backlog)
                to_start = pool->backlog;
            pool->alive += to_start;
            pool->workers_started += to_start;
        } else {
            to_wake = pool->alive - max_workers;
        }
    }
    gc_mutex_unlock(&pool->lock);
    /* Busy workers retire after their job; idle ones must be woken.  A wake
       nobody takes is simply not sent. */
    while (to_wake-- > 0 &&
           gc_chan_try_handoff(pool->jobs, GC_POOL_WAKE) == GC_OK) {
    }
    return to_start;
}

void gc_pool_shutdown(gc_pool *pool)
{
    gc_mutex_lock(&pool->lock);
    bool first = !pool->shut_down;
    pool->shut_down = true;
    gc_mutex_unlock(&pool->lock);
    if (first)
        gc_chan_close(pool->jobs);
}

void gc_pool_get_stats(gc_pool *pool, gc_pool_stats *out)
{
    size_t receivers;
    int64_t now = gc_real_now_ns();
    gc_mutex_lock(&pool->lock);
    out->busy_ns = pool->detached_busy_ns;
    for (const gc_pool_worker *w = pool->workers_head; w; w = w->next)
        out->busy_ns += worker_busy_locked(w, now);
    out->max_workers = pool->max_workers;
    out->alive = pool->alive;
    out->shut_down = pool->shut_down;
    out->workers_started = pool->workers_started;
    out->workers_exited = pool->workers_exited;
    out->queued = gc_chan_len(pool->jobs);
    gc_chan_count_waiting(pool->jobs, &out->blocked_submitters, &receivers);
    gc_mutex_unlock(&pool->lock);
    out->busy = atomic_load(&pool->busy);
    out->jobs_started = atomic_load(&pool->jobs_started);
    out->jobs_finished = atomic_load(&pool->jobs_finished);
    out->queue_wait_ns = atomic_load_explicit(&pool->queue_wait_ns,
                                              memory_order_relaxed);
}

size_t gc_pool_workers_busy(gc_pool *pool, gc_pool_worker_busy *out, size_t max)
{
    size_t n = 0;
    int64_t now = gc_real_now_ns();
    gc_mutex_lock(&pool->lock);
    for (const gc_pool_worker *w = pool->workers_head; w; w = w->next, n++) {
        if (n < max) {
            memcpy(out[n].name, w->name, sizeof out[n].name);
            out[n].busy_ns = worker_busy_locked(w, now);
        }
    }
    gc_mutex_unlock(&pool->lock);
    return n;
}

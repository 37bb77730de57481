/* gc_pool: routing jobs and deciding when workers start and exit. */
#include "gc_pool.h"

#include <pthread.h>
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
    pthread_mutex_t lock;
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
    if (!pool->jobs || pthread_mutex_init(&pool->lock, NULL) != 0) {
        gc_chan_free(pool->jobs);
        free(pool);
        return NULL;
    }
    if (!gc_fork_register(&pool->fork_node, GC_FORK_POOL, &pool->lock, pool)) {
        pthread_mutex_destroy(&pool->lock);
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
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

gc_chan *gc_pool_jobs(gc_pool *pool)
{
    return pool->jobs;
}

enum gc_pool_route gc_pool_route(gc_pool *pool, bool may_wait_for_finishing)
{
    enum gc_pool_route route;
    pthread_mutex_lock(&pool->lock);
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
    pthread_mutex_unlock(&pool->lock);
    return route;
}

void gc_pool_send_finished(gc_pool *pool, enum gc_pool_route route, bool sent)
{
    if (sent)
        return;
    pthread_mutex_lock(&pool->lock);
    /* The receiver this job was owed is idle again: either the slot taken
       at routing, or, if a worker already came back for the backlog, that
       worker. */
    if (route == GC_ROUTE_QUEUE && pool->backlog > 0)
        pool->backlog--;
    else
        pool->idle++;
    pthread_mutex_unlock(&pool->lock);
}

void gc_pool_start_failed(gc_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->alive--;
    pool->workers_started--;
    pthread_mutex_unlock(&pool->lock);
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
    worker->busy_ns = 0;
    atomic_init(&worker->job_started_ns, 0);
    pthread_mutex_lock(&pool->lock);
    worker->next = NULL;
    worker->prev = pool->workers_tail;
    if (pool->workers_tail)
        pool->workers_tail->next = worker;
    else
        pool->workers_head = worker;
    pool->workers_tail = worker;
    pthread_mutex_unlock(&pool->lock);
}

void gc_pool_worker_detach(gc_pool *pool, gc_pool_worker *worker)
{
    pthread_mutex_lock(&pool->lock);
    if (worker->prev)
        worker->prev->next = worker->next;
    else
        pool->workers_head = worker->next;
    if (worker->next)
        worker->next->prev = worker->prev;
    else
        pool->workers_tail = worker->prev;
    pool->detached_busy_ns += worker->busy_ns;
    pthread_mutex_unlock(&pool->lock);
}

/* A worker's busy time, its running job counted up to now; pool->lock held. */
static int64_t worker_busy_locked(const gc_pool_worker *worker, int64_t now)
{
    int64_t started = atomic_load_explicit(&worker->job_started_ns,
                                           memory_order_relaxed);
    int64_t busy = worker->busy_ns;
    if (started && now > started)
        busy += now - started;
    return busy;
}

bool gc_pool_worker_ready(gc_pool *pool, gc_pool_worker *worker, bool after_job)
{
    bool stay = true;
    int64_t now = after_job && worker ? gc_now_ns() : 0;
    pthread_mutex_lock(&pool->lock);
    if (now) {
        /* Under the lock with busy_ns, so a snapshot never counts the job
           twice (in busy_ns and as running) nor not at all. */
        int64_t started = atomic_load_explicit(&worker->job_started_ns,
                                               memory_order_relaxed);
        if (started && now > started)
            worker->busy_ns += now - started;
        atomic_store_explicit(&worker->job_started_ns, 0, memory_order_relaxed);
    }
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
    pthread_mutex_unlock(&pool->lock);
    return stay;
}

/* A receiving worker leaves only by taking an idle slot, so every job on its
   way still finds a receiver. */
static bool leave_idle(gc_pool *pool, bool only_over_capacity)
{
    bool leave = false;
    pthread_mutex_lock(&pool->lock);
    if (pool->idle > 0 &&
        (!only_over_capacity || pool->alive > pool->max_workers)) {
        pool->idle--;
        exit_locked(pool);
        leave = true;
    }
    pthread_mutex_unlock(&pool->lock);
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
    pthread_mutex_lock(&pool->lock);
    /* Closed and drained: no job is on its way to anyone. */
    if (pool->idle > 0)
        pool->idle--;
    exit_locked(pool);
    pthread_mutex_unlock(&pool->lock);
}

void gc_pool_job_started(gc_pool *pool, gc_pool_worker *worker,
                         int64_t queued_since_ns)
{
    int64_t now = worker || queued_since_ns ? gc_now_ns() : 0;
    if (queued_since_ns && now > queued_since_ns)
        atomic_fetch_add_explicit(&pool->queue_wait_ns, now - queued_since_ns,
                                  memory_order_relaxed);
    if (worker)
        atomic_store_explicit(&worker->job_started_ns, now, memory_order_relaxed);
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
    pthread_mutex_lock(&pool->lock);
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
    pthread_mutex_unlock(&pool->lock);
    /* Busy workers retire after their job; idle ones must be woken.  A wake
       nobody takes is simply not sent. */
    while (to_wake-- > 0 &&
           gc_chan_try_handoff(pool->jobs, GC_POOL_WAKE) == GC_OK) {
    }
    return to_start;
}

void gc_pool_shutdown(gc_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    bool first = !pool->shut_down;
    pool->shut_down = true;
    pthread_mutex_unlock(&pool->lock);
    if (first)
        gc_chan_close(pool->jobs);
}

void gc_pool_get_stats(gc_pool *pool, gc_pool_stats *out)
{
    size_t receivers;
    int64_t now = gc_now_ns();
    pthread_mutex_lock(&pool->lock);
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
    pthread_mutex_unlock(&pool->lock);
    out->busy = atomic_load(&pool->busy);
    out->jobs_started = atomic_load(&pool->jobs_started);
    out->jobs_finished = atomic_load(&pool->jobs_finished);
    out->queue_wait_ns = atomic_load_explicit(&pool->queue_wait_ns,
                                              memory_order_relaxed);
}

size_t gc_pool_workers_busy(gc_pool *pool, gc_pool_worker_busy *out, size_t max)
{
    size_t n = 0;
    int64_t now = gc_now_ns();
    pthread_mutex_lock(&pool->lock);
    for (const gc_pool_worker *w = pool->workers_head; w; w = w->next, n++) {
        if (n < max) {
            memcpy(out[n].name, w->name, sizeof out[n].name);
            out[n].busy_ns = worker_busy_locked(w, now);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return n;
}

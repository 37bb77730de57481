/* gc_pool: routing jobs and deciding when workers start and exit. */
#include "gc_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "gc_fork.h"

char gc_pool_wake_token;

struct gc_pool {
    gc_chan *jobs; /* owned; immutable pointer */

    /* Guards every field below except the atomics.  Taken before the job
       channel's lock (gc_chan_len under it), never the other way round, and
       never held while waiting. */
    pthread_mutex_t lock;
    size_t max_workers;
    size_t alive;       /* workers started (or reserved) and not exited */
    size_t sending;     /* submitters routed GC_ROUTE_SEND, not yet finished */
    bool shut_down;
    uint64_t workers_started, workers_exited;

    /* Read without the lock: busy is a gauge, the others count up. */
    atomic_size_t busy;
    atomic_uint_fast64_t jobs_started, jobs_finished;
    /* Mirrors alive > max_workers so workers test it per job without the
       lock; set and cleared under the lock. */
    atomic_bool over_capacity;
    gc_fork_node fork_node;
};

static void update_over_capacity(gc_pool *pool)
{
    atomic_store(&pool->over_capacity, pool->alive > pool->max_workers);
}

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
    atomic_init(&pool->busy, 0);
    atomic_init(&pool->jobs_started, 0);
    atomic_init(&pool->jobs_finished, 0);
    atomic_init(&pool->over_capacity, false);
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

enum gc_pool_route gc_pool_route(gc_pool *pool, void *job)
{
    /* An idle worker is blocked receiving exactly when the buffer is empty,
       so handing over never overtakes a buffered job. */
    enum gc_status st = gc_chan_try_handoff(pool->jobs, job);
    if (st == GC_OK)
        return GC_ROUTE_HANDED;
    enum gc_pool_route route;
    pthread_mutex_lock(&pool->lock);
    if (pool->shut_down || st == GC_CLOSED) {
        route = GC_ROUTE_SHUT_DOWN;
    } else if (pool->alive < pool->max_workers) {
        pool->alive++;
        pool->workers_started++;
        route = GC_ROUTE_NEW_WORKER;
    } else {
        pool->sending++;
        route = GC_ROUTE_SEND;
    }
    pthread_mutex_unlock(&pool->lock);
    return route;
}

void gc_pool_send_finished(gc_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->sending--;
    pthread_mutex_unlock(&pool->lock);
}

void gc_pool_start_failed(gc_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->alive--;
    pool->workers_started--;
    update_over_capacity(pool);
    pthread_mutex_unlock(&pool->lock);
}

static void exit_locked(gc_pool *pool)
{
    pool->alive--;
    pool->workers_exited++;
    update_over_capacity(pool);
}

bool gc_pool_should_retire(gc_pool *pool)
{
    if (!atomic_load(&pool->over_capacity))
        return false;
    bool retire = false;
    pthread_mutex_lock(&pool->lock);
    if (pool->alive > pool->max_workers) {
        exit_locked(pool);
        retire = true;
    }
    pthread_mutex_unlock(&pool->lock);
    return retire;
}

bool gc_pool_idle_expired(gc_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    /* A submitter past its routing decision counted on this worker (or one
       like it) coming back; so does a job buffered while this worker's
       receive was timing out. */
    bool leave = pool->sending == 0 && gc_chan_len(pool->jobs) == 0;
    if (leave)
        exit_locked(pool);
    pthread_mutex_unlock(&pool->lock);
    return leave;
}

void gc_pool_worker_closed(gc_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    exit_locked(pool);
    pthread_mutex_unlock(&pool->lock);
}

void gc_pool_job_started(gc_pool *pool)
{
    atomic_fetch_add(&pool->busy, 1);
    atomic_fetch_add(&pool->jobs_started, 1);
}

void gc_pool_job_finished(gc_pool *pool)
{
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
            /* Work that waited for a free worker gets one now. */
            size_t waiting = gc_chan_len(pool->jobs) + pool->sending;
            to_start = max_workers - pool->alive;
            if (to_start > waiting)
                to_start = waiting;
            pool->alive += to_start;
            pool->workers_started += to_start;
        } else {
            to_wake = pool->alive - max_workers;
        }
    }
    update_over_capacity(pool);
    pthread_mutex_unlock(&pool->lock);
    /* Busy workers see over_capacity after their job; idle ones must be
       woken.  A wake nobody takes is simply not sent. */
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
    pthread_mutex_lock(&pool->lock);
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
}

/*
 * gc_pool: the worker management of a worker pool, without the threads.
 *
 * Jobs travel over one channel (capacity queue_size; 0 is Go's unbuffered
 * work channel) whose blocked receivers, the idle workers, are served newest
 * first.  The pool decides, under its own lock, everything that must not
 * race: whether a job goes to an idle worker, to a new worker (which starts
 * with that job, so it never waits in the channel) or into the channel;
 * whether an idle worker may exit; how many workers a resize starts or
 * retires.  The caller owns the threads: it starts one whenever the pool
 * says GC_ROUTE_NEW_WORKER and runs gc_pool's worker protocol in it.
 *
 * The liveness rule: while a job is buffered or a submitter is about to
 * block sending one, at least one worker is alive and will come back for it.
 * An idle worker therefore exits only after checking, under the lock, that
 * no submitter is between its routing decision and the end of its send and
 * that the channel holds nothing.
 *
 * Jobs are opaque pointers whose references the caller manages as with any
 * channel.  GC_POOL_WAKE (never a job) is handed to idle workers to make
 * them re-check whether a resize retired them.
 */
#ifndef GC_POOL_H
#define GC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gc_chan.h"

typedef struct gc_pool gc_pool;

extern char gc_pool_wake_token;
#define GC_POOL_WAKE ((void *)&gc_pool_wake_token)

/* queue_size: 0, > 0 or GC_UNBOUNDED; max_workers >= 1.  NULL on ENOMEM. */
gc_pool *gc_pool_new(int64_t queue_size, size_t max_workers);
/* Every worker has exited and the channel is empty (gc_chan_take_buffer). */
void gc_pool_free(gc_pool *pool);

/* The job channel.  Workers receive from it; submitters that were told
   GC_ROUTE_SEND send to it. */
gc_chan *gc_pool_jobs(gc_pool *pool);

/* ---- submitting ---- */
enum gc_pool_route {
    GC_ROUTE_HANDED,     /* an idle worker took the job */
    GC_ROUTE_NEW_WORKER, /* start a worker whose first job this is (counted
                            alive already; gc_pool_start_failed if it cannot) */
    GC_ROUTE_SEND,       /* send the job to gc_pool_jobs (blocking or not),
                            then gc_pool_send_finished whatever the outcome */
    GC_ROUTE_SHUT_DOWN   /* the pool is shut down: nothing happened */
};
enum gc_pool_route gc_pool_route(gc_pool *pool, void *job);
void gc_pool_send_finished(gc_pool *pool);
void gc_pool_start_failed(gc_pool *pool);

/* ---- the worker protocol ----
 * A worker runs its first job (if any), then loops: gc_pool_should_retire?
 * exit; receive a job (try, then block until its idle deadline); a job:
 * run it between gc_pool_job_started / _finished; GC_POOL_WAKE: loop;
 * closed and drained: gc_pool_worker_closed, exit; idle deadline passed:
 * gc_pool_idle_expired? exit : loop.  */
bool gc_pool_should_retire(gc_pool *pool);
bool gc_pool_idle_expired(gc_pool *pool);
void gc_pool_worker_closed(gc_pool *pool);
void gc_pool_job_started(gc_pool *pool);
void gc_pool_job_finished(gc_pool *pool);

/* ---- control ---- */
/* Set max_workers (>= 1).  Idle workers beyond it are woken to exit, busy
   ones exit after their job.  Returns how many workers the caller must start
   now (already counted alive, with no first job) for jobs waiting in the
   channel. */
size_t gc_pool_resize(gc_pool *pool, size_t max_workers);
/* Refuse new jobs and close the channel: idle workers exit, busy ones drain
   what is buffered first.  Idempotent. */
void gc_pool_shutdown(gc_pool *pool);

typedef struct gc_pool_stats {
    size_t max_workers;
    size_t alive;         /* started and not yet exited */
    size_t busy;          /* running a job */
    size_t queued;        /* jobs buffered in the channel */
    size_t blocked_submitters;
    bool shut_down;
    uint64_t workers_started, workers_exited;
    uint64_t jobs_started, jobs_finished;
} gc_pool_stats;
void gc_pool_get_stats(gc_pool *pool, gc_pool_stats *out);

#endif

/*
 * gc_pool: the worker management of a worker pool, without the threads.
 *
 * Jobs travel over one channel (capacity queue_size; 0 is Go's unbuffered
 * work channel) whose blocked receivers, the idle workers, are served newest
 * first.  The pool decides, under its own lock, everything that must not
 * race: whether a job goes to an idle worker, to a new worker (which starts
 * with that job, so it never waits in the channel) or into the queue for a
 * busy one; whether an idle worker may exit; how many workers a resize starts
 * or retires.  The caller owns the threads: it starts one whenever the pool
 * says GC_ROUTE_NEW_WORKER and runs gc_pool's worker protocol in it.
 *
 * The bookkeeping behind every decision: each job sent to the channel is
 * owed a receiver.  A worker that is done with its job either takes one of
 * the jobs queued for a busy pool (`backlog`) or becomes an idle receiver
 * (`idle`); a submitter routed to an idle worker takes that worker's slot
 * (idle - 1) instead of starting a thread, as ThreadPoolExecutor's idle
 * semaphore does.  Receivers are interchangeable, so
 *     workers receiving >= jobs in flight to the channel
 * holds exactly when idle >= 0, and an idle worker may exit (timeout,
 * resize) only by taking one idle slot.  A send that does not happen gives
 * its slot back.
 *
 * A submit that follows a result reuses the worker that produced it
 * (CPython's test_idle_thread_reuse), whatever the timing: the worker counts
 * itself `finishing` before it publishes the outcome, and a submitter that
 * may wait routes its job to the backlog such a worker takes in
 * gc_pool_worker_ready, instead of starting a thread.
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

/* A worker's record for the pool's statistics: storage of the worker (its
   stack), attached while it runs its loop.  Its busy time is the time it
   has been attached minus the time it waited for a job: so a worker reads
   the clock when it attaches, detaches, and begins and ends a wait (which
   blocks anyway), never per job.  Every field is guarded by the pool's
   lock. */
#define GC_POOL_WORKER_NAME 64
typedef struct gc_pool_worker {
    struct gc_pool_worker *prev, *next;
    int64_t attached_ns;   /* gc_real_now_ns() at attach */
    int64_t idle_ns;       /* waits for a job that ended */
    int64_t idle_since_ns; /* the wait going on, or 0 */
    char name[GC_POOL_WORKER_NAME]; /* NUL-terminated, for the stats */
} gc_pool_worker;

/* Worker: link its record (name is copied, truncated) / unlink it before it
   exits; its busy time stays in the pool's total. */
void gc_pool_worker_attach(gc_pool *pool, gc_pool_worker *worker,
                           const char *name);
void gc_pool_worker_detach(gc_pool *pool, gc_pool_worker *worker);
/* Worker: around a wait for its next job that blocks. */
void gc_pool_worker_idle_begin(gc_pool *pool, gc_pool_worker *worker);
void gc_pool_worker_idle_end(gc_pool *pool, gc_pool_worker *worker);

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
    GC_ROUTE_TO_IDLE,    /* send the job: an idle worker will receive it */
    GC_ROUTE_QUEUE,      /* send the job (blocking or not) into the queue for
                            the next worker done with its job */
    GC_ROUTE_NEW_WORKER, /* start a worker whose first job this is (counted
                            alive already; gc_pool_start_failed if it cannot) */
    GC_ROUTE_SHUT_DOWN   /* the pool is shut down: nothing happened */
};
/* may_wait_for_finishing: the submitter can wait the moment it takes a
   worker that is publishing its job's outcome to come back for this job (a
   blocking submit from outside the pool's workers).  A non-blocking submit
   cannot, and neither can a worker: the one finishing may be itself. */
enum gc_pool_route gc_pool_route(gc_pool *pool, bool may_wait_for_finishing);
/* After a TO_IDLE or QUEUE route, whatever the outcome: sent says whether
   the job is in the channel now. */
void gc_pool_send_finished(gc_pool *pool, enum gc_pool_route route, bool sent);
void gc_pool_start_failed(gc_pool *pool);

/* ---- the worker protocol ----
 * A worker runs its first job (if any), then loops:
 *   gc_pool_worker_ready(after_job)? (false: it was retired, exit)
 *   receive until a job arrives (try, then block until its idle deadline):
 *     a job: gc_pool_job_started, run it, gc_pool_job_finished, publish
 *       its outcome, loop;
 *     GC_POOL_WAKE: gc_pool_should_retire? exit : receive again;
 *     idle deadline passed: gc_pool_idle_expired? exit : receive again;
 *     closed and drained: gc_pool_worker_closed, exit.  */
/* after_job: the worker called gc_pool_job_finished since it was last
   ready (it is no longer finishing). */
bool gc_pool_worker_ready(gc_pool *pool, bool after_job);
bool gc_pool_should_retire(gc_pool *pool);
bool gc_pool_idle_expired(gc_pool *pool);
void gc_pool_worker_closed(gc_pool *pool);
/* queued_since_ns: gc_real_now_ns() when the job was submitted, for the queue
   wait; 0 when its submitter did not read the clock (nothing counted). */
void gc_pool_job_started(gc_pool *pool, int64_t queued_since_ns);
void gc_pool_job_finished(gc_pool *pool);

/* ---- control ---- */
/* Set max_workers (>= 1).  Idle workers beyond it are woken to exit, busy
   ones exit after their job.  Returns how many workers the caller must start
   now (already counted alive, with no first job) for jobs queued for busy
   workers. */
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
    /* queue_wait_ns: submit to start, summed over the started jobs whose
       submit time was given.  busy_ns: summed over every worker that ever
       attached, its attached time minus its waits for a job, up to now. */
    int64_t queue_wait_ns, busy_ns;
} gc_pool_stats;
void gc_pool_get_stats(gc_pool *pool, gc_pool_stats *out);

/* The attached workers' busy times up to now, in the order they attached: fills up to max entries, returns how many
   workers are attached (more than max: call again with more room). */
typedef struct gc_pool_worker_busy {
    char name[GC_POOL_WORKER_NAME];
    int64_t busy_ns;
} gc_pool_worker_busy;
size_t gc_pool_workers_busy(gc_pool *pool, gc_pool_worker_busy *out, size_t max);

#endif

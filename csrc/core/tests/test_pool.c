/* Tests of gc_pool: the worker pool's management, with pthreads as
   workers. */
#include "harness.h"

#include "gc_pool.h"

/* ---- the worker pool's management, with pthreads as workers ----------- */

struct pool_test {
    gc_pool *pool;
    atomic_int *ran;          /* per job: times run */
    atomic_int threads;       /* worker threads not yet returned */
    _Atomic int64_t idle_ns;     /* each worker's idle timeout */
    _Atomic int64_t run_spin_ns; /* how long a job takes (64 bits: long has 32 on Windows) */
};

struct worker_start {
    struct pool_test *t;
    void *first;
};

static void *pool_worker_main(void *arg)
{
    struct worker_start ws = *(struct worker_start *)arg;
    free(arg);
    struct pool_test *t = ws.t;
    gc_chan *jobs = gc_pool_jobs(t->pool);
    void *job = ws.first;
    gc_pool_worker me;
    gc_pool_worker_attach(t->pool, &me, "test worker");
    for (;;) {
        bool ran = job != NULL;
        if (job) {
            gc_pool_job_started(t->pool, &me, gc_now_ns());
            spin_until(gc_now_ns() + atomic_load(&t->run_spin_ns));
            gc_pool_job_finished(t->pool);
            atomic_fetch_add(&t->ran[IDX(job)], 1); /* the outcome, published */
        }
        job = NULL;
        if (!gc_pool_worker_ready(t->pool, &me, ran))
            goto out;
        for (;;) {
            bool ok = false;
            /* Wake every 5 ms to follow changes of the test's idle timeout. */
            int64_t idle_since = gc_now_ns(), now = idle_since, deadline;
            enum gc_status st;
            do {
                deadline = idle_since + atomic_load(&t->idle_ns);
                if (deadline > now + 5 * MS)
                    deadline = now + 5 * MS;
                st = recv_wait(jobs, &job, &ok, deadline);
                now = gc_now_ns();
            } while (st == GC_TIMEOUT && now - idle_since < atomic_load(&t->idle_ns));
            if (st == GC_TIMEOUT) {
                job = NULL;
                if (gc_pool_idle_expired(t->pool))
                    goto out;
                continue;
            }
            if (!ok) {
                gc_pool_worker_closed(t->pool);
                goto out;
            }
            if (job != GC_POOL_WAKE)
                break;
            job = NULL;
            if (gc_pool_should_retire(t->pool))
                goto out;
        }
    }
out:
    gc_pool_worker_detach(t->pool, &me);
    atomic_fetch_sub(&t->threads, 1);
    return NULL;
}

static void start_worker(struct pool_test *t, void *first)
{
    struct worker_start *ws = malloc(sizeof(*ws));
    ws->t = t;
    ws->first = first;
    pthread_t th;
    atomic_fetch_add(&t->threads, 1);
    if (pthread_create(&th, NULL, pool_worker_main, ws) != 0) {
        fail_at(__FILE__, __LINE__, "pthread_create");
        abort();
    }
    pthread_detach(th);
}

/* true when the job was accepted */
static bool pool_submit(struct pool_test *t, void *job, int64_t deadline)
{
    enum gc_pool_route route = gc_pool_route(t->pool, deadline != 0);
    switch (route) {
    case GC_ROUTE_NEW_WORKER:
        start_worker(t, job);
        return true;
    case GC_ROUTE_TO_IDLE:
    case GC_ROUTE_QUEUE: {
        enum gc_status st = send_wait(gc_pool_jobs(t->pool), job, deadline);
        gc_pool_send_finished(t->pool, route, st == GC_OK);
        return st == GC_OK;
    }
    case GC_ROUTE_SHUT_DOWN:
        return false;
    }
    return false;
}

static void pool_finish(struct pool_test *t)
{
    gc_pool_shutdown(t->pool);
    while (atomic_load(&t->threads) > 0)
        sleep_us(200);
}

static size_t idle_workers(struct pool_test *t)
{
    size_t s, r;
    gc_chan_count_waiting(gc_pool_jobs(t->pool), &s, &r);
    return r;
}

static void test_pool_hands_to_newest_idle_worker_and_expires(void)
{
    struct pool_test t = {gc_pool_new(0, 4), calloc(64, sizeof(atomic_int)),
                          0, 60 * 1000 * MS, 50 * MS};
    /* Four slow jobs with no idle worker start four workers. */
    for (int i = 0; i < 4; i++)
        CHECK(pool_submit(&t, VAL(i), GC_FOREVER));
    atomic_store(&t.run_spin_ns, 0);
    while (idle_workers(&t) < 4)
        sleep_us(200);
    gc_pool_stats st;
    gc_pool_get_stats(t.pool, &st);
    CHECK(st.alive == 4 && st.workers_started == 4);
    /* Now jobs go to idle workers; no fifth worker at max. */
    CHECK(pool_submit(&t, VAL(4), GC_FOREVER));
    while (atomic_load(&t.ran[4]) == 0)
        sleep_us(100);
    gc_pool_get_stats(t.pool, &st);
    CHECK(st.workers_started == 4);
    /* Shrink the idle timeout: the workers leave on their own. */
    atomic_store(&t.idle_ns, 1 * MS);
    while (atomic_load(&t.threads) > 0)
        sleep_us(500);
    gc_pool_get_stats(t.pool, &st);
    CHECK(st.alive == 0 && st.workers_exited == 4);
    /* An empty pool starts a worker again. */
    CHECK(pool_submit(&t, VAL(5), GC_FOREVER));
    pool_finish(&t);
    for (int i = 0; i < 6; i++)
        CHECK(atomic_load(&t.ran[i]) == 1);
    free(t.ran);
    gc_pool_free(t.pool);
}

static void test_pool_resize_both_ways(void)
{
    struct pool_test t = {gc_pool_new(8, 1), calloc(64, sizeof(atomic_int)),
                          0, 10 * 1000 * MS, 20 * MS};
    /* One slow worker, five queued jobs. */
    for (int i = 0; i < 6; i++)
        CHECK(pool_submit(&t, VAL(i), GC_FOREVER));
    gc_pool_stats st;
    gc_pool_get_stats(t.pool, &st);
    CHECK(st.alive == 1 && st.queued >= 4);
    /* Growing starts workers for the queued jobs at once. */
    size_t start = gc_pool_resize(t.pool, 4);
    CHECK(start == 3);
    for (size_t i = 0; i < start; i++)
        start_worker(&t, NULL);
    for (;;) {
        gc_pool_get_stats(t.pool, &st);
        if (st.jobs_finished == 6)
            break;
        sleep_us(500);
    }
    CHECK(st.alive == 4);
    /* Shrinking wakes idle workers, which exit; one stays. */
    atomic_store(&t.run_spin_ns, 0);
    while (idle_workers(&t) < 4)
        sleep_us(200);
    CHECK(gc_pool_resize(t.pool, 1) == 0);
    while (atomic_load(&t.threads) > 1)
        sleep_us(200);
    gc_pool_get_stats(t.pool, &st);
    CHECK(st.alive == 1 && st.workers_exited == 3);
    CHECK(pool_submit(&t, VAL(6), GC_FOREVER));
    pool_finish(&t);
    for (int i = 0; i < 7; i++)
        CHECK(atomic_load(&t.ran[i]) == 1);
    free(t.ran);
    gc_pool_free(t.pool);
}

struct pool_submitter {
    struct pool_test *t;
    long first, count;
    atomic_bool *accepted;
    uint64_t rng;
    bool timeouts;
};

static void *pool_submitter_main(void *arg)
{
    struct pool_submitter *s = arg;
    for (long i = s->first; i < s->first + s->count; i++) {
        uint64_t r = rnd(&s->rng);
        int64_t deadline = s->timeouts && (r & 3) == 0
                               ? gc_now_ns() + (int64_t)(r >> 56) * US
                               : GC_FOREVER;
        atomic_store(&s->accepted[i], pool_submit(s->t, VAL(i), deadline));
        if ((r & 0x70) == 0)
            sleep_us((long)((r >> 20) % 300));
    }
    return NULL;
}

/* Submitters with random timeouts, workers with tiny idle timeouts (so they
   keep exiting while jobs arrive) and random resizes: every accepted job
   runs exactly once, no refused one runs, and nothing is stranded. */
static void test_pool_stress_idle_expiry_and_resize(void)
{
    int rounds = scale / 2 > 0 ? scale / 2 : 1;
    for (int round = 0; round < rounds; round++) {
        uint64_t rng = derive_seed(0x9001 + (uint64_t)round);
        static const int64_t queues[] = {0, 0, 1, 4, GC_UNBOUNDED};
        int64_t queue = queues[rnd(&rng) % 5];
        const long per = 400;
        enum { NSUB = 3 };
        struct pool_test t = {gc_pool_new(queue, 2),
                              calloc((size_t)(per * NSUB), sizeof(atomic_int)),
                              0, (long)(rnd(&rng) % 300) * US, 0};
        atomic_bool *accepted = calloc((size_t)(per * NSUB), sizeof(atomic_bool));
        struct pool_submitter subs[NSUB];
        pthread_t th[NSUB];
        for (int i = 0; i < NSUB; i++) {
            subs[i] = (struct pool_submitter){&t, i * per, per, accepted,
                                              derive_seed(rnd(&rng)), true};
            pthread_create(&th[i], NULL, pool_submitter_main, &subs[i]);
        }
        for (int k = 0; k < 20; k++) {
            sleep_us((long)(rnd(&rng) % 2000));
            size_t start = gc_pool_resize(t.pool, 1 + rnd(&rng) % 4);
            for (size_t i = 0; i < start; i++)
                start_worker(&t, NULL);
            atomic_store(&t.idle_ns, (long)(rnd(&rng) % 400) * US);
        }
        for (int i = 0; i < NSUB; i++)
            pthread_join(th[i], NULL);
        pool_finish(&t);
        gc_pool_stats st;
        gc_pool_get_stats(t.pool, &st);
        CHECK(st.alive == 0 && st.busy == 0 && st.queued == 0);
        CHECK(st.workers_started == st.workers_exited);
        long accepted_n = 0;
        for (long i = 0; i < per * NSUB; i++) {
            int ran = atomic_load(&t.ran[i]);
            bool acc = atomic_load(&accepted[i]);
            accepted_n += acc;
            if (ran != (acc ? 1 : 0)) {
                fail_at(__FILE__, __LINE__, "job %ld ran %d times, accepted %d",
                        i, ran, (int)acc);
                break;
            }
        }
        CHECK((uint64_t)accepted_n == st.jobs_finished);
        free(accepted);
        free(t.ran);
        gc_pool_free(t.pool);
    }
}

/* An idle worker's slot goes to exactly one submitter, and a send that did
   not happen gives it back: no thread is started while a worker is idle,
   and one is started once the idle one is spoken for. */
static void test_pool_idle_slot_is_taken_once_and_given_back(void)
{
    struct pool_test t = {gc_pool_new(0, 2), calloc(8, sizeof(atomic_int)),
                          0, 60 * 1000 * MS, 0};
    CHECK(pool_submit(&t, VAL(0), GC_FOREVER));
    while (idle_workers(&t) < 1)
        sleep_us(200);
    enum gc_pool_route route = gc_pool_route(t.pool, true);
    CHECK(route == GC_ROUTE_TO_IDLE);
    gc_pool_send_finished(t.pool, route, false); /* e.g. a timeout */
    CHECK((route = gc_pool_route(t.pool, true)) == GC_ROUTE_TO_IDLE);
    /* The idle worker is spoken for now: the next job needs a new one. */
    CHECK(gc_pool_route(t.pool, true) == GC_ROUTE_NEW_WORKER);
    gc_pool_start_failed(t.pool);
    gc_pool_send_finished(t.pool, route, false);
    CHECK(pool_submit(&t, VAL(1), GC_FOREVER));
    while (atomic_load(&t.ran[1]) == 0)
        sleep_us(100);
    gc_pool_stats st;
    gc_pool_get_stats(t.pool, &st);
    CHECK(st.workers_started == 1);
    pool_finish(&t);
    free(t.ran);
    gc_pool_free(t.pool);
}

/* A worker publishing its job's outcome is owed the next job of a submitter
   that can wait for it, whatever the timing: a submit that follows a result
   never starts a second thread.  A submitter that cannot wait starts one,
   and each finishing worker is owed one job only.  Driven step by step, as
   the ordering is the point. */
static void test_pool_submit_after_an_outcome_goes_to_its_worker(void)
{
    gc_pool *pool = gc_pool_new(GC_UNBOUNDED, 4);
    CHECK(gc_pool_route(pool, true) == GC_ROUTE_NEW_WORKER);
    gc_pool_job_started(pool, NULL, 0);
    gc_pool_job_finished(pool); /* about to publish the outcome */
    CHECK(gc_pool_route(pool, false) == GC_ROUTE_NEW_WORKER);
    gc_pool_start_failed(pool);
    CHECK(gc_pool_route(pool, true) == GC_ROUTE_QUEUE);
    gc_pool_send_finished(pool, GC_ROUTE_QUEUE, true);
    /* That worker is spoken for now. */
    CHECK(gc_pool_route(pool, true) == GC_ROUTE_NEW_WORKER);
    gc_pool_start_failed(pool);
    /* Ready, it takes the queued job instead of becoming idle. */
    CHECK(gc_pool_worker_ready(pool, NULL, true));
    CHECK(gc_pool_route(pool, true) == GC_ROUTE_NEW_WORKER);
    gc_pool_start_failed(pool);
    gc_pool_stats st;
    gc_pool_get_stats(pool, &st);
    CHECK(st.alive == 1 && st.workers_started == 1 && st.busy == 0);
    gc_pool_shutdown(pool);
    size_t n = 0;
    free(gc_chan_take_buffer(gc_pool_jobs(pool), &n));
    CHECK(n == 0); /* nothing was sent */
    gc_pool_free(pool);
}

/* A submitter blocked on a busy pool is refused, with no effect, when the
   pool shuts down. */
static void test_pool_shutdown_refuses_blocked_submitter(void)
{
    struct pool_test t = {gc_pool_new(0, 1), calloc(8, sizeof(atomic_int)),
                          0, 10 * 1000 * MS, 300 * MS};
    CHECK(pool_submit(&t, VAL(0), GC_FOREVER));
    struct pool_submitter s = {&t, 1, 1, calloc(8, sizeof(atomic_bool)), 1, false};
    pthread_t th;
    pthread_create(&th, NULL, pool_submitter_main, &s);
    for (;;) {
        size_t snd, rcv;
        gc_chan_count_waiting(gc_pool_jobs(t.pool), &snd, &rcv);
        if (snd == 1)
            break;
        sleep_us(100);
    }
    gc_pool_shutdown(t.pool);
    pthread_join(th, NULL);
    CHECK(!atomic_load(&s.accepted[1]));
    pool_finish(&t);
    CHECK(atomic_load(&t.ran[0]) == 1 && atomic_load(&t.ran[1]) == 0);
    CHECK(gc_pool_route(t.pool, true) == GC_ROUTE_SHUT_DOWN);
    free(s.accepted);
    free(t.ran);
    gc_pool_free(t.pool);
}

/* The statistics' times: queue wait from the submit time given, busy time
   from start to ready, a running job counted up to now, per worker while
   attached and in the total after. */
static void test_pool_stats_times(void)
{
    gc_pool *pool = gc_pool_new(GC_UNBOUNDED, 2);
    gc_pool_worker a, b;
    gc_pool_worker_attach(pool, &a, "worker-a");
    gc_pool_worker_attach(pool, &b, "a name much longer than the room there is "
                                    "for it in the record, which truncates it");
    gc_pool_stats st;
    gc_pool_get_stats(pool, &st);
    CHECK(st.queue_wait_ns == 0 && st.busy_ns == 0);

    int64_t t0 = gc_now_ns();
    gc_pool_job_started(pool, &a, t0 - 5 * MS); /* queued 5 ms */
    spin_until(gc_now_ns() + 2 * MS);
    gc_pool_worker_busy busy[4];
    CHECK(gc_pool_workers_busy(pool, busy, 4) == 2);
    CHECK(strcmp(busy[0].name, "worker-a") == 0);
    CHECK(strlen(busy[1].name) == GC_POOL_WORKER_NAME - 1);
    CHECK(busy[0].busy_ns >= 2 * MS && busy[1].busy_ns == 0); /* running */
    gc_pool_job_finished(pool);
    CHECK(gc_pool_worker_ready(pool, &a, true));
    int64_t wall = gc_now_ns() - t0;
    gc_pool_get_stats(pool, &st);
    CHECK(st.queue_wait_ns >= 5 * MS && st.queue_wait_ns <= wall + 5 * MS);
    CHECKF(st.busy_ns >= 2 * MS && st.busy_ns <= wall,
           "busy %" PRId64 " of %" PRId64 " ns", st.busy_ns, wall);
    int64_t a_busy = st.busy_ns;
    CHECK(gc_pool_workers_busy(pool, busy, 1) == 2); /* room for one */
    CHECK(busy[0].busy_ns == a_busy);                /* idle: no longer grows */

    /* no submit time: no queue wait counted */
    gc_pool_job_started(pool, &b, 0);
    gc_pool_job_finished(pool);
    CHECK(gc_pool_worker_ready(pool, &b, true));
    gc_pool_get_stats(pool, &st);
    CHECK(st.queue_wait_ns <= wall + 5 * MS && st.jobs_started == 2);

    /* detached, a worker's time stays in the total */
    gc_pool_worker_detach(pool, &a);
    CHECK(gc_pool_workers_busy(pool, busy, 4) == 1);
    gc_pool_stats after;
    gc_pool_get_stats(pool, &after);
    CHECK(after.busy_ns == st.busy_ns);
    gc_pool_worker_detach(pool, &b);
    CHECK(gc_pool_workers_busy(pool, busy, 4) == 0);
    gc_pool_shutdown(pool);
    gc_pool_free(pool);
}

static const struct test_case tests[] = {
    {"pool_hands_to_newest_idle_worker_and_expires",
     test_pool_hands_to_newest_idle_worker_and_expires},
    {"pool_resize_both_ways", test_pool_resize_both_ways},
    {"pool_shutdown_refuses_blocked_submitter",
     test_pool_shutdown_refuses_blocked_submitter},
    {"pool_idle_slot_is_taken_once_and_given_back",
     test_pool_idle_slot_is_taken_once_and_given_back},
    {"pool_submit_after_an_outcome_goes_to_its_worker",
     test_pool_submit_after_an_outcome_goes_to_its_worker},
    {"pool_stress_idle_expiry_and_resize",
     test_pool_stress_idle_expiry_and_resize},
    {"pool_stats_times", test_pool_stats_times},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

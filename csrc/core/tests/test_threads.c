/* Tests of the platform layer's threads part (gc_platform.h): the mutex, the
   reader-writer lock, once, thread-local keys and their destructors, and the
   detached thread start.  The test's own threads are pthreads (winpthreads
   on Windows), as a foreign thread of the core would be. */
#include "harness.h"

#include <sched.h>

#include "platform/gc_platform.h"

#define THREADS 4

/* Spins (yielding) until *flag is set or 10 s have passed; false then. */
static bool wait_flag(atomic_int *flag)
{
    int64_t deadline = gc_now_ns() + 10 * 1000000000LL;
    while (!atomic_load(flag)) {
        if (gc_now_ns() > deadline)
            return false;
        sleep_us(100);
    }
    return true;
}

/* ---- gc_mutex ----------------------------------------------------------- */

static gc_mutex static_lock = GC_MUTEX_INIT;

struct counted {
    gc_mutex *lock;
    long count; /* guarded by lock, deliberately not atomic */
    long per_thread;
};

static void *count_main(void *arg)
{
    struct counted *c = arg;
    for (long i = 0; i < c->per_thread; i++) {
        gc_mutex_lock(c->lock);
        long seen = c->count;
        if (i % 64 == 0)
            sched_yield(); /* inside the lock: others must wait */
        c->count = seen + 1;
        gc_mutex_unlock(c->lock);
    }
    return NULL;
}

static void count_with(gc_mutex *lock)
{
    struct counted c = {lock, 0, 500L * scale};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, count_main, &c) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECKF(c.count == THREADS * c.per_thread, "count %ld, expected %ld", c.count,
           THREADS * c.per_thread);
}

static void test_mutex_excludes(void)
{
    count_with(&static_lock);
    gc_mutex lock;
    CHECK(gc_mutex_init(&lock) == 0);
    count_with(&lock);
    gc_mutex_destroy(&lock);
}

/* ---- gc_rwlock ---------------------------------------------------------- */

static gc_rwlock rw = GC_RWLOCK_INIT;

struct shared_pair {
    long a, b; /* guarded by rw: equal whenever no writer holds it */
    atomic_int readers_in;  /* readers inside their first read lock */
    atomic_int readers_out; /* readers past it */
    atomic_int both_in;
    atomic_int stop;
};

static void *reader_main(void *arg)
{
    struct shared_pair *p = arg;
    gc_rwlock_rdlock(&rw);
    /* Two readers at once: each waits, holding its read lock, for the
       other to be inside too (before any writer queues: a waiting writer
       may keep new readers out, as Windows' SRWLOCK does). */
    atomic_fetch_add(&p->readers_in, 1);
    int64_t deadline = gc_now_ns() + 10 * 1000000000LL;
    while (!atomic_load(&p->both_in) && gc_now_ns() < deadline) {
        if (atomic_load(&p->readers_in) == 2)
            atomic_store(&p->both_in, 1);
        sched_yield();
    }
    atomic_fetch_sub(&p->readers_in, 1);
    gc_rwlock_rdunlock(&rw);
    atomic_fetch_add(&p->readers_out, 1);
    while (!atomic_load(&p->stop)) {
        gc_rwlock_rdlock(&rw);
        long a = p->a, b = p->b;
        gc_rwlock_rdunlock(&rw);
        EXPECTF(a == b, "a reader saw a half-done write: %ld, %ld", a, b);
    }
    return NULL;
}

static void test_rwlock_shares_reads_and_excludes_writes(void)
{
    struct shared_pair p = {0};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, reader_main, &p) == 0);
    while (atomic_load(&p.readers_out) < 2)
        sched_yield();
    for (long i = 0; i < 200L * scale; i++) {
        gc_rwlock_wrlock(&rw);
        p.a++;
        if (i % 64 == 0)
            sched_yield();
        p.b++;
        gc_rwlock_wrunlock(&rw);
    }
    atomic_store(&p.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&p.both_in));
    /* Made anew (what the fork child does), it works as a fresh one. */
    CHECK(gc_rwlock_init(&rw) == 0);
    gc_rwlock_rdlock(&rw);
    gc_rwlock_rdlock(&rw);
    gc_rwlock_rdunlock(&rw);
    gc_rwlock_rdunlock(&rw);
    gc_rwlock_wrlock(&rw);
    gc_rwlock_wrunlock(&rw);
}

/* ---- gc_once ------------------------------------------------------------ */

static gc_once_flag once_flag = GC_ONCE_INIT;
static atomic_int once_calls;
static long once_value; /* written by the once function alone */
static pthread_barrier_t once_go;

static void once_fn(void)
{
    atomic_fetch_add(&once_calls, 1);
    sleep_us(2000); /* the other callers arrive meanwhile and must wait */
    once_value = 42;
}

static void *once_main(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&once_go);
    gc_once(&once_flag, once_fn);
    EXPECTF(once_value == 42, "gc_once returned before the function ended");
    return NULL;
}

static void test_once_runs_once_and_others_wait(void)
{
    pthread_t t[THREADS];
    pthread_barrier_init(&once_go, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, once_main, NULL) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&once_go);
    gc_once(&once_flag, once_fn);
    CHECK(atomic_load(&once_calls) == 1);
    CHECK(once_value == 42);
}

/* ---- gc_tls_key --------------------------------------------------------- */

static gc_tls_key tls_key;
static atomic_int destructor_calls;
static atomic_long destructor_sum; /* sum of the values destroyed */

static void tls_destructor(void *value)
{
    atomic_fetch_add(&destructor_calls, 1);
    atomic_fetch_add(&destructor_sum, (long)(intptr_t)value);
}

struct tls_thread {
    intptr_t value;  /* set, then read back; 0: set and then cleared */
    atomic_int *set; /* signalled once the value is set (or NULL) */
    atomic_int *go;  /* waited for before ending (or NULL) */
};

static void *tls_main(void *arg)
{
    struct tls_thread *t = arg;
    EXPECTF(gc_tls_get(tls_key) == NULL, "a new thread inherited a value");
    if (t->value) {
        EXPECT(gc_tls_set(tls_key, (void *)t->value) == 0);
        for (int i = 0; i < 100; i++) {
            sched_yield();
            EXPECTF(gc_tls_get(tls_key) == (void *)t->value,
                    "another thread's value, or none");
        }
    } else {
        EXPECT(gc_tls_set(tls_key, (void *)(intptr_t)7) == 0);
        EXPECT(gc_tls_set(tls_key, NULL) == 0); /* nothing to destroy */
        EXPECT(gc_tls_get(tls_key) == NULL);
    }
    if (t->set)
        atomic_store(t->set, 1);
    if (t->go)
        EXPECT(wait_flag(t->go));
    return NULL;
}

static void test_tls_values_are_per_thread_and_destroyed_at_exit(void)
{
    atomic_store(&destructor_calls, 0);
    atomic_store(&destructor_sum, 0);
    CHECK(gc_tls_create(&tls_key, tls_destructor) == 0);
    CHECK(gc_tls_get(tls_key) == NULL);
    CHECK(gc_tls_set(tls_key, (void *)(intptr_t)1000) == 0); /* this thread's */
    struct tls_thread args[THREADS];
    pthread_t t[THREADS];
    long expected_sum = 0;
    for (int i = 0; i < THREADS; i++) {
        /* the last thread sets a value, then clears it */
        args[i] = (struct tls_thread){i == THREADS - 1 ? 0 : i + 1, NULL, NULL};
        expected_sum += args[i].value;
        CHECK(pthread_create(&t[i], NULL, tls_main, &args[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* Each ended thread with a value ran the destructor once, on it; this
       thread has not ended, so its value stays. */
    CHECKF(atomic_load(&destructor_calls) == THREADS - 1, "%d destructor calls",
           atomic_load(&destructor_calls));
    CHECK(atomic_load(&destructor_sum) == expected_sum);
    CHECK(gc_tls_get(tls_key) == (void *)(intptr_t)1000);
    CHECK(gc_tls_set(tls_key, NULL) == 0);
    gc_tls_delete(tls_key);
}

static void test_tls_delete_runs_no_destructor(void)
{
    atomic_store(&destructor_calls, 0);
    CHECK(gc_tls_create(&tls_key, tls_destructor) == 0);
    atomic_int set = 0, go = 0;
    struct tls_thread arg = {5, &set, &go};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, tls_main, &arg) == 0);
    CHECK(wait_flag(&set));
    gc_tls_delete(tls_key); /* while the thread still holds a value */
    atomic_store(&go, 1);
    pthread_join(t, NULL);
    CHECK(atomic_load(&destructor_calls) == 0);
    /* A key made afterwards starts empty and works as the first did. */
    CHECK(gc_tls_create(&tls_key, tls_destructor) == 0);
    CHECK(gc_tls_get(tls_key) == NULL);
    struct tls_thread again = {9, NULL, NULL};
    CHECK(pthread_create(&t, NULL, tls_main, &again) == 0);
    pthread_join(t, NULL);
    CHECK(atomic_load(&destructor_calls) == 1);
    gc_tls_delete(tls_key);
}

/* ---- gc_thread_start_detached ------------------------------------------- */

struct detached {
    gc_tls_key key;
    atomic_int ran;
    atomic_int saw_own_tls; /* the new thread did not see the starter's value */
};

static void *detached_main(void *arg)
{
    struct detached *d = arg;
    atomic_store(&d->saw_own_tls, gc_tls_get(d->key) == NULL);
    atomic_store(&d->ran, 1);
    return NULL;
}

static void test_thread_start_detached_runs_on_a_new_thread(void)
{
    for (int round = 0; round < 5; round++) {
        /* static: the thread may still be returning when the test ends */
        static struct detached d;
        atomic_store(&d.ran, 0);
        atomic_store(&d.saw_own_tls, 0);
        CHECK(gc_tls_create(&d.key, NULL) == 0);
        CHECK(gc_tls_set(d.key, &d) == 0);
        CHECK(gc_thread_start_detached(detached_main, &d, 64 * 1024) == 0);
        CHECK(wait_flag(&d.ran));
        CHECK(atomic_load(&d.saw_own_tls));
        CHECK(gc_tls_set(d.key, NULL) == 0);
        gc_tls_delete(d.key);
    }
}

static const struct test_case tests[] = {
    {"mutex_excludes", test_mutex_excludes},
    {"rwlock_shares_reads_and_excludes_writes", test_rwlock_shares_reads_and_excludes_writes},
    {"once_runs_once_and_others_wait", test_once_runs_once_and_others_wait},
    {"tls_values_are_per_thread_and_destroyed_at_exit",
     test_tls_values_are_per_thread_and_destroyed_at_exit},
    {"tls_delete_runs_no_destructor", test_tls_delete_runs_no_destructor},
    {"thread_start_detached_runs_on_a_new_thread",
     test_thread_start_detached_runs_on_a_new_thread},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

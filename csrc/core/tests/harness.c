/* The harness of the C core's tests: see harness.h. */
#include "harness.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#ifndef GC_TEST_SANITIZED
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define GC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define GC_TEST_SANITIZED 1
#endif
#endif
#endif

/* ---- harness ---------------------------------------------------------- */

static int failures, passed;
static _Atomic(const char *) current_test;
static _Atomic int current_failed;
static _Atomic int64_t test_started_ns;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

void fail_at(const char *file, int line, const char *fmt, ...)
{
    int n = atomic_fetch_add(&current_failed, 1);
    if (n >= 20)
        return;
    va_list ap;
    pthread_mutex_lock(&out_lock);
    printf("FAIL %s: ", atomic_load(&current_test));
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" (%s:%d)\n", file, line);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

bool test_failed(void)
{
    return atomic_load(&current_failed) != 0;
}

static const char *only; /* GC_TEST_ONLY: run the tests whose name has it */

static void run(const char *name, void (*fn)(void))
{
    if (only && !strstr(name, only))
        return;
    atomic_store(&current_test, name);
    atomic_store(&current_failed, 0);
    atomic_store(&test_started_ns, gc_now_ns());
    fn();
    atomic_store(&test_started_ns, 0);
    if (test_failed()) {
        failures++;
    } else {
        passed++;
        pthread_mutex_lock(&out_lock);
        printf("ok %s\n", name);
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
    }
}

/* A hung test (a lost wake-up, a deadlock) fails the run instead of
   stalling it forever. */
static int64_t test_timeout_ns;

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        int64_t started = atomic_load(&test_started_ns);
        if (started && gc_now_ns() - started > test_timeout_ns) {
            printf("FAIL %s: still running after %" PRId64 " s (%s:%d)\n",
                   atomic_load(&current_test), test_timeout_ns / 1000000000,
                   __FILE__, __LINE__);
            fflush(stdout);
            _exit(2);
        }
    }
    return NULL;
}

#ifdef GC_TEST_SANITIZED
int scale = 10;
#else
int scale = 20;
#endif

uint64_t seed;

uint64_t rnd(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

uint64_t derive_seed(uint64_t salt)
{
    uint64_t s = seed ^ (salt * 0x9E3779B97F4A7C15ULL);
    return s ? s : 1;
}

void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

void spin_until(int64_t when)
{
    while (gc_now_ns() < when)
        ;
}

void destroy(gc_chan *ch)
{
    size_t n;
    free(gc_chan_take_buffer(ch, &n));
    gc_chan_free(ch);
}

/* ---- blocking helpers: a send / recv is a one-case select ------------- */

enum gc_status select_now(const gc_case *cases, int n, int64_t deadline,
                          gc_select_result *res)
{
    gc_entry entries[16];
    int order[32];
    gc_select sel;
    if (n > 16)
        abort();
    gc_select_init(&sel, cases, n, entries, order, order + n);
    enum gc_status st = gc_select_try(&sel, res);
    if (st == GC_NOT_READY && deadline != TRY_ONLY)
        st = gc_select_wait(&sel, deadline, 0, res);
    return st;
}

enum gc_status send_wait(gc_chan *ch, void *v, int64_t deadline)
{
    gc_case c = {ch, v, true};
    gc_select_result res;
    return select_now(&c, 1, deadline, &res);
}

enum gc_status recv_wait(gc_chan *ch, void **v, bool *ok, int64_t deadline)
{
    gc_case c = {ch, NULL, false};
    gc_select_result res;
    enum gc_status st = select_now(&c, 1, deadline, &res);
    if (st == GC_OK) {
        *v = res.value;
        *ok = res.ok;
    }
    return st;
}

void waiting(gc_chan *ch, size_t *s, size_t *r)
{
    gc_chan_count_waiting(ch, s, r);
}

void wait_until_waiting(gc_chan *ch, size_t senders, size_t receivers)
{
    for (;;) {
        size_t s, r;
        gc_chan_count_waiting(ch, &s, &r);
        if (s >= senders && r >= receivers)
            return;
        sleep_us(100);
    }
}

void *do_send(void *arg)
{
    struct op *op = arg;
    op->status = send_wait(op->ch, VAL(op->value), op->deadline);
    return NULL;
}

void *do_recv(void *arg)
{
    struct op *op = arg;
    op->status = recv_wait(op->ch, &op->got, &op->ok, op->deadline);
    return NULL;
}

void *do_select(void *arg)
{
    struct select_op *op = arg;
    int64_t deadline = op->deadline ? op->deadline : GC_FOREVER;
    op->status = select_now(op->cases, op->n, deadline, &op->res);
    return NULL;
}

/* ---- contexts ------------------------------------------------------------- */

bool is_done(gc_ctx *c)
{
    void *v;
    bool ok;
    return gc_chan_try_recv(gc_ctx_done(c), &v, &ok) == GC_OK && !ok;
}

/* ---- main ------------------------------------------------------------------- */

int main(void)
{
    const char *env = getenv("GC_TEST_SEED");
    seed = env ? strtoull(env, NULL, 10) : (uint64_t)gc_now_ns();
    if (seed == 0)
        seed = 1;
    env = getenv("GC_TEST_SCALE");
    if (env && atoi(env) > 0)
        scale = atoi(env);
    only = getenv("GC_TEST_ONLY");
    env = getenv("GC_TEST_TIMEOUT");
    test_timeout_ns = (env && atoi(env) > 0 ? atoi(env) : 120) * 1000 * MS;
    printf("seed %" PRIu64 " (GC_TEST_SEED to replay), scale %d, park %s, wake %s\n",
           seed, scale, GC_PLATFORM_PARK, GC_PLATFORM_WAKE);
    fflush(stdout);

    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    pthread_detach(dog);

    if (suite.setup)
        suite.setup();
    for (size_t i = 0; i < suite.count; i++)
        run(suite.tests[i].name, suite.tests[i].fn);

    printf("%d passed, %d failed\n", passed, failures);
    return failures ? 1 : 0;
}

/*
 * The harness of the C core's tests: assertions, the test list, main, and
 * the helpers every test file shares.  Each test_<module>.c defines `suite`
 * and is linked with harness.c and the core into a program of its own,
 * test_<module>, which CTest runs as core.<module> (see CMakeLists.txt);
 * every program runs plain and under ThreadSanitizer / AddressSanitizer+UBSan.
 *
 * Values are small integers disguised as pointers (never NULL).  Stress tests
 * derive their randomness from one seed, printed at start; GC_TEST_SEED=<n>
 * replays a run.  GC_TEST_SCALE=<n> scales the iteration counts (default 20,
 * 10 under sanitizers); GC_TEST_TIMEOUT=<seconds> bounds each test (a hang is
 * reported as a failure); GC_TEST_ONLY=<text> runs only the tests whose name
 * contains it.
 */
#ifndef GC_TEST_HARNESS_H
#define GC_TEST_HARNESS_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_chan.h"
#include "gc_ctx.h"
#include "gc_park.h"
#include "gc_select.h"

/* ---- pthread barriers where the system has none (macOS) ----------------- */

#if defined(__APPLE__)
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned count, waiting, generation;
} pthread_barrier_t;
typedef int pthread_barrierattr_t;

static inline int pthread_barrier_init(pthread_barrier_t *b,
                                       const pthread_barrierattr_t *attr,
                                       unsigned count)
{
    (void)attr;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->count = count;
    b->waiting = b->generation = 0;
    return 0;
}

static inline int pthread_barrier_wait(pthread_barrier_t *b)
{
    pthread_mutex_lock(&b->lock);
    unsigned gen = b->generation;
    int last = ++b->waiting == b->count;
    if (last) {
        b->waiting = 0;
        b->generation++;
        pthread_cond_broadcast(&b->cond);
    } else {
        while (gen == b->generation)
            pthread_cond_wait(&b->cond, &b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return last ? -1 : 0; /* -1: PTHREAD_BARRIER_SERIAL_THREAD's role */
}

static inline int pthread_barrier_destroy(pthread_barrier_t *b)
{
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    return 0;
}
#endif

/* ---- the test list ------------------------------------------------------ */

struct test_case {
    const char *name;
    void (*fn)(void);
};

/* Each test file defines one: its tests, run in this order.  setup, if not
   NULL, runs once before them. */
struct test_suite {
    void (*setup)(void);
    const struct test_case *tests;
    size_t count;
};

extern const struct test_suite suite;

/* ---- assertions --------------------------------------------------------- */

/* Thread-safe: stress threads report through it too.  At most a screenful
   of messages per test. */
void fail_at(const char *file, int line, const char *fmt, ...);

/* CHECK ends the test function; use it only where no thread it started is
   still running.  EXPECT records the failure and carries on (any thread). */
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fail_at(__FILE__, __LINE__, "%s", #cond);                         \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CHECKF(cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fail_at(__FILE__, __LINE__, __VA_ARGS__);                         \
            return;                                                           \
        }                                                                     \
    } while (0)

#define EXPECT(cond)                                                          \
    ((cond) ? true : (fail_at(__FILE__, __LINE__, "%s", #cond), false))

#define EXPECTF(cond, ...)                                                    \
    ((cond) ? true : (fail_at(__FILE__, __LINE__, __VA_ARGS__), false))

bool test_failed(void);

/* ---- scale, seed, values, time ------------------------------------------ */

/* Iteration counts are multiples of scale; sanitizers slow threads 5-20x. */
extern int scale;
extern uint64_t seed;

uint64_t rnd(uint64_t *state);
uint64_t derive_seed(uint64_t salt);

#define VAL(i) ((void *)(uintptr_t)((i) + 1))
#define IDX(p) ((long)(uintptr_t)(p) - 1)
#define MS 1000000LL
#define US 1000LL

void sleep_us(long us);
void spin_until(int64_t when);

/* Free a channel after draining whatever is buffered (values are not owned
   references here, so just drop them). */
void destroy(gc_chan *ch);

/* ---- blocking helpers: a send / recv is a one-case select ------------- */

/* deadline 0: only the non-blocking pass. */
#define TRY_ONLY 0

enum gc_status select_now(const gc_case *cases, int n, int64_t deadline,
                          gc_select_result *res);
enum gc_status send_wait(gc_chan *ch, void *v, int64_t deadline);
enum gc_status recv_wait(gc_chan *ch, void **v, bool *ok, int64_t deadline);
void waiting(gc_chan *ch, size_t *s, size_t *r);
void wait_until_waiting(gc_chan *ch, size_t senders, size_t receivers);

/* One blocking operation run on its own thread. */
struct op {
    gc_chan *ch;
    long value;
    int64_t deadline;
    enum gc_status status;
    void *got;
    bool ok;
};

void *do_send(void *arg);
void *do_recv(void *arg);

/* One blocking select run on its own thread (GC_FOREVER unless deadline). */
struct select_op {
    gc_case cases[3];
    int n;
    enum gc_status status;
    gc_select_result res;
    int64_t deadline;
};

void *do_select(void *arg);

/* ---- contexts ------------------------------------------------------------- */

/* True if c's done channel is closed (a non-blocking look). */
bool is_done(gc_ctx *c);

#endif

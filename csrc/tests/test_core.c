/*
 * Tests of the C core alone: parking, the waiter protocol, channel semantics,
 * select, and exactly-once delivery under racing threads.  Runs plain and
 * under ThreadSanitizer / AddressSanitizer+UBSan (see CMakeLists.txt).
 *
 * Values are small integers disguised as pointers (never NULL).  Stress tests
 * print their seed; GC_TEST_SEED=<n> replays one.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc_chan.h"
#include "gc_park.h"
#include "gc_select.h"
#include "gc_timer.h"
#include "gc_ctx.h"
#include "gc_waiter.h"

/* ---- harness ---------------------------------------------------------- */

static int failures, passed;
static const char *current_test;
static int current_failed;

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

static void fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", current_test);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" (%s:%d)\n", file, line);
    fflush(stdout);
    current_failed = 1;
}

static void run(const char *name, void (*fn)(void))
{
    current_test = name;
    current_failed = 0;
    fn();
    if (current_failed) {
        failures++;
    } else {
        passed++;
        printf("ok %s\n", name);
    }
    fflush(stdout);
}

/* Iterations shrink under sanitizers, which slow threads 5-20x. */
#ifdef GC_TEST_SANITIZED
static const int scale = 1;
#else
static const int scale = 20;
#endif

static uint64_t seed;

static uint64_t rnd(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

#define VAL(i) ((void *)(uintptr_t)((i) + 1))
#define IDX(p) ((long)(uintptr_t)(p) - 1)

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Free a channel after draining whatever is buffered (values are not owned
   references here, so just drop them). */
static void destroy(gc_chan *ch)
{
    size_t n;
    free(gc_chan_take_buffer(ch, &n));
    gc_chan_free(ch);
}

/* ---- blocking helpers: a send / recv is a one-case select ------------- */

static enum gc_status one_case(gc_chan *ch, bool is_send, void *v,
                               int64_t deadline, gc_select_result *res)
{
    gc_case c = {ch, v, is_send};
    gc_entry e;
    int order[2];
    gc_select sel;
    gc_select_init(&sel, &c, 1, &e, order, order + 1);
    enum gc_status st = gc_select_try(&sel, res);
    if (st == GC_NOT_READY)
        st = gc_select_wait(&sel, deadline, 0, res);
    return st;
}

static enum gc_status send_wait(gc_chan *ch, void *v, int64_t deadline)
{
    gc_select_result res;
    return one_case(ch, true, v, deadline, &res);
}

static enum gc_status recv_wait(gc_chan *ch, void **v, bool *ok,
                                int64_t deadline)
{
    gc_select_result res;
    enum gc_status st = one_case(ch, false, NULL, deadline, &res);
    if (st == GC_OK) {
        *v = res.value;
        *ok = res.ok;
    }
    return st;
}

static void wait_until_waiting(gc_chan *ch, size_t senders, size_t receivers)
{
    for (;;) {
        size_t s, r;
        gc_chan_count_waiting(ch, &s, &r);
        if (s >= senders && r >= receivers)
            return;
        sleep_us(200);
    }
}

/* ---- park ------------------------------------------------------------- */

static _Atomic uint32_t park_word;

static void *unpark_later(void *arg)
{
    (void)arg;
    sleep_us(20000);
    atomic_store(&park_word, 1);
    gc_unpark(&park_word);
    return NULL;
}

static void test_park(void)
{
    atomic_store(&park_word, 0);
    CHECK(gc_park(&park_word, 0, gc_now_ns() - 1) == GC_PARK_TIMEOUT);
    int64_t t0 = gc_now_ns();
    CHECK(gc_park(&park_word, 0, t0 + 5000000) == GC_PARK_TIMEOUT);
    CHECK(gc_now_ns() - t0 >= 5000000);
    CHECK(gc_park(&park_word, 7, GC_FOREVER) == GC_PARK_WOKEN);
    pthread_t t;
    pthread_create(&t, NULL, unpark_later, NULL);
    while (atomic_load(&park_word) == 0)
        gc_park(&park_word, 0, GC_FOREVER);
    pthread_join(t, NULL);
    CHECK(atomic_load(&park_word) == 1);
    CHECK(gc_deadline_after(1e30) == GC_FOREVER);
}

/* ---- waiter protocol -------------------------------------------------- */

static gc_waiter race_waiter;
static _Atomic int race_claims, race_aborts;
static pthread_barrier_t race_barrier;

static void *claimer(void *arg)
{
    int rounds = *(int *)arg;
    for (int i = 0; i < rounds; i++) {
        pthread_barrier_wait(&race_barrier);
        if (gc_waiter_claim(&race_waiter)) {
            race_waiter.value = VAL(i);
            atomic_fetch_add(&race_claims, 1);
            gc_waiter_finish(&race_waiter);
        }
        pthread_barrier_wait(&race_barrier);
    }
    return NULL;
}

static void test_claim_abort_exclusive(void)
{
    int rounds = 2000 * scale;
    pthread_barrier_init(&race_barrier, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, claimer, &rounds);
    int claimed_seen = 0;
    for (int i = 0; i < rounds; i++) {
        gc_waiter_reset(&race_waiter);
        pthread_barrier_wait(&race_barrier);
        if (gc_waiter_abort(&race_waiter)) {
            atomic_fetch_add(&race_aborts, 1);
        } else {
            gc_waiter_wait_done(&race_waiter);
            if (race_waiter.value == VAL(i))
                claimed_seen++;
        }
        pthread_barrier_wait(&race_barrier);
    }
    pthread_join(t, NULL);
    pthread_barrier_destroy(&race_barrier);
    CHECKF(atomic_load(&race_claims) + atomic_load(&race_aborts) == rounds,
           "claims %d + aborts %d != %d", atomic_load(&race_claims),
           atomic_load(&race_aborts), rounds);
    CHECK(claimed_seen == atomic_load(&race_claims));
}

/* ---- channel semantics ------------------------------------------------ */

static void test_unbuffered_needs_partner(void)
{
    gc_chan *ch = gc_chan_new(0);
    void *v;
    bool ok;
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_NOT_READY);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    CHECK(gc_chan_len(ch) == 0);
    CHECK(gc_chan_capacity(ch) == 0);
    destroy(ch);
}

static void test_buffered_fifo_and_capacity(void)
{
    gc_chan *ch = gc_chan_new(3);
    void *v;
    bool ok;
    for (int round = 0; round < 5; round++) { /* moves head around the ring */
        for (int i = 0; i < 3; i++)
            CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
        CHECK(gc_chan_try_send(ch, VAL(9)) == GC_NOT_READY);
        CHECK(gc_chan_len(ch) == 3);
        for (int i = 0; i < 2; i++) {
            CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok);
            CHECK(v == VAL(i));
        }
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    }
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    destroy(ch);
}

static void test_unbounded_grows_and_shrinks(void)
{
    gc_chan *ch = gc_chan_new(GC_UNBOUNDED);
    void *v;
    bool ok;
    long n = 200000L * scale;
    for (long i = 0; i < n; i++)
        CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
    CHECK(gc_chan_len(ch) == (size_t)n);
    for (long i = 0; i < n; i++) {
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK);
        CHECKF(v == VAL(i), "got %ld want %ld", IDX(v), i);
    }
    CHECK(gc_chan_len(ch) == 0);
    CHECK(gc_chan_try_send(ch, VAL(5)) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(5));
    destroy(ch);
}

static void test_close_semantics(void)
{
    gc_chan *ch = gc_chan_new(4);
    void *v;
    bool ok;
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_OK);
    CHECK(!gc_chan_is_closed(ch));
    CHECK(gc_chan_close(ch) == GC_OK);
    CHECK(gc_chan_is_closed(ch));
    CHECK(gc_chan_close(ch) == GC_CLOSED);
    CHECK(gc_chan_try_send(ch, VAL(3)) == GC_CLOSED);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok && v == VAL(1));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok && v == VAL(2));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && !ok && v == NULL);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && !ok);
    destroy(ch);
}

static int collect_visit(void *value, void *arg)
{
    long *out = arg;
    out[++out[0]] = IDX(value);
    return 0;
}

static void test_visit_and_take_buffer_order(void)
{
    gc_chan *ch = gc_chan_new(8);
    void *v;
    bool ok;
    for (int i = 0; i < 6; i++)
        gc_chan_try_send(ch, VAL(100 + i));
    for (int i = 0; i < 6; i++)
        gc_chan_try_recv(ch, &v, &ok);
    for (int i = 0; i < 7; i++) /* wraps around the end of the ring */
        CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
    long seen[16] = {0};
    CHECK(gc_chan_visit(ch, collect_visit, seen) == 0);
    CHECK(seen[0] == 7);
    for (int i = 0; i < 7; i++)
        CHECK(seen[i + 1] == i);
    size_t n;
    void **items = gc_chan_take_buffer(ch, &n);
    CHECK(n == 7 && items);
    for (int i = 0; i < 7; i++)
        CHECKF(items[i] == VAL(i), "item %d is %ld", i, IDX(items[i]));
    free(items);
    CHECK(gc_chan_len(ch) == 0);
    CHECK(gc_chan_take_buffer(ch, &n) == NULL && n == 0);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK); /* usable afterwards */
    destroy(ch);
}

/* ---- blocking --------------------------------------------------------- */

struct op {
    gc_chan *ch;
    long value;
    int64_t deadline;
    enum gc_status status;
    void *got;
    bool ok;
};

static void *do_send(void *arg)
{
    struct op *op = arg;
    op->status = send_wait(op->ch, VAL(op->value), op->deadline);
    return NULL;
}

static void *do_recv(void *arg)
{
    struct op *op = arg;
    op->status = recv_wait(op->ch, &op->got, &op->ok, op->deadline);
    return NULL;
}

static void test_blocked_receiver_gets_value(void)
{
    for (int cap = 0; cap <= 1; cap++) {
        gc_chan *ch = gc_chan_new(cap);
        struct op r = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
        pthread_t t;
        pthread_create(&t, NULL, do_recv, &r);
        wait_until_waiting(ch, 0, 1);
        CHECK(gc_chan_try_send(ch, VAL(42)) == GC_OK);
        pthread_join(t, NULL);
        CHECK(r.status == GC_OK && r.ok && r.got == VAL(42));
        destroy(ch);
    }
}

static void test_blocked_sender_completes(void)
{
    gc_chan *ch = gc_chan_new(1);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    struct op s = {ch, 2, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_send, &s);
    wait_until_waiting(ch, 1, 0);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    pthread_join(t, NULL);
    CHECK(s.status == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    destroy(ch);
}

static void test_receivers_served_fifo(void)
{
    enum { N = 6 };
    gc_chan *ch = gc_chan_new(0);
    struct op r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct op){ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
        pthread_create(&t[i], NULL, do_recv, &r[i]);
        wait_until_waiting(ch, 0, (size_t)i + 1);
    }
    for (int i = 0; i < N; i++)
        CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECKF(r[i].got == VAL(i), "receiver %d got %ld", i, IDX(r[i].got));
    }
    destroy(ch);
}

static void test_timeouts_have_no_effect(void)
{
    gc_chan *ch = gc_chan_new(0);
    void *v;
    bool ok;
    CHECK(send_wait(ch, VAL(1), gc_deadline_after(0.005)) == GC_TIMEOUT);
    CHECK(recv_wait(ch, &v, &ok, gc_deadline_after(0.005)) == GC_TIMEOUT);
    size_t s, r;
    gc_chan_count_waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0);
    destroy(ch);

    gc_chan *full = gc_chan_new(1);
    gc_chan_try_send(full, VAL(1));
    CHECK(send_wait(full, VAL(2), gc_deadline_after(0.005)) == GC_TIMEOUT);
    CHECK(gc_chan_len(full) == 1);
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_OK && v == VAL(1));
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_NOT_READY);
    destroy(full);
}

static void test_close_wakes_everyone(void)
{
    enum { N = 4 };
    gc_chan *rx = gc_chan_new(0), *tx = gc_chan_new(0);
    struct op r[N], s[N];
    pthread_t tr[N], ts[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct op){rx, 0, GC_FOREVER, GC_NOT_READY, VAL(7), true};
        s[i] = (struct op){tx, i, GC_FOREVER, GC_NOT_READY, NULL, false};
        pthread_create(&tr[i], NULL, do_recv, &r[i]);
        pthread_create(&ts[i], NULL, do_send, &s[i]);
    }
    wait_until_waiting(rx, 0, N);
    wait_until_waiting(tx, N, 0);
    CHECK(gc_chan_close(rx) == GC_OK);
    CHECK(gc_chan_close(tx) == GC_OK);
    for (int i = 0; i < N; i++) {
        pthread_join(tr[i], NULL);
        pthread_join(ts[i], NULL);
        CHECK(r[i].status == GC_OK && !r[i].ok && r[i].got == NULL);
        CHECK(s[i].status == GC_CLOSED);
    }
    destroy(rx);
    destroy(tx);
}

/* ---- select ----------------------------------------------------------- */

static enum gc_status select_now(gc_case *cases, int n, int64_t deadline,
                                 gc_select_result *res)
{
    gc_entry entries[16];
    int order[32];
    gc_select sel;
    gc_select_init(&sel, cases, n, entries, order, order + n);
    enum gc_status st = gc_select_try(&sel, res);
    if (st == GC_NOT_READY && deadline != 0)
        st = gc_select_wait(&sel, deadline, 0, res);
    return st;
}

static void test_select_uniform_choice(void)
{
    enum { K = 4 };
    gc_chan *ch[K];
    gc_case cases[K + 1];
    for (int i = 0; i < K; i++) {
        ch[i] = gc_chan_new(2);
        gc_chan_try_send(ch[i], VAL(i));
        cases[i] = (gc_case){ch[i], NULL, false};
    }
    cases[K] = (gc_case){NULL, NULL, false}; /* nil: never chosen */
    long counts[K + 1] = {0};
    long n = 20000L * scale;
    for (long it = 0; it < n; it++) {
        gc_select_result res;
        CHECK(select_now(cases, K + 1, 0, &res) == GC_OK);
        counts[res.index]++;
        gc_chan_try_send(ch[res.index], VAL(res.index)); /* keep it ready */
    }
    double mean = (double)n / K, sigma = 0;
    sigma = __builtin_sqrt(n * (1.0 / K) * (1 - 1.0 / K));
    for (int i = 0; i < K; i++)
        CHECKF(counts[i] > mean - 5 * sigma && counts[i] < mean + 5 * sigma,
               "case %d chosen %ld times of %ld", i, counts[i], n);
    CHECK(counts[K] == 0);
    for (int i = 0; i < K; i++)
        destroy(ch[i]);
}

static void test_select_nil_only_times_out(void)
{
    gc_case cases[2] = {{NULL, NULL, false}, {NULL, VAL(1), true}};
    gc_select_result res;
    CHECK(select_now(cases, 2, 0, &res) == GC_NOT_READY);
    CHECK(select_now(cases, 2, gc_deadline_after(0.005), &res) == GC_TIMEOUT);
    CHECK(select_now(cases, 0, gc_deadline_after(0.002), &res) == GC_TIMEOUT);
}

static void test_select_same_channel_twice(void)
{
    gc_chan *ch = gc_chan_new(1);
    gc_case cases[3] = {{ch, NULL, false}, {ch, VAL(5), true}, {ch, NULL, false}};
    gc_select_result res;
    /* empty: only the send is ready */
    CHECK(select_now(cases, 3, 0, &res) == GC_OK && res.index == 1);
    /* full: only a recv is ready; it gets the value */
    CHECK(select_now(cases, 3, 0, &res) == GC_OK);
    CHECK(res.index == 0 || res.index == 2);
    CHECK(res.value == VAL(5) && res.ok);
    destroy(ch);
}

struct select_op {
    gc_case cases[3];
    int n;
    enum gc_status status;
    gc_select_result res;
};

static void *do_select(void *arg)
{
    struct select_op *op = arg;
    op->status = select_now(op->cases, op->n, GC_FOREVER, &op->res);
    return NULL;
}

static void test_select_woken_by_send_and_close(void)
{
    gc_chan *a = gc_chan_new(0), *b = gc_chan_new(0);
    struct select_op op = {{{a, NULL, false}, {b, NULL, false}, {NULL, NULL, false}},
                           3, GC_NOT_READY, {0}};
    pthread_t t;
    pthread_create(&t, NULL, do_select, &op);
    wait_until_waiting(b, 0, 1);
    CHECK(gc_chan_try_send(b, VAL(9)) == GC_OK);
    pthread_join(t, NULL);
    CHECK(op.status == GC_OK && op.res.index == 1 && op.res.value == VAL(9));
    size_t s, r;
    gc_chan_count_waiting(a, &s, &r);
    CHECK(r == 0); /* the losing case was unlinked */

    pthread_create(&t, NULL, do_select, &op);
    wait_until_waiting(a, 0, 1);
    gc_chan_close(a);
    pthread_join(t, NULL);
    CHECK(op.status == GC_OK && op.res.index == 0 && !op.res.ok);

    gc_chan *c = gc_chan_new(0);
    struct select_op sop = {{{NULL, NULL, false}, {c, VAL(3), true}, {b, NULL, false}},
                            3, GC_NOT_READY, {0}};
    pthread_create(&t, NULL, do_select, &sop);
    wait_until_waiting(c, 1, 0);
    gc_chan_close(c);
    pthread_join(t, NULL);
    CHECK(sop.status == GC_CLOSED && sop.res.index == 1);
    destroy(a);
    destroy(b);
    destroy(c);
}

static void test_interrupt_slices_resume(void)
{
    gc_chan *ch = gc_chan_new(0);
    gc_case c = {ch, NULL, false};
    gc_entry e;
    int order[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &c, 1, &e, order, order + 1);
    int64_t t0 = gc_now_ns();
    CHECK(gc_select_wait(&sel, GC_FOREVER, 5000000, &res) == GC_INTERRUPTED);
    CHECK(gc_now_ns() - t0 >= 5000000);
    size_t s, r;
    gc_chan_count_waiting(ch, &s, &r);
    CHECK(r == 0); /* nothing left behind */
    struct op snd = {ch, 11, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_send, &snd);
    enum gc_status st;
    while ((st = gc_select_wait(&sel, GC_FOREVER, 2000000, &res)) ==
           GC_INTERRUPTED)
        ;
    pthread_join(t, NULL);
    CHECK(st == GC_OK && res.value == VAL(11) && snd.status == GC_OK);
    destroy(ch);
}

/* ---- exactly-once stress ---------------------------------------------- */

enum { STRESS_THREADS = 8 };

struct stress {
    gc_chan *ch, *other; /* receivers select over both */
    long per_sender;
    _Atomic int *sent_ok;  /* per value: 1 if its send committed */
    _Atomic int *received; /* per value: times received */
    _Atomic int senders_left;
    uint64_t seed;
};

struct stress_arg {
    struct stress *s;
    int id;
};

static void *stress_sender(void *arg)
{
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    uint64_t r = s->seed ^ (uint64_t)(a->id + 1) * 0x9E3779B97F4A7C15ULL;
    for (long i = 0; i < s->per_sender; i++) {
        long v = a->id * s->per_sender + i;
        int64_t deadline;
        switch (rnd(&r) % 4) {
        case 0: deadline = 0; break; /* try once */
        case 1: deadline = gc_now_ns() + (int64_t)(rnd(&r) % 200000); break;
        default: deadline = gc_now_ns() + 2000000; break;
        }
        gc_chan *target = (rnd(&r) & 1) ? s->ch : s->other;
        enum gc_status st;
        if (deadline == 0) {
            st = gc_chan_try_send(target, VAL(v));
        } else if (rnd(&r) % 3 == 0) {
            gc_case cases[2] = {{target, VAL(v), true}, {NULL, NULL, false}};
            gc_select_result res;
            st = select_now(cases, 2, deadline, &res);
        } else {
            st = send_wait(target, VAL(v), deadline);
        }
        if (st == GC_OK)
            atomic_store(&s->sent_ok[v], 1);
    }
    atomic_fetch_sub(&s->senders_left, 1);
    return NULL;
}

static void count_received(struct stress *s, void *v)
{
    atomic_fetch_add(&s->received[IDX(v)], 1);
}

static void *stress_receiver(void *arg)
{
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    uint64_t r = s->seed ^ (uint64_t)(a->id + 101) * 0x9E3779B97F4A7C15ULL;
    for (;;) {
        gc_case cases[3] = {{s->ch, NULL, false},
                            {s->other, NULL, false},
                            {NULL, NULL, false}};
        int64_t deadline = (rnd(&r) % 2) ? gc_now_ns() + (int64_t)(rnd(&r) % 300000)
                                         : gc_now_ns() + 5000000;
        gc_select_result res;
        enum gc_status st = select_now(cases, 3, deadline, &res);
        if (st == GC_OK) {
            if (!res.ok)
                return NULL; /* closed and drained */
            count_received(s, res.value);
        }
    }
}

static void run_stress(int64_t capacity)
{
    struct stress s;
    memset(&s, 0, sizeof s);
    s.ch = gc_chan_new(capacity);
    s.other = gc_chan_new(capacity);
    s.per_sender = 1500L * scale;
    long total = s.per_sender * STRESS_THREADS;
    s.sent_ok = calloc((size_t)total, sizeof(_Atomic int));
    s.received = calloc((size_t)total, sizeof(_Atomic int));
    s.senders_left = STRESS_THREADS;
    s.seed = seed ^ (uint64_t)(capacity + 7);
    pthread_t tx[STRESS_THREADS], rx[STRESS_THREADS];
    struct stress_arg args[2 * STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        args[i] = (struct stress_arg){&s, i};
        args[STRESS_THREADS + i] = (struct stress_arg){&s, i};
        pthread_create(&tx[i], NULL, stress_sender, &args[i]);
        pthread_create(&rx[i], NULL, stress_receiver, &args[STRESS_THREADS + i]);
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(tx[i], NULL);
    /* Receivers end when both channels are closed and drained; a select
       over both sees "closed" on the first one, so close both, then drain
       whatever the receivers left behind. */
    gc_chan_close(s.ch);
    gc_chan_close(s.other);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(rx[i], NULL);
    void *v;
    bool ok;
    while (gc_chan_try_recv(s.ch, &v, &ok) == GC_OK && ok)
        count_received(&s, v);
    while (gc_chan_try_recv(s.other, &v, &ok) == GC_OK && ok)
        count_received(&s, v);
    long delivered = 0;
    for (long i = 0; i < total; i++) {
        int want = atomic_load(&s.sent_ok[i]);
        int got = atomic_load(&s.received[i]);
        if (got != want) {
            fail_at(__FILE__, __LINE__,
                    "capacity %" PRId64 ": value %ld sent_ok=%d received=%d",
                    capacity, i, want, got);
            break;
        }
        delivered += got;
    }
    if (delivered == 0)
        fail_at(__FILE__, __LINE__, "nothing was delivered");
    free(s.sent_ok);
    free(s.received);
    destroy(s.ch);
    destroy(s.other);
}

static void test_exactly_once_unbuffered(void) { run_stress(0); }
static void test_exactly_once_cap1(void) { run_stress(1); }
static void test_exactly_once_cap16(void) { run_stress(16); }
static void test_exactly_once_unbounded(void) { run_stress(GC_UNBOUNDED); }

/* A receiver's deadline expires just as a sender arrives: either the value
   was received or it was not sent; never lost, never twice. */
static void test_deadline_races_sender(void)
{
    uint64_t r = seed ^ 0xABCDEF;
    int rounds = 300 * scale;
    for (int i = 0; i < rounds; i++) {
        gc_chan *ch = gc_chan_new(0);
        int64_t when = gc_now_ns() + 200000;
        struct op rcv = {ch, 0, when, GC_NOT_READY, NULL, false};
        struct op snd = {ch, i, when + (int64_t)(rnd(&r) % 100000) - 50000,
                         GC_NOT_READY, NULL, false};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, do_recv, &rcv);
        pthread_create(&t2, NULL, do_send, &snd);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        bool received = rcv.status == GC_OK;
        bool sent = snd.status == GC_OK;
        CHECKF(received == sent, "round %d: recv %d send %d", i, rcv.status,
               snd.status);
        if (received)
            CHECK(rcv.got == VAL(i));
        destroy(ch);
    }
}

/* ---- timers ------------------------------------------------------------- */

static void test_timer_fires_once_into_its_channel(void)
{
    gc_chan *ch = gc_chan_new(1);
    gc_timer *t = gc_timer_new(ch);
    bool was_active;
    int64_t start = gc_now_ns();
    CHECK(gc_timer_reset(t, start + 5000000, 0, &was_active) == GC_OK);
    CHECK(!was_active);
    void *v;
    bool ok;
    CHECK(recv_wait(ch, &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(gc_is_timer_value(v));
    CHECK(gc_timer_value_ns(v) >= start + 5000000);
    CHECK(recv_wait(ch, &v, &ok, gc_deadline_after(0.02)) == GC_TIMEOUT);
    CHECK(!gc_timer_stop(t)); /* fired and received: nothing to stop */
    gc_timer_free(t);
    destroy(ch);
}

static void test_timer_stop_leaves_no_stale_value(void)
{
    gc_chan *ch = gc_chan_new(1);
    gc_timer *t = gc_timer_new(ch);
    bool was_active;
    void *v;
    bool ok;
    CHECK(gc_timer_reset(t, gc_now_ns() + 1000000000, 0, &was_active) == GC_OK);
    CHECK(gc_timer_stop(t));  /* pending */
    CHECK(!gc_timer_stop(t)); /* already stopped */
    CHECK(gc_timer_reset(t, gc_now_ns(), 0, &was_active) == GC_OK);
    while (gc_chan_len(ch) == 0)
        sleep_us(100);
    CHECK(gc_timer_stop(t)); /* fired but unreceived: counts as stopped */
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    /* reset discards an unreceived value too */
    CHECK(gc_timer_reset(t, gc_now_ns(), 0, &was_active) == GC_OK);
    while (gc_chan_len(ch) == 0)
        sleep_us(100);
    CHECK(gc_timer_reset(t, gc_now_ns() + 1000000000, 0, &was_active) == GC_OK);
    CHECK(was_active);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    gc_timer_free(t);
    destroy(ch);
}

static void test_ticker_drops_ticks_for_a_slow_reader(void)
{
    gc_chan *ch = gc_chan_new(1);
    gc_timer *t = gc_timer_new(ch);
    bool was_active;
    CHECK(gc_timer_reset(t, gc_now_ns() + 1000000, 1000000, &was_active) == GC_OK);
    sleep_us(30000); /* ~30 ticks pass; the channel holds one */
    CHECK(gc_chan_len(ch) == 1);
    void *first, *second;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &first, &ok) == GC_OK);
    CHECK(recv_wait(ch, &second, &ok, gc_deadline_after(1)) == GC_OK);
    CHECK(gc_timer_value_ns(second) > gc_timer_value_ns(first));
    gc_timer_stop(t);
    sleep_us(5000);
    CHECK(gc_chan_len(ch) == 0);
    gc_timer_free(t);
    destroy(ch);
}

/* Many timers, stopped or reset at random while they fire: a channel ends
   with at most one value, never a value after its stop returned. */
static void test_many_timers_racing_stop(void)
{
    enum { N = 2000 };
    static gc_chan *chans[N];
    static gc_timer *ts[N];
    uint64_t r = seed ^ 0x71737;
    int64_t now = gc_now_ns();
    bool was_active;
    for (int i = 0; i < N; i++) {
        chans[i] = gc_chan_new(1);
        ts[i] = gc_timer_new(chans[i]);
        CHECK(gc_timer_reset(ts[i], now + (int64_t)(rnd(&r) % 3000000), 0,
                             &was_active) == GC_OK);
    }
    size_t pending = gc_timer_pending();
    CHECK(pending >= 1 && pending <= N);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            sleep_us(1);
        gc_timer_stop(ts[i]);
        CHECK(gc_chan_len(chans[i]) == 0);
    }
    sleep_us(5000);
    for (int i = 0; i < N; i++) {
        CHECK(gc_chan_len(chans[i]) == 0);
        gc_timer_free(ts[i]);
        destroy(chans[i]);
    }
}

/* ---- contexts ------------------------------------------------------------- */

static _Atomic long cause_refs;
static void count_retain(void *v) { (void)v; atomic_fetch_add(&cause_refs, 1); }
static void count_release(void *v) { (void)v; atomic_fetch_sub(&cause_refs, 1); }

static bool is_done(gc_ctx *c)
{
    void *v;
    bool ok;
    return gc_chan_try_recv(gc_ctx_done(c), &v, &ok) == GC_OK && !ok;
}

static void test_ctx_cancel_reaches_descendants_not_ancestors(void)
{
    gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx *a = gc_ctx_new(root, GC_FOREVER), *b = gc_ctx_new(root, GC_FOREVER);
    gc_ctx *a1 = gc_ctx_new(a, GC_FOREVER), *a2 = gc_ctx_new(a, GC_FOREVER);
    CHECK(gc_ctx_children(root) == 2 && gc_ctx_children(a) == 2);
    int cause = 42;
    CHECK(gc_ctx_cancel(a, GC_CTX_CANCELED, &cause));
    CHECK(!gc_ctx_cancel(a, GC_CTX_CANCELED, NULL)); /* first cancel wins */
    CHECK(is_done(a) && is_done(a1) && is_done(a2));
    CHECK(gc_ctx_cause(a2) == &cause && gc_ctx_err(a1) == GC_CTX_CANCELED);
    CHECK(!is_done(root) && !is_done(b) && gc_ctx_err(root) == GC_CTX_ALIVE);
    CHECK(gc_ctx_children(root) == 1); /* a unlinked itself */
    gc_ctx *late = gc_ctx_new(a, GC_FOREVER); /* child of a done parent */
    CHECK(is_done(late) && gc_ctx_cause(late) == &cause);
    gc_ctx *list[] = {late, a2, a1, b, a, root};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        gc_ctx_release(list[i]);
    CHECK(atomic_load(&cause_refs) == 0); /* every retained cause released */
}

static void test_ctx_deep_chain_and_wide_tree(void)
{
    enum { N = 10000 };
    gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx *node = root;
    static gc_ctx *chain[N], *wide[N];
    for (int i = 0; i < N; i++) {
        chain[i] = gc_ctx_new(node, GC_FOREVER);
        node = chain[i];
        wide[i] = gc_ctx_new(root, GC_FOREVER);
    }
    gc_ctx_cancel(root, GC_CTX_CANCELED, NULL); /* no recursion: no overflow */
    for (int i = 0; i < N; i++)
        CHECK(is_done(chain[i]) && is_done(wide[i]));
    for (int i = 0; i < N; i++)
        gc_ctx_release(wide[i]);
    /* drop references leaf first, so each release frees a chain link */
    for (int i = N - 1; i >= 0; i--)
        gc_ctx_release(chain[i]);
    gc_ctx_release(root);
}

static void test_ctx_release_of_long_chain_is_iterative(void)
{
    enum { N = 10000 };
    gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER), *node = root;
    for (int i = 0; i < N; i++) {
        gc_ctx *child = gc_ctx_new(node, GC_FOREVER);
        gc_ctx_release(node); /* only the child keeps its parent now */
        node = child;
    }
    gc_ctx_release(node); /* frees all N+1, root last, without recursion */
}

static void test_ctx_child_cancel_unlinks_from_parent(void)
{
    gc_ctx *parent = gc_ctx_new(NULL, GC_FOREVER);
    for (int i = 0; i < 100000; i++) {
        gc_ctx *child = gc_ctx_new(parent, GC_FOREVER);
        gc_ctx_cancel(child, GC_CTX_CANCELED, NULL);
        gc_ctx_release(child);
    }
    CHECK(gc_ctx_children(parent) == 0);
    gc_ctx *dropped = gc_ctx_new(parent, GC_FOREVER);
    gc_ctx_release(dropped); /* released without cancel: unlinks too */
    CHECK(gc_ctx_children(parent) == 0);
    gc_ctx_release(parent);
}

static void test_ctx_deadlines(void)
{
    int64_t now = gc_now_ns();
    gc_ctx *past = gc_ctx_new(NULL, now - 1);
    CHECK(is_done(past) && gc_ctx_err(past) == GC_CTX_DEADLINE);
    gc_ctx *parent = gc_ctx_new(NULL, now + 20000000);
    gc_ctx *later = gc_ctx_new(parent, now + 1000000000);
    CHECK(gc_ctx_deadline(later) == now + 20000000); /* never later than parent */
    gc_ctx *sooner = gc_ctx_new(parent, now + 5000000);
    void *v;
    bool ok;
    CHECK(recv_wait(gc_ctx_done(sooner), &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(gc_ctx_err(sooner) == GC_CTX_DEADLINE && !is_done(parent));
    CHECK(recv_wait(gc_ctx_done(later), &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(gc_ctx_err(later) == GC_CTX_DEADLINE && gc_ctx_err(parent) == GC_CTX_DEADLINE);
    gc_ctx *canceled_first = gc_ctx_new(NULL, gc_now_ns() + 50000000);
    gc_ctx_cancel(canceled_first, GC_CTX_CANCELED, NULL);
    sleep_us(60000);
    CHECK(gc_ctx_err(canceled_first) == GC_CTX_CANCELED);
    gc_ctx *list[] = {past, sooner, later, parent, canceled_first};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        gc_ctx_release(list[i]);
}

static void test_ctx_released_while_its_deadline_fires(void)
{
    uint64_t r = seed ^ 0xDEAD;
    for (int i = 0; i < 300 * scale / 5; i++) {
        gc_ctx *c = gc_ctx_new(NULL, gc_now_ns() + (int64_t)(rnd(&r) % 200000));
        sleep_us((long)(rnd(&r) % 200));
        gc_ctx_release(c); /* may race the timer callback: must wait for it */
    }
}

static void test_ctx_after_items(void)
{
    gc_chan *queue = gc_chan_new(GC_UNBOUNDED);
    gc_ctx *c = gc_ctx_new(NULL, GC_FOREVER);
    int64_t id1 = gc_ctx_after(c, VAL(1), queue);
    int64_t id2 = gc_ctx_after(c, VAL(2), queue);
    CHECK(id1 > 0 && id2 > 0 && id1 != id2);
    void *item;
    CHECK(gc_ctx_after_stop(c, id1, &item) && item == VAL(1));
    CHECK(!gc_ctx_after_stop(c, id1, &item));
    gc_ctx_cancel(c, GC_CTX_CANCELED, NULL);
    CHECK(gc_chan_len(queue) == 1);
    CHECK(!gc_ctx_after_stop(c, id2, &item)); /* already sent */
    CHECK(gc_ctx_after(c, VAL(3), queue) == 0); /* done: sent at once */
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(queue, &v, &ok) == GC_OK && v == VAL(2));
    CHECK(gc_chan_try_recv(queue, &v, &ok) == GC_OK && v == VAL(3));
    gc_ctx_release(c);
    destroy(queue);
}

/* A sender and a receiver each select on the channel and their own context,
   whose deadline expires at a random moment: exactly once or not at all. */
static void test_ctx_expiring_while_exchanging(void)
{
    uint64_t r = seed ^ 0xC0C0;
    int rounds = 200 * scale / 5;
    for (int i = 0; i < rounds; i++) {
        gc_chan *ch = gc_chan_new(0);
        gc_ctx *cs = gc_ctx_new(NULL, gc_now_ns() + (int64_t)(rnd(&r) % 300000));
        gc_ctx *cr = gc_ctx_new(NULL, gc_now_ns() + (int64_t)(rnd(&r) % 300000));
        struct select_op snd = {{{ch, VAL(i), true}, {gc_ctx_done(cs), NULL, false}, {NULL, NULL, false}},
                                2, GC_NOT_READY, {0}};
        struct select_op rcv = {{{ch, NULL, false}, {gc_ctx_done(cr), NULL, false}, {NULL, NULL, false}},
                                2, GC_NOT_READY, {0}};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, do_select, &snd);
        pthread_create(&t2, NULL, do_select, &rcv);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        bool sent = snd.status == GC_OK && snd.res.index == 0;
        bool got = rcv.status == GC_OK && rcv.res.index == 0;
        CHECKF(sent == got, "round %d: sent %d got %d", i, sent, got);
        if (got)
            CHECK(rcv.res.value == VAL(i));
        gc_ctx_release(cs);
        gc_ctx_release(cr);
        destroy(ch);
    }
}

int main(void)
{
    const char *env = getenv("GC_TEST_SEED");
    seed = env ? strtoull(env, NULL, 10) : (uint64_t)gc_now_ns();
    if (seed == 0)
        seed = 1;
    printf("seed %" PRIu64 " (GC_TEST_SEED to replay)\n", seed);

    run("park", test_park);
    run("claim_abort_exclusive", test_claim_abort_exclusive);
    run("unbuffered_needs_partner", test_unbuffered_needs_partner);
    run("buffered_fifo_and_capacity", test_buffered_fifo_and_capacity);
    run("unbounded_grows_and_shrinks", test_unbounded_grows_and_shrinks);
    run("close_semantics", test_close_semantics);
    run("visit_and_take_buffer_order", test_visit_and_take_buffer_order);
    run("blocked_receiver_gets_value", test_blocked_receiver_gets_value);
    run("blocked_sender_completes", test_blocked_sender_completes);
    run("receivers_served_fifo", test_receivers_served_fifo);
    run("timeouts_have_no_effect", test_timeouts_have_no_effect);
    run("close_wakes_everyone", test_close_wakes_everyone);
    run("select_uniform_choice", test_select_uniform_choice);
    run("select_nil_only_times_out", test_select_nil_only_times_out);
    run("select_same_channel_twice", test_select_same_channel_twice);
    run("select_woken_by_send_and_close", test_select_woken_by_send_and_close);
    run("interrupt_slices_resume", test_interrupt_slices_resume);
    run("exactly_once_unbuffered", test_exactly_once_unbuffered);
    run("exactly_once_cap1", test_exactly_once_cap1);
    run("exactly_once_cap16", test_exactly_once_cap16);
    run("exactly_once_unbounded", test_exactly_once_unbounded);
    run("deadline_races_sender", test_deadline_races_sender);
    run("timer_fires_once_into_its_channel", test_timer_fires_once_into_its_channel);
    run("timer_stop_leaves_no_stale_value", test_timer_stop_leaves_no_stale_value);
    run("ticker_drops_ticks_for_a_slow_reader", test_ticker_drops_ticks_for_a_slow_reader);
    run("many_timers_racing_stop", test_many_timers_racing_stop);
    gc_ctx_set_value_hooks((gc_ctx_value_hooks){count_retain, count_release});
    run("ctx_cancel_reaches_descendants_not_ancestors",
        test_ctx_cancel_reaches_descendants_not_ancestors);
    run("ctx_deep_chain_and_wide_tree", test_ctx_deep_chain_and_wide_tree);
    run("ctx_release_of_long_chain_is_iterative", test_ctx_release_of_long_chain_is_iterative);
    run("ctx_child_cancel_unlinks_from_parent", test_ctx_child_cancel_unlinks_from_parent);
    run("ctx_deadlines", test_ctx_deadlines);
    run("ctx_released_while_its_deadline_fires", test_ctx_released_while_its_deadline_fires);
    run("ctx_after_items", test_ctx_after_items);
    run("ctx_expiring_while_exchanging", test_ctx_expiring_while_exchanging);

    printf("%d passed, %d failed\n", passed, failures);
    return failures ? 1 : 0;
}

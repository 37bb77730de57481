/*
 * Tests of the C core alone: parking, the waiter protocol, channel semantics,
 * blocking operations, select, signal/slice interruption, exactly-once
 * delivery under racing threads, timers and contexts.  Runs plain and under
 * ThreadSanitizer / AddressSanitizer+UBSan (see CMakeLists.txt).
 *
 * Values are small integers disguised as pointers (never NULL).  Stress tests
 * derive their randomness from one seed, printed at start; GC_TEST_SEED=<n>
 * replays a run.  GC_TEST_SCALE=<n> scales the iteration counts (default 20,
 * 10 under sanitizers); GC_TEST_TIMEOUT=<seconds> bounds each test (a hang is
 * reported as a failure); GC_TEST_ONLY=<text> runs only the tests whose name
 * contains it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>

#include "gc_chan.h"
#include "gc_chan_impl.h" /* white-box: the ring's size, to see it shrink */
#include "gc_ctx.h"
#include "gc_hub.h"
#include "gc_park.h"
#include "gc_pool.h"
#include "gc_select.h"
#include "gc_timer.h"
#include "gc_waiter.h"
#include "gc_wg.h"

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

/* Thread-safe: stress threads report through it too.  At most a screenful
   of messages per test. */
static void fail_at(const char *file, int line, const char *fmt, ...)
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

static bool test_failed(void)
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

/* Iteration counts are multiples of scale; sanitizers slow threads 5-20x. */
#ifdef GC_TEST_SANITIZED
static int scale = 10;
#else
static int scale = 20;
#endif

static uint64_t seed;

static uint64_t rnd(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static uint64_t derive_seed(uint64_t salt)
{
    uint64_t s = seed ^ (salt * 0x9E3779B97F4A7C15ULL);
    return s ? s : 1;
}

#define VAL(i) ((void *)(uintptr_t)((i) + 1))
#define IDX(p) ((long)(uintptr_t)(p) - 1)
#define MS 1000000LL
#define US 1000LL

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void spin_until(int64_t when)
{
    while (gc_now_ns() < when)
        ;
}

/* Free a channel after draining whatever is buffered (values are not owned
   references here, so just drop them). */
static void destroy(gc_chan *ch)
{
    size_t n;
    free(gc_chan_take_buffer(ch, &n));
    gc_chan_free(ch);
}

static size_t ring_slots(gc_chan *ch)
{
    pthread_mutex_lock(&ch->lock);
    size_t n = ch->ring_size;
    pthread_mutex_unlock(&ch->lock);
    return n;
}

/* ---- blocking helpers: a send / recv is a one-case select ------------- */

/* deadline 0: only the non-blocking pass. */
#define TRY_ONLY 0

static enum gc_status select_now(const gc_case *cases, int n, int64_t deadline,
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

static enum gc_status send_wait(gc_chan *ch, void *v, int64_t deadline)
{
    gc_case c = {ch, v, true};
    gc_select_result res;
    return select_now(&c, 1, deadline, &res);
}

static enum gc_status recv_wait(gc_chan *ch, void **v, bool *ok,
                                int64_t deadline)
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

static void waiting(gc_chan *ch, size_t *s, size_t *r)
{
    gc_chan_count_waiting(ch, s, r);
}

static void wait_until_waiting(gc_chan *ch, size_t senders, size_t receivers)
{
    for (;;) {
        size_t s, r;
        gc_chan_count_waiting(ch, &s, &r);
        if (s >= senders && r >= receivers)
            return;
        sleep_us(100);
    }
}

/* One blocking operation run on its own thread. */
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

/* One blocking select run on its own thread (GC_FOREVER unless deadline). */
struct select_op {
    gc_case cases[3];
    int n;
    enum gc_status status;
    gc_select_result res;
    int64_t deadline;
};

static void *do_select(void *arg)
{
    struct select_op *op = arg;
    int64_t deadline = op->deadline ? op->deadline : GC_FOREVER;
    op->status = select_now(op->cases, op->n, deadline, &op->res);
    return NULL;
}

/* ---- 1. park ---------------------------------------------------------- */

static void test_park_timeout_and_changed_word(void)
{
    _Atomic uint32_t word = 0;
    CHECK(gc_park(&word, 0, gc_now_ns() - 1) == GC_PARK_TIMEOUT);
    CHECK(gc_park(&word, 0, 0) == GC_PARK_TIMEOUT); /* long past */

    int64_t t0 = gc_now_ns();
    enum gc_park_result r;
    do /* a spurious wake-up is allowed; the deadline still holds */
        r = gc_park(&word, 0, t0 + 5 * MS);
    while (r == GC_PARK_WOKEN);
    int64_t slept = gc_now_ns() - t0;
    CHECK(r == GC_PARK_TIMEOUT);
    CHECKF(slept >= 5 * MS && slept < 2000 * MS, "slept %" PRId64 " ns", slept);

    /* the word does not hold the expected value: back at once */
    t0 = gc_now_ns();
    CHECK(gc_park(&word, 7, GC_FOREVER) == GC_PARK_WOKEN);
    CHECK(gc_park(&word, 7, gc_now_ns() + 10000 * MS) == GC_PARK_WOKEN);
    CHECK(gc_now_ns() - t0 < 1000 * MS);

    gc_unpark(&word); /* nobody asleep: harmless */

    int64_t before = gc_now_ns();
    int64_t d = gc_deadline_after(0);
    int64_t after = gc_now_ns();
    CHECK(d >= before && d <= after);
    d = gc_deadline_after(0.25);
    CHECK(d >= after + 250 * MS && d <= gc_now_ns() + 250 * MS);
    CHECK(gc_deadline_after(-1.0) < gc_now_ns());
    CHECK(gc_deadline_after(1e30) == GC_FOREVER);
    CHECK(gc_deadline_after(INFINITY) == GC_FOREVER);
    CHECK(gc_deadline_after(NAN) == GC_FOREVER);
    CHECK(gc_deadline_after(9.2e9) == GC_FOREVER);
}

struct parker {
    _Atomic uint32_t word;
    _Atomic int parks;
    enum gc_park_result last;
};

static void *park_until_changed(void *arg)
{
    struct parker *p = arg;
    while (atomic_load(&p->word) == 0) {
        p->last = gc_park(&p->word, 0, GC_FOREVER);
        atomic_fetch_add(&p->parks, 1);
    }
    return NULL;
}

static void test_unpark_wakes_sleeper(void)
{
    for (int round = 0; round < 3; round++) {
        struct parker p = {0, 0, GC_PARK_TIMEOUT};
        pthread_t t;
        pthread_create(&t, NULL, park_until_changed, &p);
        sleep_us(20000); /* let it fall asleep */
        atomic_store(&p.word, 1);
        gc_unpark(&p.word);
        pthread_join(t, NULL);
        CHECK(atomic_load(&p.parks) >= 1);
        CHECK(p.last == GC_PARK_WOKEN);
    }
}

/* The pre-sleep spin gives up its remaining yields once its time budget is
   spent: on a loaded machine each yield may cost another process's whole
   time slice. */
static void test_spin_is_bounded_in_yields_and_in_time(void)
{
    gc_spin spin = gc_spin_begin(5);
    spin.until_ns = GC_FOREVER; /* however slow this machine's yields are */
    int rounds = 0;
    while (gc_spin_once(&spin))
        rounds++;
    CHECKF(rounds == 5, "%d rounds", rounds);

    spin = gc_spin_begin(1000);
    spin.until_ns = gc_now_ns() - 1; /* as if the first yields took long */
    rounds = 0;
    while (gc_spin_once(&spin))
        rounds++;
    CHECKF(rounds == 1, "%d rounds", rounds);

    spin = gc_spin_begin(0);
    CHECK(!gc_spin_once(&spin));
}

/* ---- 2. waiter protocol ----------------------------------------------- */

static void test_waiter_transitions(void)
{
    gc_waiter w;
    gc_waiter_reset(&w);
    CHECK(gc_waiter_state(&w) == GC_W_WAITING);
    CHECK(w.chosen == -1 && w.value == NULL && !w.ok);
    CHECK(gc_waiter_claim(&w));
    CHECK(gc_waiter_state(&w) == GC_W_CLAIMED);
    CHECK(!gc_waiter_claim(&w));
    CHECK(!gc_waiter_abort(&w));
    w.chosen = 2;
    w.value = VAL(3);
    w.ok = true;
    gc_waiter_finish(&w);
    CHECK(gc_waiter_state(&w) == GC_W_DONE);
    CHECK(!gc_waiter_claim(&w) && !gc_waiter_abort(&w));
    gc_waiter_wait_done(&w); /* already done: returns at once */
    CHECK(w.chosen == 2 && w.value == VAL(3) && w.ok);
    CHECK(gc_waiter_park(&w, GC_FOREVER, false, gc_spin_yields) == GC_PARK_WOKEN);

    gc_waiter_reset(&w);
    CHECK(gc_waiter_abort(&w));
    CHECK(gc_waiter_state(&w) == GC_W_ABORTED);
    CHECK(!gc_waiter_claim(&w) && !gc_waiter_abort(&w));

    /* nobody claims: the park times out, still WAITING (the SLEEPING flag
       is not part of the state), and the owner's abort wins */
    gc_waiter_reset(&w);
    int64_t t0 = gc_now_ns();
    CHECK(gc_waiter_park(&w, t0 + 3 * MS, false, gc_spin_yields) == GC_PARK_TIMEOUT);
    CHECK(gc_now_ns() - t0 >= 3 * MS);
    CHECK(gc_waiter_state(&w) == GC_W_WAITING);
    CHECK(gc_waiter_abort(&w));
    CHECK(gc_waiter_state(&w) == GC_W_ABORTED);

    /* a claim keeps working after the owner went to sleep */
    gc_waiter_reset(&w);
    CHECK(gc_waiter_park(&w, gc_now_ns() + 1 * MS, false, gc_spin_yields) == GC_PARK_TIMEOUT);
    CHECK(gc_waiter_claim(&w));
    CHECK(gc_waiter_state(&w) == GC_W_CLAIMED);
    gc_waiter_finish(&w);
    CHECK(gc_waiter_state(&w) == GC_W_DONE);
}

struct delayed_claim {
    gc_waiter *w;
    long before_claim_us, before_finish_us;
    _Atomic int finished;
    bool claimed;
};

static void *claim_then_finish(void *arg)
{
    struct delayed_claim *d = arg;
    sleep_us(d->before_claim_us);
    d->claimed = gc_waiter_claim(d->w);
    if (d->claimed) {
        sleep_us(d->before_finish_us);
        d->w->chosen = 1;
        d->w->value = VAL(77);
        d->w->ok = true;
        atomic_store(&d->finished, 1);
        gc_waiter_finish(d->w);
    }
    return NULL;
}

/* The owner sees the claim, loses its abort, and waits for the finish that
   comes (much) later, asleep or spinning. */
static void test_waiter_wait_done_after_delayed_finish(void)
{
    static const long delays[][2] = {
        {0, 0}, {0, 30000}, {10000, 0}, {10000, 30000}, {0, 200}};
    for (size_t i = 0; i < sizeof delays / sizeof *delays; i++) {
        gc_waiter w;
        gc_waiter_reset(&w);
        struct delayed_claim d = {&w, delays[i][0], delays[i][1], 0, false};
        pthread_t t;
        pthread_create(&t, NULL, claim_then_finish, &d);
        enum gc_park_result r = gc_waiter_park(&w, GC_FOREVER, false, gc_spin_yields);
        EXPECT(r == GC_PARK_WOKEN);
        EXPECT(!gc_waiter_abort(&w)); /* claimed (or done) already */
        gc_waiter_wait_done(&w);
        EXPECTF(atomic_load(&d.finished) == 1, "case %zu: returned before finish", i);
        EXPECT(gc_waiter_state(&w) == GC_W_DONE);
        EXPECT(w.value == VAL(77) && w.chosen == 1 && w.ok);
        pthread_join(t, NULL);
        CHECK(d.claimed);
    }
}

/* Two claimers and the owner's abort race on one waiter, round after round:
   exactly one of the three wins each round. */
static gc_waiter race_waiter;
static _Atomic int race_wins;
static pthread_barrier_t race_barrier;

struct claimer_arg {
    int rounds, id;
    long claims;
};

static void *race_claimer(void *arg)
{
    struct claimer_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        pthread_barrier_wait(&race_barrier);
        if (gc_waiter_claim(&race_waiter)) {
            race_waiter.value = VAL(i * 2 + a->id);
            race_waiter.chosen = a->id;
            atomic_fetch_add(&race_wins, 1);
            a->claims++;
            gc_waiter_finish(&race_waiter);
        }
        pthread_barrier_wait(&race_barrier);
    }
    return NULL;
}

static void test_waiter_claim_abort_exclusive(void)
{
    int rounds = 500 * scale;
    pthread_barrier_init(&race_barrier, NULL, 3);
    pthread_t t[2];
    struct claimer_arg args[2] = {{rounds, 0, 0}, {rounds, 1, 0}};
    for (int k = 0; k < 2; k++)
        pthread_create(&t[k], NULL, race_claimer, &args[k]);
    long aborts = 0;
    for (int i = 0; i < rounds; i++) {
        gc_waiter_reset(&race_waiter);
        atomic_store(&race_wins, 0);
        pthread_barrier_wait(&race_barrier);
        if (gc_waiter_abort(&race_waiter)) {
            atomic_fetch_add(&race_wins, 1);
            aborts++;
        } else {
            gc_waiter_wait_done(&race_waiter);
            int id = race_waiter.chosen;
            EXPECTF((id == 0 || id == 1) && race_waiter.value == VAL(i * 2 + id),
                    "round %d: lost the abort but saw chosen %d", i, id);
        }
        pthread_barrier_wait(&race_barrier);
        EXPECTF(atomic_load(&race_wins) == 1, "round %d: %d winners", i,
                atomic_load(&race_wins));
    }
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    pthread_barrier_destroy(&race_barrier);
    CHECKF(args[0].claims + args[1].claims + aborts == rounds,
           "claims %ld + %ld + aborts %ld != %d", args[0].claims,
           args[1].claims, aborts, rounds);
}

/* ---- 3. channel semantics --------------------------------------------- */

static void test_unbuffered_needs_partner(void)
{
    gc_chan *ch = gc_chan_new(0);
    void *v = VAL(99);
    bool ok = true;
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_NOT_READY);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    CHECK(gc_chan_len(ch) == 0);
    CHECK(gc_chan_capacity(ch) == 0);
    CHECK(!gc_chan_is_closed(ch));
    size_t s, r;
    waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0); /* a non-blocking attempt leaves nothing queued */
    CHECK(gc_chan_take_buffer(ch, &s) == NULL && s == 0);
    destroy(ch);
    CHECK(gc_chan_capacity(ch = gc_chan_new(GC_UNBOUNDED)) == GC_UNBOUNDED);
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

    /* a capacity the ring reaches by doubling, grown while wrapped */
    ch = gc_chan_new(100);
    long next_in = 0, next_out = 0;
    for (int i = 0; i < 6; i++)
        CHECK(gc_chan_try_send(ch, VAL(next_in++)) == GC_OK);
    for (int i = 0; i < 5; i++)
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(next_out++));
    while (gc_chan_len(ch) < 100)
        CHECK(gc_chan_try_send(ch, VAL(next_in++)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(-2)) == GC_NOT_READY);
    CHECK(ring_slots(ch) == 100); /* never more than the capacity */
    while (next_out < next_in) {
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok);
        CHECKF(v == VAL(next_out), "got %ld want %ld", IDX(v), next_out);
        next_out++;
    }
    CHECK(gc_chan_len(ch) == 0);
    destroy(ch);
}

/* Random try_send / try_recv / visit / take_buffer against a model queue:
   statuses, order and len must match for small, odd, power-of-two and
   unbounded capacities (the ring grows and shrinks while wrapped). */
struct model {
    long *items;
    size_t head, tail; /* items[head..tail) */
};

struct visit_check {
    struct model *m;
    size_t pos;
    int bad;
};

static int visit_compare(void *value, void *arg)
{
    struct visit_check *c = arg;
    if (c->m->head + c->pos >= c->m->tail ||
        value != VAL(c->m->items[c->m->head + c->pos]))
        c->bad = 1;
    c->pos++;
    return 0;
}

static void test_buffer_against_model(void)
{
    static const int64_t caps[] = {1, 2, 3, 7, 8, 9, 100, GC_UNBOUNDED};
    uint64_t r = derive_seed(31);
    long ops = 5000L * scale;
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        int64_t cap = caps[ci];
        gc_chan *ch = gc_chan_new(cap);
        struct model m = {malloc((size_t)ops * sizeof(long)), 0, 0};
        long next = 0;
        size_t peak_slots = 0;
        for (long op = 0; op < ops && !test_failed(); op++) {
            /* unbounded: long phases of mostly-send then mostly-recv, so
               the ring crosses its shrink threshold in both directions */
            unsigned send_pct = 50;
            if (cap == GC_UNBOUNDED)
                send_pct = ((op / 8000) % 2 == 0) ? 80 : 20;
            unsigned take_below = cap == GC_UNBOUNDED ? 5 : 200; /* per 100k */
            unsigned what = (unsigned)(rnd(&r) % 100000);
            size_t n = m.tail - m.head;
            if (what < take_below) { /* take the whole buffer */
                size_t count;
                void **items = gc_chan_take_buffer(ch, &count);
                EXPECTF(count == n, "cap %" PRId64 ": took %zu of %zu", cap, count, n);
                for (size_t i = 0; i < count && i < n; i++)
                    EXPECT(items[i] == VAL(m.items[m.head + i]));
                free(items);
                m.head = m.tail;
            } else if (what < take_below + 800) {
                struct visit_check c = {&m, 0, 0};
                EXPECT(gc_chan_visit(ch, visit_compare, &c) == 0);
                EXPECTF(!c.bad && c.pos == n, "cap %" PRId64 ": visit order", cap);
            } else if (what % 100 < send_pct) {
                enum gc_status st = gc_chan_try_send(ch, VAL(next));
                bool full = cap != GC_UNBOUNDED && n == (size_t)cap;
                EXPECTF(st == (full ? GC_NOT_READY : GC_OK),
                        "cap %" PRId64 ": send status %d with %zu buffered", cap, st, n);
                if (st == GC_OK)
                    m.items[m.tail++] = next;
                next++;
            } else {
                void *v = NULL;
                bool ok = false;
                enum gc_status st = gc_chan_try_recv(ch, &v, &ok);
                if (n == 0) {
                    EXPECTF(st == GC_NOT_READY, "cap %" PRId64 ": recv from empty", cap);
                } else if (EXPECT(st == GC_OK && ok)) {
                    EXPECTF(v == VAL(m.items[m.head]), "cap %" PRId64 ": got %ld want %ld",
                            cap, IDX(v), m.items[m.head]);
                    m.head++;
                }
            }
            EXPECT(gc_chan_len(ch) == m.tail - m.head);
            size_t slots = ring_slots(ch);
            if (slots > peak_slots)
                peak_slots = slots;
        }
        if (cap == GC_UNBOUNDED && !test_failed())
            EXPECTF(peak_slots > 1024, "the unbounded ring never grew past %zu", peak_slots);
        free(m.items);
        destroy(ch);
    }
}

static void test_unbounded_grows_and_shrinks(void)
{
    gc_chan *ch = gc_chan_new(GC_UNBOUNDED);
    void *v;
    bool ok;
    const long n = 1000000;
    for (long i = 0; i < n; i++) {
        CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
        if (i == n / 2)
            CHECK(gc_chan_len(ch) == (size_t)(n / 2 + 1));
    }
    CHECK(gc_chan_len(ch) == (size_t)n);
    size_t peak = ring_slots(ch);
    CHECK(peak >= (size_t)n);
    for (long i = 0; i < n; i++) {
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok);
        CHECKF(v == VAL(i), "got %ld want %ld", IDX(v), i);
        if (i == n - n / 100) {
            CHECK(gc_chan_len(ch) == (size_t)(n / 100 - 1));
            CHECKF(ring_slots(ch) <= peak / 8, "%zu slots for %zu items",
                   ring_slots(ch), gc_chan_len(ch));
        }
    }
    CHECK(gc_chan_len(ch) == 0);
    CHECKF(ring_slots(ch) <= 1024, "%zu slots left when empty", ring_slots(ch));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
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
    CHECK(send_wait(ch, VAL(3), GC_FOREVER) == GC_CLOSED); /* no blocking */
    CHECK(gc_chan_len(ch) == 2);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok && v == VAL(1));
    CHECK(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && ok && v == VAL(2));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && !ok && v == NULL);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && !ok);
    CHECK(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && !ok && v == NULL);
    CHECK(gc_chan_len(ch) == 0);
    destroy(ch);

    gc_chan *unbuf = gc_chan_new(0);
    CHECK(gc_chan_close(unbuf) == GC_OK);
    CHECK(gc_chan_close(unbuf) == GC_CLOSED);
    CHECK(gc_chan_try_send(unbuf, VAL(1)) == GC_CLOSED);
    CHECK(gc_chan_try_recv(unbuf, &v, &ok) == GC_OK && !ok);
    destroy(unbuf);

    gc_chan *unb = gc_chan_new(GC_UNBOUNDED);
    for (int i = 0; i < 20; i++)
        CHECK(gc_chan_try_send(unb, VAL(i)) == GC_OK);
    CHECK(gc_chan_close(unb) == GC_OK);
    for (int i = 0; i < 20; i++)
        CHECK(gc_chan_try_recv(unb, &v, &ok) == GC_OK && ok && v == VAL(i));
    CHECK(gc_chan_try_recv(unb, &v, &ok) == GC_OK && !ok);
    destroy(unb);
}

static void test_count_waiting(void)
{
    gc_chan *ch = gc_chan_new(0);
    size_t s, r;
    struct op snd[2] = {{ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false},
                        {ch, 1, GC_FOREVER, GC_NOT_READY, NULL, false}};
    pthread_t t[2];
    pthread_create(&t[0], NULL, do_send, &snd[0]);
    wait_until_waiting(ch, 1, 0);
    waiting(ch, &s, &r);
    EXPECT(s == 1 && r == 0);
    pthread_create(&t[1], NULL, do_send, &snd[1]);
    wait_until_waiting(ch, 2, 0);
    waiting(ch, &s, &r);
    EXPECT(s == 2 && r == 0);
    void *v;
    bool ok;
    EXPECT(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(0));
    waiting(ch, &s, &r);
    EXPECT(s == 1 && r == 0);
    EXPECT(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0);
    CHECK(snd[0].status == GC_OK && snd[1].status == GC_OK);

    /* a receiver that times out stops counting */
    struct op rcv = {ch, 0, gc_deadline_after(0.05), GC_NOT_READY, NULL, false};
    pthread_create(&t[0], NULL, do_recv, &rcv);
    wait_until_waiting(ch, 0, 1);
    waiting(ch, &s, &r);
    EXPECT(s == 0 && r == 1);
    pthread_join(t[0], NULL);
    CHECK(rcv.status == GC_TIMEOUT);
    waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0);
    destroy(ch);

    /* a full buffered channel: blocked senders count, the buffer does not */
    gc_chan *full = gc_chan_new(1);
    CHECK(gc_chan_try_send(full, VAL(5)) == GC_OK);
    struct op fs = {full, 6, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_create(&t[0], NULL, do_send, &fs);
    wait_until_waiting(full, 1, 0);
    waiting(full, &s, &r);
    EXPECT(s == 1 && r == 0 && gc_chan_len(full) == 1);
    EXPECT(gc_chan_try_recv(full, &v, &ok) == GC_OK && v == VAL(5));
    pthread_join(t[0], NULL);
    waiting(full, &s, &r);
    CHECK(s == 0 && r == 0 && gc_chan_len(full) == 1);
    destroy(full);
}

static int collect_visit(void *value, void *arg)
{
    long *out = arg;
    out[++out[0]] = IDX(value);
    return 0;
}

static int stop_at_third(void *value, void *arg)
{
    int *calls = arg;
    (void)value;
    return ++*calls == 3 ? 42 : 0;
}

static void test_visit_and_take_buffer_order(void)
{
    gc_chan *ch = gc_chan_new(8);
    void *v;
    bool ok;
    long seen[16] = {0};
    CHECK(gc_chan_visit(ch, collect_visit, seen) == 0 && seen[0] == 0);
    for (int i = 0; i < 6; i++)
        gc_chan_try_send(ch, VAL(100 + i));
    for (int i = 0; i < 6; i++)
        gc_chan_try_recv(ch, &v, &ok);
    for (int i = 0; i < 7; i++) /* wraps around the end of the ring */
        CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
    CHECK(gc_chan_visit(ch, collect_visit, seen) == 0);
    CHECK(seen[0] == 7);
    for (int i = 0; i < 7; i++)
        CHECK(seen[i + 1] == i);
    int calls = 0;
    CHECK(gc_chan_visit(ch, stop_at_third, &calls) == 42 && calls == 3);
    size_t n;
    void **items = gc_chan_take_buffer(ch, &n);
    CHECK(n == 7 && items);
    for (int i = 0; i < 7; i++)
        CHECKF(items[i] == VAL(i), "item %d is %ld", i, IDX(items[i]));
    free(items);
    CHECK(gc_chan_len(ch) == 0);
    CHECK(gc_chan_take_buffer(ch, &n) == NULL && n == 0);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK); /* usable afterwards */
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    destroy(ch);

    /* a full ring with its head in the middle, and an unbounded ring with
       spare slots around a wrapped run */
    for (int variant = 0; variant < 2; variant++) {
        int64_t cap = variant ? GC_UNBOUNDED : 5;
        int fill = variant ? 12 : 5, moved = variant ? 10 : 3;
        ch = gc_chan_new(cap);
        for (int i = 0; i < moved; i++) {
            gc_chan_try_send(ch, VAL(1000 + i));
            gc_chan_try_recv(ch, &v, &ok);
        }
        if (variant) { /* grow to 16 slots, then move the head to 10 */
            for (int i = 0; i < 16; i++)
                gc_chan_try_send(ch, VAL(2000 + i));
            for (int i = 0; i < 16; i++)
                gc_chan_try_recv(ch, &v, &ok);
            for (int i = 0; i < moved; i++) {
                gc_chan_try_send(ch, VAL(3000 + i));
                gc_chan_try_recv(ch, &v, &ok);
            }
        }
        for (int i = 0; i < fill; i++)
            CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
        items = gc_chan_take_buffer(ch, &n);
        CHECKF(n == (size_t)fill, "variant %d: %zu items", variant, n);
        for (int i = 0; i < fill; i++)
            CHECKF(items[i] == VAL(i), "variant %d: item %d is %ld", variant,
                   i, IDX(items[i]));
        free(items);
        destroy(ch);
    }
}

/* ---- 4. blocking ------------------------------------------------------ */

static void test_blocked_receiver_gets_value(void)
{
    static const int64_t caps[] = {0, 1, 4, GC_UNBOUNDED};
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        for (int blocking_sender = 0; blocking_sender < 2; blocking_sender++) {
            gc_chan *ch = gc_chan_new(caps[ci]);
            struct op r = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
            pthread_t t;
            pthread_create(&t, NULL, do_recv, &r);
            wait_until_waiting(ch, 0, 1);
            if (blocking_sender)
                EXPECT(send_wait(ch, VAL(42), GC_FOREVER) == GC_OK);
            else
                EXPECT(gc_chan_try_send(ch, VAL(42)) == GC_OK);
            pthread_join(t, NULL);
            CHECKF(r.status == GC_OK && r.ok && r.got == VAL(42),
                   "capacity %" PRId64 ": status %d got %ld", caps[ci],
                   r.status, IDX(r.got));
            CHECK(gc_chan_len(ch) == 0); /* handed over, not buffered */
            destroy(ch);
        }
    }
}

static void test_blocked_sender_completes(void)
{
    void *v;
    bool ok;
    /* unbuffered: the receiver takes the value straight from the sender */
    gc_chan *ch = gc_chan_new(0);
    struct op s = {ch, 2, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_send, &s);
    wait_until_waiting(ch, 1, 0);
    EXPECT(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok && v == VAL(2));
    pthread_join(t, NULL);
    CHECK(s.status == GC_OK);
    destroy(ch);

    /* full buffer: a receive makes room and the sender's value moves in */
    ch = gc_chan_new(1);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    s = (struct op){ch, 2, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_create(&t, NULL, do_send, &s);
    wait_until_waiting(ch, 1, 0);
    EXPECT(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && v == VAL(1));
    pthread_join(t, NULL);
    CHECK(s.status == GC_OK);
    CHECK(gc_chan_len(ch) == 1);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    destroy(ch);
}

static void test_receivers_served_fifo(void)
{
    enum { N = 6 };
    for (int cap = 0; cap <= 2; cap += 2) {
        gc_chan *ch = gc_chan_new(cap);
        struct op r[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            r[i] = (struct op){ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
            pthread_create(&t[i], NULL, do_recv, &r[i]);
            wait_until_waiting(ch, 0, (size_t)i + 1);
        }
        for (int i = 0; i < N; i++)
            EXPECT(gc_chan_try_send(ch, VAL(i)) == GC_OK);
        for (int i = 0; i < N; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < N; i++)
            CHECKF(r[i].status == GC_OK && r[i].got == VAL(i),
                   "cap %d: receiver %d got %ld", cap, i, IDX(r[i].got));
        destroy(ch);
    }
}

static void test_senders_served_fifo(void)
{
    enum { N = 6 };
    for (int cap = 0; cap <= 1; cap++) {
        gc_chan *ch = gc_chan_new(cap);
        if (cap)
            CHECK(gc_chan_try_send(ch, VAL(100)) == GC_OK);
        struct op s[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            s[i] = (struct op){ch, i, GC_FOREVER, GC_NOT_READY, NULL, false};
            pthread_create(&t[i], NULL, do_send, &s[i]);
            wait_until_waiting(ch, (size_t)i + 1, 0);
        }
        void *v;
        bool ok;
        if (cap)
            EXPECT(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(100));
        for (int i = 0; i < N; i++) {
            EXPECT(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && ok);
            EXPECTF(v == VAL(i), "cap %d: received %ld, want %d", cap, IDX(v), i);
        }
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            CHECK(s[i].status == GC_OK);
        }
        CHECK(gc_chan_len(ch) == 0);
        destroy(ch);
    }
}

static void test_timeouts_have_no_effect(void)
{
    gc_chan *ch = gc_chan_new(0);
    void *v;
    bool ok;
    size_t s, r;
    int64_t t0 = gc_now_ns();
    CHECK(send_wait(ch, VAL(1), gc_deadline_after(0.005)) == GC_TIMEOUT);
    CHECK(gc_now_ns() - t0 >= 5 * MS);
    waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0);
    /* the timed-out value is not offered any more */
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    CHECK(recv_wait(ch, &v, &ok, gc_deadline_after(0.005)) == GC_TIMEOUT);
    /* and the timed-out receiver does not take a later value */
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_NOT_READY);
    waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0);
    /* a deadline already past still polls once, and still has no effect */
    CHECK(send_wait(ch, VAL(3), gc_now_ns() - 1) == GC_TIMEOUT);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    destroy(ch);

    gc_chan *full = gc_chan_new(1);
    gc_chan_try_send(full, VAL(1));
    CHECK(send_wait(full, VAL(2), gc_deadline_after(0.005)) == GC_TIMEOUT);
    CHECK(gc_chan_len(full) == 1);
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_OK && v == VAL(1));
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_NOT_READY); /* VAL(2) never moved in */
    destroy(full);

    /* a timed-out select: neither its send nor its recv happened */
    gc_chan *a = gc_chan_new(0), *b = gc_chan_new(0);
    gc_case cases[3] = {{a, VAL(7), true}, {b, NULL, false}, {NULL, NULL, false}};
    gc_select_result res;
    CHECK(select_now(cases, 3, gc_deadline_after(0.005), &res) == GC_TIMEOUT);
    CHECK(gc_chan_try_recv(a, &v, &ok) == GC_NOT_READY);
    CHECK(gc_chan_try_send(b, VAL(8)) == GC_NOT_READY);
    destroy(a);
    destroy(b);
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
    EXPECT(gc_chan_close(rx) == GC_OK);
    EXPECT(gc_chan_close(tx) == GC_OK);
    for (int i = 0; i < N; i++) {
        pthread_join(tr[i], NULL);
        pthread_join(ts[i], NULL);
    }
    for (int i = 0; i < N; i++) {
        CHECK(r[i].status == GC_OK && !r[i].ok && r[i].got == NULL);
        CHECK(s[i].status == GC_CLOSED);
    }
    destroy(rx);
    destroy(tx);

    /* a full buffer: the blocked senders fail, the buffered values stay */
    gc_chan *full = gc_chan_new(2);
    CHECK(gc_chan_try_send(full, VAL(10)) == GC_OK);
    CHECK(gc_chan_try_send(full, VAL(11)) == GC_OK);
    for (int i = 0; i < N; i++) {
        s[i] = (struct op){full, i, GC_FOREVER, GC_NOT_READY, NULL, false};
        pthread_create(&ts[i], NULL, do_send, &s[i]);
    }
    wait_until_waiting(full, N, 0);
    EXPECT(gc_chan_close(full) == GC_OK);
    for (int i = 0; i < N; i++)
        pthread_join(ts[i], NULL);
    for (int i = 0; i < N; i++)
        CHECK(s[i].status == GC_CLOSED);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_OK && ok && v == VAL(10));
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_OK && ok && v == VAL(11));
    CHECK(gc_chan_try_recv(full, &v, &ok) == GC_OK && !ok);
    size_t ns, nr;
    waiting(full, &ns, &nr);
    CHECK(ns == 0 && nr == 0);
    destroy(full);
}

/* ---- 5. select -------------------------------------------------------- */

static void test_select_uniform_choice(void)
{
    enum { K = 4 };
    gc_chan *ch[K];
    gc_case cases[K + 2];
    for (int i = 0; i < K; i++) {
        ch[i] = gc_chan_new(2);
        gc_chan_try_send(ch[i], VAL(i));
        cases[i] = (gc_case){ch[i], NULL, false};
    }
    cases[K] = (gc_case){NULL, NULL, false};     /* nil recv: never chosen */
    cases[K + 1] = (gc_case){NULL, VAL(9), true}; /* nil send: never chosen */
    long counts[K + 2] = {0};
    const long n = 40000;
    for (long it = 0; it < n; it++) {
        gc_select_result res;
        CHECK(select_now(cases, K + 2, TRY_ONLY, &res) == GC_OK);
        CHECK(res.index >= 0 && res.index < K + 2);
        counts[res.index]++;
        CHECK(res.ok && res.value == VAL(res.index));
        if (res.index < K) /* keep every channel ready */
            gc_chan_try_send(ch[res.index], VAL(res.index));
    }
    double mean = (double)n / K;
    double sigma = sqrt(n * (1.0 / K) * (1 - 1.0 / K));
    for (int i = 0; i < K; i++)
        CHECKF(fabs((double)counts[i] - mean) <= 5 * sigma,
               "case %d chosen %ld times of %ld (mean %.0f, sigma %.0f)", i,
               counts[i], n, mean, sigma);
    CHECK(counts[K] == 0 && counts[K + 1] == 0);
    for (int i = 0; i < K; i++)
        destroy(ch[i]);
}

static void test_select_nil_only_times_out(void)
{
    gc_case cases[2] = {{NULL, NULL, false}, {NULL, VAL(1), true}};
    gc_select_result res;
    CHECK(select_now(cases, 2, TRY_ONLY, &res) == GC_NOT_READY);
    int64_t t0 = gc_now_ns();
    CHECK(select_now(cases, 2, gc_deadline_after(0.005), &res) == GC_TIMEOUT);
    CHECK(gc_now_ns() - t0 >= 5 * MS);
    CHECK(select_now(cases, 0, gc_deadline_after(0.002), &res) == GC_TIMEOUT);

    /* nil cases beside a real one: the real one decides */
    gc_chan *ch = gc_chan_new(0);
    struct select_op op = {{{NULL, NULL, false}, {ch, NULL, false}, {NULL, VAL(4), true}},
                           3, GC_NOT_READY, {0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, do_select, &op);
    wait_until_waiting(ch, 0, 1);
    EXPECT(gc_chan_try_send(ch, VAL(3)) == GC_OK);
    pthread_join(t, NULL);
    CHECK(op.status == GC_OK && op.res.index == 1 && op.res.value == VAL(3));
    destroy(ch);
}

static void test_select_same_channel_twice(void)
{
    /* two recv cases on one buffered channel: both get chosen over time,
       and every value comes out once, in order */
    gc_chan *ch = gc_chan_new(4);
    gc_case two[2] = {{ch, NULL, false}, {ch, NULL, false}};
    long chosen[2] = {0};
    gc_select_result res;
    for (int i = 0; i < 1000; i++) {
        CHECK(gc_chan_try_send(ch, VAL(2 * i)) == GC_OK);
        CHECK(gc_chan_try_send(ch, VAL(2 * i + 1)) == GC_OK);
        for (int k = 0; k < 2; k++) {
            CHECK(select_now(two, 2, TRY_ONLY, &res) == GC_OK && res.ok);
            CHECK(res.value == VAL(2 * i + k));
            chosen[res.index]++;
        }
    }
    CHECK(chosen[0] > 0 && chosen[1] > 0);
    CHECK(select_now(two, 2, TRY_ONLY, &res) == GC_NOT_READY);
    destroy(ch);

    /* blocked with two recv entries on one unbuffered channel: one value
       wakes it once, and both entries are gone afterwards */
    for (int round = 0; round < 20; round++) {
        ch = gc_chan_new(0);
        struct select_op op = {{{ch, NULL, false}, {NULL, NULL, false}, {ch, NULL, false}},
                               3, GC_NOT_READY, {0}, 0};
        pthread_t t;
        pthread_create(&t, NULL, do_select, &op);
        wait_until_waiting(ch, 0, 1);
        EXPECT(gc_chan_try_send(ch, VAL(round)) == GC_OK);
        pthread_join(t, NULL);
        CHECK(op.status == GC_OK && (op.res.index == 0 || op.res.index == 2));
        CHECK(op.res.value == VAL(round) && op.res.ok);
        size_t s, r;
        waiting(ch, &s, &r);
        CHECK(s == 0 && r == 0);
        CHECK(gc_chan_try_send(ch, VAL(99)) == GC_NOT_READY);
        destroy(ch);
    }

    /* send and recv of one cap-1 channel in one select */
    ch = gc_chan_new(1);
    gc_case cases[3] = {{ch, NULL, false}, {ch, VAL(5), true}, {ch, NULL, false}};
    for (int i = 0; i < 50; i++) {
        /* empty: only the send is ready */
        CHECK(select_now(cases, 3, TRY_ONLY, &res) == GC_OK && res.index == 1);
        CHECK(gc_chan_len(ch) == 1);
        /* full: only a recv is ready; it gets the value */
        CHECK(select_now(cases, 3, GC_FOREVER, &res) == GC_OK);
        CHECK(res.index == 0 || res.index == 2);
        CHECK(res.value == VAL(5) && res.ok);
        CHECK(gc_chan_len(ch) == 0);
    }
    destroy(ch);
}

/* One select offering a send and a recv on the same unbuffered channel
   never pairs with itself; a peer on either side completes it. */
static void test_select_send_and_recv_same_unbuffered(void)
{
    for (int side = 0; side < 2; side++) {
        gc_chan *ch = gc_chan_new(0);
        struct select_op op = {{{ch, VAL(5), true}, {ch, NULL, false}, {NULL, NULL, false}},
                               3, GC_NOT_READY, {0}, 0};
        op.deadline = gc_deadline_after(0.02);
        /* alone, it times out: it cannot rendezvous with itself */
        do_select(&op);
        CHECK(op.status == GC_TIMEOUT);
        op.deadline = 0;
        pthread_t t;
        pthread_create(&t, NULL, do_select, &op);
        wait_until_waiting(ch, 1, 1);
        void *v = NULL;
        bool ok;
        if (side == 0)
            EXPECT(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok && v == VAL(5));
        else
            EXPECT(gc_chan_try_send(ch, VAL(6)) == GC_OK);
        pthread_join(t, NULL);
        CHECK(op.status == GC_OK);
        if (side == 0) {
            CHECK(op.res.index == 0);
        } else {
            CHECK(op.res.index == 1 && op.res.value == VAL(6) && op.res.ok);
        }
        size_t s, r;
        waiting(ch, &s, &r);
        CHECK(s == 0 && r == 0);
        destroy(ch);
    }
}

/* A send ready on one channel and a recv ready on another: exactly one of
   them happens. */
static void test_select_commits_one_case(void)
{
    long outcome[2] = {0};
    for (int i = 0; i < 400; i++) {
        gc_chan *a = gc_chan_new(1), *b = gc_chan_new(1);
        CHECK(gc_chan_try_send(b, VAL(1)) == GC_OK);
        gc_case cases[2] = {{a, VAL(2), true}, {b, NULL, false}};
        gc_select_result res;
        /* alternate the non-blocking pass and the locked registration poll */
        if (i % 2) {
            CHECK(select_now(cases, 2, TRY_ONLY, &res) == GC_OK);
        } else {
            gc_entry e[2];
            int order[4];
            gc_select sel;
            gc_select_init(&sel, cases, 2, e, order, order + 2);
            CHECK(gc_select_wait(&sel, GC_FOREVER, 0, &res) == GC_OK);
        }
        outcome[res.index]++;
        if (res.index == 0) {
            CHECK(gc_chan_len(a) == 1 && gc_chan_len(b) == 1);
        } else {
            CHECK(res.value == VAL(1) && res.ok);
            CHECK(gc_chan_len(a) == 0 && gc_chan_len(b) == 0);
        }
        destroy(a);
        destroy(b);
    }
    CHECK(outcome[0] > 0 && outcome[1] > 0);
}

/* A blocked select over three channels; three peers try at once, one per
   channel: exactly one succeeds, and it is the one the select reports. */
struct peer {
    gc_chan *ch;
    bool is_send;
    long value;
    pthread_barrier_t *go;
    enum gc_status status;
    void *got;
};

static void *peer_try(void *arg)
{
    struct peer *p = arg;
    bool ok;
    pthread_barrier_wait(p->go);
    if (p->is_send)
        p->status = gc_chan_try_send(p->ch, VAL(p->value));
    else
        p->status = gc_chan_try_recv(p->ch, &p->got, &ok);
    return NULL;
}

static void test_select_one_winner_among_racing_peers(void)
{
    int rounds = 50 * scale;
    for (int i = 0; i < rounds && !test_failed(); i++) {
        gc_chan *ch[3] = {gc_chan_new(0), gc_chan_new(0), gc_chan_new(0)};
        struct select_op op = {{{ch[0], NULL, false}, {ch[1], NULL, false},
                                {ch[2], VAL(1000 + i), true}},
                               3, GC_NOT_READY, {0}, 0};
        pthread_t ts, tp[3];
        pthread_create(&ts, NULL, do_select, &op);
        wait_until_waiting(ch[2], 1, 0); /* registered on all three at once */
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 3);
        struct peer p[3] = {{ch[0], true, i, &go, GC_NOT_READY, NULL},
                            {ch[1], true, i, &go, GC_NOT_READY, NULL},
                            {ch[2], false, 0, &go, GC_NOT_READY, NULL}};
        for (int k = 0; k < 3; k++)
            pthread_create(&tp[k], NULL, peer_try, &p[k]);
        for (int k = 0; k < 3; k++)
            pthread_join(tp[k], NULL);
        pthread_join(ts, NULL);
        pthread_barrier_destroy(&go);
        int winners = 0, winner = -1;
        for (int k = 0; k < 3; k++) {
            EXPECT(p[k].status == GC_OK || p[k].status == GC_NOT_READY);
            if (p[k].status == GC_OK) {
                winners++;
                winner = k;
            }
        }
        EXPECTF(winners == 1, "round %d: %d peers succeeded", i, winners);
        EXPECTF(op.status == GC_OK && op.res.index == winner,
                "round %d: select chose %d, peer %d won", i, op.res.index, winner);
        if (winner == 2)
            EXPECT(p[2].got == VAL(1000 + i));
        else if (winner >= 0)
            EXPECT(op.res.value == VAL(i) && op.res.ok);
        for (int k = 0; k < 3; k++) {
            size_t s, r;
            waiting(ch[k], &s, &r);
            EXPECT(s == 0 && r == 0);
            destroy(ch[k]);
        }
    }
}

static void test_select_woken_by_send_on_any_channel(void)
{
    enum { K = 3 };
    for (int k = 0; k < K; k++) {
        for (int cap = 0; cap <= 1; cap++) {
            gc_chan *ch[K];
            for (int i = 0; i < K; i++)
                ch[i] = gc_chan_new(cap);
            struct select_op op = {{{ch[0], NULL, false}, {ch[1], NULL, false},
                                    {ch[2], NULL, false}},
                                   3, GC_NOT_READY, {0}, 0};
            pthread_t t;
            pthread_create(&t, NULL, do_select, &op);
            wait_until_waiting(ch[k], 0, 1);
            EXPECT(send_wait(ch[k], VAL(10 + k), GC_FOREVER) == GC_OK);
            pthread_join(t, NULL);
            CHECKF(op.status == GC_OK && op.res.index == k &&
                       op.res.value == VAL(10 + k) && op.res.ok,
                   "channel %d cap %d: status %d index %d", k, cap, op.status,
                   op.res.index);
            for (int i = 0; i < K; i++) {
                size_t s, r;
                waiting(ch[i], &s, &r);
                CHECK(s == 0 && r == 0); /* the losing cases were unlinked */
                CHECK(gc_chan_len(ch[i]) == 0);
                destroy(ch[i]);
            }
        }
    }
}

/* A select with a stop word: another thread sets the word to stop_value
   and wakes it; the wait ends GC_INTERRUPTED with no effect.  Any other
   value of the word leaves it waiting. */
struct stoppable_recv {
    gc_chan *ch;
    _Atomic uint64_t stop;
    _Atomic bool returned;
    enum gc_status status;
};

static void *do_stoppable_recv(void *arg)
{
    struct stoppable_recv *op = arg;
    gc_case c = {op->ch, NULL, false};
    gc_entry entry;
    int order[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &c, 1, &entry, order, order + 1);
    sel.stop_word = &op->stop;
    sel.stop_value = 7;
    op->status = gc_select_try(&sel, &res);
    if (op->status == GC_NOT_READY)
        op->status = gc_select_wait(&sel, GC_FOREVER, 0, &res);
    atomic_store(&op->returned, true);
    return NULL;
}

static void test_select_stop_word_ends_the_wait(void)
{
    struct stoppable_recv op = {gc_chan_new(0), 0, false, GC_OK};
    pthread_t t;
    pthread_create(&t, NULL, do_stoppable_recv, &op);
    wait_until_waiting(op.ch, 0, 1);
    /* another value: a spurious wake-up, the wait goes on */
    atomic_store(&op.stop, 6);
    for (int i = 0; i < 5; i++) {
        pthread_mutex_lock(&op.ch->lock);
        gc_unpark(&op.ch->recvq.head->waiter->state);
        pthread_mutex_unlock(&op.ch->lock);
        sleep_us(1000);
    }
    CHECK(!atomic_load(&op.returned));
    atomic_store(&op.stop, 7);
    /* a wake-up before the sleep is lost: wake until it has returned */
    while (!atomic_load(&op.returned)) {
        pthread_mutex_lock(&op.ch->lock);
        if (op.ch->recvq.head)
            gc_unpark(&op.ch->recvq.head->waiter->state);
        pthread_mutex_unlock(&op.ch->lock);
        sleep_us(1000);
    }
    pthread_join(t, NULL);
    CHECK(op.status == GC_INTERRUPTED);
    size_t snd, rcv;
    waiting(op.ch, &snd, &rcv);
    CHECK(snd == 0 && rcv == 0); /* unregistered: no effect */
    CHECK(send_wait(op.ch, VAL(1), TRY_ONLY) == GC_NOT_READY);
    destroy(op.ch);
}

static void test_select_woken_by_close(void)
{
    gc_chan *a = gc_chan_new(0), *b = gc_chan_new(0), *c = gc_chan_new(0);
    struct select_op op = {{{a, NULL, false}, {b, NULL, false}, {NULL, NULL, false}},
                           3, GC_NOT_READY, {0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, do_select, &op);
    wait_until_waiting(a, 0, 1);
    EXPECT(gc_chan_close(a) == GC_OK);
    pthread_join(t, NULL);
    CHECK(op.status == GC_OK && op.res.index == 0 && !op.res.ok &&
          op.res.value == NULL);
    size_t s, r;
    waiting(b, &s, &r);
    CHECK(r == 0);

    /* a send case whose channel closes: GC_CLOSED, index of that case */
    struct select_op sop = {{{NULL, NULL, false}, {c, VAL(3), true}, {b, NULL, false}},
                            3, GC_NOT_READY, {0}, 0};
    pthread_create(&t, NULL, do_select, &sop);
    wait_until_waiting(c, 1, 0);
    EXPECT(gc_chan_close(c) == GC_OK);
    pthread_join(t, NULL);
    CHECK(sop.status == GC_CLOSED && sop.res.index == 1);
    waiting(b, &s, &r);
    CHECK(r == 0);

    /* already closed: the non-blocking pass and the registration poll both
       report it, with the case's index */
    gc_case cases[2] = {{b, NULL, false}, {c, VAL(4), true}};
    gc_select_result res;
    CHECK(select_now(cases, 2, TRY_ONLY, &res) == GC_CLOSED && res.index == 1);
    gc_entry e[2];
    int order[4];
    gc_select sel;
    gc_select_init(&sel, cases, 2, e, order, order + 2);
    CHECK(gc_select_wait(&sel, GC_FOREVER, 0, &res) == GC_CLOSED && res.index == 1);
    destroy(a);
    destroy(b);
    destroy(c);
}

/* ---- 8. interrupt slices and signals ---------------------------------- */

static void test_interrupt_slices_resume(void)
{
    gc_chan *ch = gc_chan_new(0);
    gc_case c = {ch, NULL, false};
    gc_entry e;
    int order[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &c, 1, &e, order, order + 1);
    CHECK(gc_select_try(&sel, &res) == GC_NOT_READY);
    int64_t t0 = gc_now_ns();
    CHECK(gc_select_wait(&sel, GC_FOREVER, 5 * MS, &res) == GC_INTERRUPTED);
    int64_t took = gc_now_ns() - t0;
    CHECKF(took >= 5 * MS && took < 1000 * MS, "took %" PRId64 " ns", took);
    size_t s, r;
    waiting(ch, &s, &r);
    CHECK(s == 0 && r == 0); /* nothing left behind */
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_NOT_READY);

    /* again, with a far deadline instead of none */
    t0 = gc_now_ns();
    CHECK(gc_select_wait(&sel, gc_deadline_after(3600), 5 * MS, &res) ==
          GC_INTERRUPTED);
    CHECK(gc_now_ns() - t0 >= 5 * MS);

    /* resume: the same select completes when a value comes */
    struct op snd = {ch, 11, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_send, &snd);
    enum gc_status st;
    int slices = 0;
    while ((st = gc_select_wait(&sel, GC_FOREVER, 2 * MS, &res)) == GC_INTERRUPTED)
        slices++;
    pthread_join(t, NULL);
    CHECK(st == GC_OK && res.index == 0 && res.value == VAL(11) && res.ok);
    CHECK(snd.status == GC_OK);

    /* a send case interrupted: its value was not delivered */
    gc_case sc = {ch, VAL(12), true};
    gc_select_init(&sel, &sc, 1, &e, order, order + 1);
    CHECK(gc_select_wait(&sel, GC_FOREVER, 3 * MS, &res) == GC_INTERRUPTED);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
    struct op rcv = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_create(&t, NULL, do_recv, &rcv);
    while ((st = gc_select_wait(&sel, GC_FOREVER, 2 * MS, &res)) == GC_INTERRUPTED)
        ;
    pthread_join(t, NULL);
    CHECK(st == GC_OK && res.index == 0);
    CHECK(rcv.status == GC_OK && rcv.got == VAL(12));

    /* the deadline comes before the slice ends: a timeout, not a slice */
    gc_select_init(&sel, &c, 1, &e, order, order + 1);
    CHECK(gc_select_wait(&sel, gc_deadline_after(0.003), 500 * MS, &res) == GC_TIMEOUT);
    destroy(ch);
}

#ifdef __linux__
static volatile sig_atomic_t signals_seen;

static void count_signal(int signo)
{
    (void)signo;
    signals_seen++;
}

struct signal_waiter {
    gc_chan *ch;
    int64_t slice, deadline;
    enum gc_status status;
    int64_t took, ended;
    _Atomic int done;
};

static void *wait_for_signal(void *arg)
{
    struct signal_waiter *w = arg;
    gc_case c = {w->ch, NULL, false};
    gc_entry e;
    int order[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &c, 1, &e, order, order + 1);
    int64_t t0 = gc_now_ns();
    w->status = gc_select_wait(&sel, w->deadline, w->slice, &res);
    w->ended = gc_now_ns();
    w->took = w->ended - t0;
    atomic_store(&w->done, 1);
    return NULL;
}

/* With a slice, a signal handler running on the waiting thread ends the
   wait early (GC_INTERRUPTED, no effect); without one, the wait goes on. */
static void test_signal_interrupts_sliced_wait(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART, as Python installs its handlers */
    sigaction(SIGUSR1, &sa, &old);

    for (int sliced = 1; sliced >= 0; sliced--) {
        gc_chan *ch = gc_chan_new(0);
        struct signal_waiter w = {ch, sliced ? 20000 * MS : 0,
                                  sliced ? GC_FOREVER : gc_deadline_after(0.06),
                                  GC_NOT_READY, 0, 0, 0};
        signals_seen = 0;
        pthread_t t;
        pthread_create(&t, NULL, wait_for_signal, &w);
        wait_until_waiting(ch, 0, 1);
        while (!atomic_load(&w.done)) { /* again and again: one may land
                                            before the thread sleeps */
            pthread_kill(t, SIGUSR1);
            sleep_us(5000);
        }
        pthread_join(t, NULL);
        if (sliced) {
            EXPECTF(w.status == GC_INTERRUPTED && w.took < 10000 * MS,
                    "sliced: status %d after %" PRId64 " ns", w.status, w.took);
        } else {
            EXPECTF(w.status == GC_TIMEOUT && w.ended >= w.deadline,
                    "unsliced: status %d, %" PRId64 " ns before the deadline",
                    w.status, w.deadline - w.ended);
        }
        EXPECT(signals_seen > 0);
        size_t s, r;
        waiting(ch, &s, &r);
        EXPECT(s == 0 && r == 0);
        EXPECT(gc_chan_try_send(ch, VAL(1)) == GC_NOT_READY);
        destroy(ch);
    }
    sigaction(SIGUSR1, &old, NULL);
}
#endif

/* ---- 6. exactly-once stress ------------------------------------------- */

enum { STRESS_THREADS = 8 };

struct stress {
    gc_chan *ch, *other;
    int64_t capacity;
    long per_sender, total;
    _Atomic int *sent_ok;  /* per value: 1 if its send committed */
    _Atomic int *received; /* per value: times received */
    _Atomic long modes[8];  /* how often each kind of call committed */
    _Atomic long given_back; /* receives undone by gc_chan_give_back */
    uint64_t seed;
};

struct stress_arg {
    struct stress *s;
    int id;
};

static void count_received(struct stress *s, void *v)
{
    long i = IDX(v);
    if (EXPECTF(i >= 0 && i < s->total, "received a foreign value %ld", i))
        atomic_fetch_add(&s->received[i], 1);
}

/* A deadline 0 to 200 us away (sometimes already past), now and then 2 ms. */
static int64_t short_deadline(uint64_t *r)
{
    uint64_t x = rnd(r);
    if (x % 16 == 0)
        return gc_now_ns() - 1;
    if (x % 16 == 1)
        return gc_now_ns() + 2 * MS;
    return gc_now_ns() + (int64_t)((x >> 8) % (200 * US + 1));
}

static void *stress_sender(void *arg)
{
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    uint64_t r = derive_seed((uint64_t)s->seed + (uint64_t)a->id + 1);
    for (long i = 0; i < s->per_sender; i++) {
        long v = a->id * s->per_sender + i;
        gc_chan *target = (rnd(&r) & 1) ? s->ch : s->other;
        int mode = (int)(rnd(&r) % 8);
        enum gc_status st;
        gc_select_result res = {-1, NULL, false};
        switch (mode) {
        case 0: /* non-blocking */
            st = gc_chan_try_send(target, VAL(v));
            break;
        case 1: case 2: case 3: /* a plain blocking send */
            st = send_wait(target, VAL(v), short_deadline(&r));
            break;
        case 4: case 5: { /* one channel and a nil case */
            gc_case cases[2] = {{NULL, NULL, false}, {target, VAL(v), true}};
            st = select_now(cases, 2, short_deadline(&r), &res);
            EXPECT(st != GC_OK || res.index == 1);
            break;
        }
        default: { /* the same value offered on both channels: one wins */
            gc_case cases[3] = {{s->ch, VAL(v), true},
                                {NULL, NULL, false},
                                {s->other, VAL(v), true}};
            st = select_now(cases, 3, short_deadline(&r), &res);
            EXPECT(st != GC_OK || res.index == 0 || res.index == 2);
            break;
        }
        }
        EXPECTF(st == GC_OK || st == GC_TIMEOUT || st == GC_NOT_READY,
                "send status %d", st);
        if (st == GC_OK) {
            atomic_store(&s->sent_ok[v], 1);
            atomic_fetch_add(&s->modes[mode], 1);
        }
    }
    return NULL;
}

static void *stress_receiver(void *arg)
{
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    uint64_t r = derive_seed((uint64_t)s->seed + (uint64_t)a->id + 101);
    for (;;) {
        gc_chan *source = (rnd(&r) & 1) ? s->ch : s->other;
        int mode = (int)(rnd(&r) % 8);
        enum gc_status st;
        gc_select_result res = {-1, NULL, false};
        void *v = NULL;
        bool ok = false;
        switch (mode) {
        case 0:
            st = gc_chan_try_recv(source, &v, &ok);
            if (st == GC_NOT_READY)
                gc_yield();
            break;
        case 1: case 2:
            st = recv_wait(source, &v, &ok, short_deadline(&r));
            break;
        case 3: case 4: case 5: {
            gc_case cases[3] = {{s->ch, NULL, false},
                                {s->other, NULL, false},
                                {NULL, NULL, false}};
            st = select_now(cases, 3, short_deadline(&r), &res);
            v = res.value;
            ok = res.ok;
            EXPECT(st != GC_OK || res.index == 0 || res.index == 1);
            source = st == GC_OK ? cases[res.index].chan : NULL;
            break;
        }
        default: { /* until a value, or the final close */
            gc_case cases[3] = {{NULL, NULL, false},
                                {s->ch, NULL, false},
                                {s->other, NULL, false}};
            st = select_now(cases, 3, GC_FOREVER, &res);
            v = res.value;
            ok = res.ok;
            EXPECT(st == GC_OK && (res.index == 1 || res.index == 2));
            source = st == GC_OK ? cases[res.index].chan : NULL;
            break;
        }
        }
        EXPECTF(st == GC_OK || st == GC_TIMEOUT || st == GC_NOT_READY,
                "recv status %d", st);
        if (st == GC_OK) {
            if (!ok) {
                EXPECT(v == NULL);
                return NULL; /* a channel is closed and drained */
            }
            /* Now and then undo the receive, as an interrupted caller
               does: the value must still arrive exactly once. */
            if (rnd(&r) % 8 == 0 && EXPECT(gc_chan_give_back(source, v) == GC_OK)) {
                atomic_fetch_add(&s->given_back, 1);
                continue;
            }
            count_received(s, v);
        }
    }
}

static void run_stress(int64_t capacity)
{
    struct stress s;
    memset(&s, 0, sizeof s);
    s.capacity = capacity;
    s.ch = gc_chan_new(capacity);
    s.other = gc_chan_new(capacity);
    s.per_sender = 2000L * scale;
    s.total = s.per_sender * STRESS_THREADS;
    s.sent_ok = calloc((size_t)s.total, sizeof(_Atomic int));
    s.received = calloc((size_t)s.total, sizeof(_Atomic int));
    s.seed = derive_seed((uint64_t)(capacity + 7));
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
    /* Receivers end once a channel they look at is closed and drained;
       close both, then count whatever they left in the buffers. */
    EXPECT(gc_chan_close(s.ch) == GC_OK);
    EXPECT(gc_chan_close(s.other) == GC_OK);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(rx[i], NULL);
    gc_chan *both[2] = {s.ch, s.other};
    for (int k = 0; k < 2; k++) {
        void *v;
        bool ok;
        enum gc_status st;
        while ((st = gc_chan_try_recv(both[k], &v, &ok)) == GC_OK && ok)
            count_received(&s, v);
        EXPECT(st == GC_OK && !ok);
        size_t n, sw, rw;
        EXPECT(gc_chan_take_buffer(both[k], &n) == NULL && n == 0);
        waiting(both[k], &sw, &rw);
        EXPECTF(sw == 0 && rw == 0, "left queued: %zu senders, %zu receivers", sw, rw);
    }
    long delivered = 0, bad = 0;
    for (long i = 0; i < s.total; i++) {
        int want = atomic_load(&s.sent_ok[i]);
        int got = atomic_load(&s.received[i]);
        if (got != want && bad++ < 5)
            fail_at(__FILE__, __LINE__,
                    "capacity %" PRId64 " seed %" PRIu64 ": value %ld sent_ok=%d received=%d",
                    capacity, seed, i, want, got);
        delivered += got;
    }
    EXPECTF(bad == 0, "capacity %" PRId64 ": %ld values wrong of %ld", capacity, bad, s.total);
    EXPECTF(delivered > 0, "nothing was delivered");
    /* every kind of send committed at least once */
    EXPECT(atomic_load(&s.modes[1]) + atomic_load(&s.modes[2]) > 0);
    EXPECT(atomic_load(&s.modes[4]) + atomic_load(&s.modes[5]) > 0);
    EXPECT(atomic_load(&s.modes[6]) + atomic_load(&s.modes[7]) > 0);
    if (capacity != 0)
        EXPECT(atomic_load(&s.modes[0]) > 0);
    EXPECT(atomic_load(&s.given_back) > 0);
    free(s.sent_ok);
    free(s.received);
    destroy(s.ch);
    destroy(s.other);
}

static void test_exactly_once_unbuffered(void) { run_stress(0); }
static void test_exactly_once_cap1(void) { run_stress(1); }
static void test_exactly_once_cap16(void) { run_stress(16); }
static void test_exactly_once_unbounded(void) { run_stress(GC_UNBOUNDED); }

/* ---- 7. close racing blocked senders and receivers -------------------- */

enum { CR_MAX_THREADS = 8, CR_VALUES = 4 };

struct close_race {
    gc_chan *ch;
    _Atomic int sent_ok[CR_MAX_THREADS * CR_VALUES];
    _Atomic int received[CR_MAX_THREADS * CR_VALUES];
    _Atomic int closed_sends;
    uint64_t seed;
};

struct cr_arg {
    struct close_race *c;
    int id;
};

static void *cr_sender(void *arg)
{
    struct cr_arg *a = arg;
    struct close_race *c = a->c;
    uint64_t r = derive_seed(c->seed + (uint64_t)a->id * 31 + 1);
    for (int k = 0; k < CR_VALUES; k++) {
        long v = a->id * CR_VALUES + k;
        enum gc_status st;
        if (rnd(&r) % 2) {
            st = send_wait(c->ch, VAL(v), GC_FOREVER);
        } else {
            gc_case cases[2] = {{c->ch, VAL(v), true}, {NULL, NULL, false}};
            gc_select_result res = {-1, NULL, false};
            st = select_now(cases, 2, gc_deadline_after(60), &res);
            EXPECT(st == GC_OK ? res.index == 0
                               : (st != GC_CLOSED || res.index == 0));
        }
        EXPECTF(st == GC_OK || st == GC_CLOSED, "send status %d", st);
        if (st == GC_OK) {
            atomic_store(&c->sent_ok[v], 1);
        } else {
            atomic_fetch_add(&c->closed_sends, 1);
            break; /* closed: the later values are never sent */
        }
    }
    return NULL;
}

static void *cr_receiver(void *arg)
{
    struct cr_arg *a = arg;
    struct close_race *c = a->c;
    uint64_t r = derive_seed(c->seed + (uint64_t)a->id * 31 + 2);
    bool slow = rnd(&r) % 2;
    for (;;) {
        void *v = NULL;
        bool ok = false;
        enum gc_status st = recv_wait(c->ch, &v, &ok, GC_FOREVER);
        if (!EXPECTF(st == GC_OK, "recv status %d", st))
            return NULL;
        if (!ok)
            return NULL;
        long i = IDX(v);
        if (EXPECTF(i >= 0 && i < CR_MAX_THREADS * CR_VALUES, "foreign value %ld", i))
            atomic_fetch_add(&c->received[i], 1);
        if (slow) /* let senders pile up */
            sleep_us((long)(rnd(&r) % 50));
    }
}

static void test_close_races_blocked_calls(void)
{
    static const int64_t caps[] = {0, 1, 4, GC_UNBOUNDED};
    uint64_t r = derive_seed(77);
    int rounds = 50 * scale;
    long closed_total = 0, ok_total = 0;
    for (int round = 0; round < rounds && !test_failed(); round++) {
        int64_t cap = caps[round % 4];
        struct close_race *c = calloc(1, sizeof *c);
        c->ch = gc_chan_new(cap);
        c->seed = rnd(&r);
        int ns = 1 + (int)(rnd(&r) % CR_MAX_THREADS);
        int nr = 1 + (int)(rnd(&r) % 4);
        pthread_t ts[CR_MAX_THREADS], tr[CR_MAX_THREADS];
        struct cr_arg sa[CR_MAX_THREADS], ra[CR_MAX_THREADS];
        for (int i = 0; i < ns; i++) {
            sa[i] = (struct cr_arg){c, i};
            pthread_create(&ts[i], NULL, cr_sender, &sa[i]);
        }
        for (int i = 0; i < nr; i++) {
            ra[i] = (struct cr_arg){c, i};
            pthread_create(&tr[i], NULL, cr_receiver, &ra[i]);
        }
        switch (rnd(&r) % 3) { /* close at a random moment */
        case 0: break;
        case 1: spin_until(gc_now_ns() + (int64_t)(rnd(&r) % (100 * US))); break;
        default: sleep_us((long)(rnd(&r) % 400)); break;
        }
        EXPECT(gc_chan_close(c->ch) == GC_OK);
        for (int i = 0; i < ns; i++)
            pthread_join(ts[i], NULL);
        for (int i = 0; i < nr; i++)
            pthread_join(tr[i], NULL);
        /* the receivers drained the buffer before they saw the close */
        size_t left;
        void **items = gc_chan_take_buffer(c->ch, &left);
        EXPECTF(left == 0, "%zu values left after the receivers ended", left);
        free(items);
        size_t sw, rw;
        waiting(c->ch, &sw, &rw);
        EXPECT(sw == 0 && rw == 0);
        for (int v = 0; v < CR_MAX_THREADS * CR_VALUES; v++) {
            int sent = atomic_load(&c->sent_ok[v]);
            int got = atomic_load(&c->received[v]);
            EXPECTF(got == sent,
                    "round %d cap %" PRId64 " seed %" PRIu64 ": value %d sent %d received %d",
                    round, cap, seed, v, sent, got);
            ok_total += sent;
        }
        closed_total += atomic_load(&c->closed_sends);
        gc_chan_free(c->ch);
        free(c);
    }
    /* both outcomes happened somewhere */
    CHECKF(closed_total > 0 && ok_total > 0, "closed %ld ok %ld", closed_total, ok_total);
}

/* ---- 9. a deadline expiring as the partner arrives -------------------- */

/* Both sides block with deadlines that expire together: either the value
   was received or it was not sent; never lost, never twice. */
static void test_deadline_races_sender(void)
{
    uint64_t r = derive_seed(0xABCDEF);
    int rounds = 150 * scale;
    for (int i = 0; i < rounds; i++) {
        gc_chan *ch = gc_chan_new(0);
        int64_t when = gc_now_ns() + 200 * US;
        struct op rcv = {ch, 0, when, GC_NOT_READY, NULL, false};
        struct op snd = {ch, i, when + (int64_t)(rnd(&r) % (100 * US)) - 50 * US,
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
        CHECK(received || rcv.status == GC_TIMEOUT);
        CHECK(sent || snd.status == GC_TIMEOUT);
        if (received)
            CHECK(rcv.got == VAL(i) && rcv.ok);
        destroy(ch);
    }
}

/* A receiver's deadline expires just as a non-blocking send arrives.
   Unbuffered: the send succeeds iff the receiver got the value.  Cap 1: the
   send always succeeds; the value is either received or still buffered. */
static void test_deadline_races_try_send(void)
{
    uint64_t r = derive_seed(0x5EED);
    int rounds = 150 * scale;
    for (int i = 0; i < rounds; i++) {
        int cap = i % 2;
        gc_chan *ch = gc_chan_new(cap);
        int64_t when = gc_now_ns() + 300 * US;
        struct op rcv = {ch, 0, when, GC_NOT_READY, NULL, false};
        pthread_t t;
        pthread_create(&t, NULL, do_recv, &rcv);
        spin_until(when + (int64_t)(rnd(&r) % (60 * US)) - 30 * US);
        enum gc_status st = gc_chan_try_send(ch, VAL(i));
        pthread_join(t, NULL);
        bool received = rcv.status == GC_OK;
        CHECKF(received || rcv.status == GC_TIMEOUT, "recv status %d", rcv.status);
        if (received)
            CHECK(rcv.got == VAL(i) && rcv.ok);
        if (cap == 0) {
            CHECKF(st == (received ? GC_OK : GC_NOT_READY),
                   "round %d: send %d, receiver %d", i, st, rcv.status);
        } else {
            CHECK(st == GC_OK);
            CHECKF(gc_chan_len(ch) == (received ? 0u : 1u), "round %d: len %zu",
                   i, gc_chan_len(ch));
            if (!received) {
                void *v;
                bool ok;
                CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(i));
            }
        }
        destroy(ch);
    }
}

/* A select over two channels times out just as both get a value: it takes
   at most one, and only the matching send succeeded. */
static void test_deadline_races_select(void)
{
    uint64_t r = derive_seed(0x5E1EC7);
    int rounds = 150 * scale;
    for (int i = 0; i < rounds; i++) {
        gc_chan *a = gc_chan_new(0), *b = gc_chan_new(0);
        int64_t when = gc_now_ns() + 300 * US;
        struct select_op op = {{{a, NULL, false}, {NULL, NULL, false}, {b, NULL, false}},
                               3, GC_NOT_READY, {-1, NULL, false}, when};
        pthread_t t;
        pthread_create(&t, NULL, do_select, &op);
        spin_until(when + (int64_t)(rnd(&r) % (60 * US)) - 30 * US);
        bool a_first = rnd(&r) & 1;
        enum gc_status sa, sb;
        if (a_first) {
            sa = gc_chan_try_send(a, VAL(2 * i));
            sb = gc_chan_try_send(b, VAL(2 * i + 1));
        } else {
            sb = gc_chan_try_send(b, VAL(2 * i + 1));
            sa = gc_chan_try_send(a, VAL(2 * i));
        }
        pthread_join(t, NULL);
        CHECK(sa == GC_OK || sa == GC_NOT_READY);
        CHECK(sb == GC_OK || sb == GC_NOT_READY);
        int sends_ok = (sa == GC_OK) + (sb == GC_OK);
        if (op.status == GC_OK) {
            CHECKF(sends_ok == 1, "round %d: %d sends took", i, sends_ok);
            if (op.res.index == 0)
                CHECK(sa == GC_OK && op.res.value == VAL(2 * i));
            else
                CHECK(op.res.index == 2 && sb == GC_OK && op.res.value == VAL(2 * i + 1));
        } else {
            CHECKF(op.status == GC_TIMEOUT, "round %d: status %d", i, op.status);
            CHECKF(sends_ok == 0, "round %d: timed out yet %d sends took", i, sends_ok);
        }
        destroy(a);
        destroy(b);
    }
}

/* The owner's timeout and a peer's claim, as close as they get: the owner
   registers with a deadline that is (nearly) over, so it gives up within
   a few hundred nanoseconds, while the peer polls the channel in a tight
   loop and claims the entry whenever it is there.  The claim lands before
   the owner's last look at its state, between that look and its abort (the
   abort then fails and the owner must report the committed result), or
   after the abort (the claim fails).  Every value is accounted once. */
struct tight {
    gc_chan *ch;
    bool owner_sends;
    long iterations;
    _Atomic int stop;
    _Atomic int *sent_ok, *received;
    _Atomic long peer_ok;
};

static void *tight_peer(void *arg)
{
    struct tight *t = arg;
    long k = 0;
    while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
        if (t->owner_sends) {
            void *v;
            bool ok;
            if (gc_chan_try_recv(t->ch, &v, &ok) == GC_OK) {
                long i = IDX(v);
                if (EXPECTF(ok && i >= 0 && i < t->iterations, "peer got %ld", i))
                    atomic_fetch_add(&t->received[i], 1);
                atomic_fetch_add(&t->peer_ok, 1);
            }
        } else if (k < t->iterations &&
                   gc_chan_try_send(t->ch, VAL(k)) == GC_OK) {
            atomic_store(&t->sent_ok[k], 1);
            atomic_fetch_add(&t->peer_ok, 1);
            k++;
        }
    }
    return NULL;
}

static void test_abort_races_claim_tight(void)
{
    uint64_t r = derive_seed(0x7167);
    int saved_spin = gc_spin_yields;
    for (int variant = 0; variant < 4 && !test_failed(); variant++) {
        struct tight t;
        memset(&t, 0, sizeof t);
        t.ch = gc_chan_new(0);
        t.owner_sends = variant & 1;
        gc_spin_yields = (variant & 2) ? saved_spin : 0;
        t.iterations = 2500L * scale;
        t.sent_ok = calloc((size_t)t.iterations, sizeof(_Atomic int));
        t.received = calloc((size_t)t.iterations, sizeof(_Atomic int));
        pthread_t peer;
        pthread_create(&peer, NULL, tight_peer, &t);
        long owner_ok = 0, owner_timeout = 0;
        /* two spinning threads: on a loaded machine, stop early */
        int64_t give_up = gc_now_ns() + 1500 * MS;
        bool gave_up = false;
        for (long i = 0; i < t.iterations; i++) {
            if (i % 64 == 0 && gc_now_ns() > give_up) {
                gave_up = true;
                break;
            }
            int64_t deadline = (rnd(&r) & 1)
                                   ? gc_now_ns() - 1
                                   : gc_now_ns() + (int64_t)(rnd(&r) % (3 * US));
            enum gc_status st;
            if (t.owner_sends) {
                st = send_wait(t.ch, VAL(i), deadline);
                if (st == GC_OK)
                    atomic_store(&t.sent_ok[i], 1);
            } else {
                void *v = NULL;
                bool ok = false;
                st = recv_wait(t.ch, &v, &ok, deadline);
                if (st == GC_OK) {
                    long k = IDX(v);
                    if (EXPECTF(ok && k >= 0 && k < t.iterations, "owner got %ld", k))
                        atomic_fetch_add(&t.received[k], 1);
                }
            }
            EXPECTF(st == GC_OK || st == GC_TIMEOUT, "status %d", st);
            owner_ok += st == GC_OK;
            owner_timeout += st == GC_TIMEOUT;
        }
        atomic_store(&t.stop, 1);
        pthread_join(peer, NULL);
        gc_spin_yields = saved_spin;
        if (getenv("GC_TEST_VERBOSE"))
            printf("# variant %d: %ld committed, %ld timed out\n", variant,
                   owner_ok, owner_timeout);
        EXPECTF(owner_ok == atomic_load(&t.peer_ok),
                "variant %d: owner committed %ld, peer %ld", variant, owner_ok,
                atomic_load(&t.peer_ok));
        long bad = 0;
        for (long i = 0; i < t.iterations; i++)
            if (atomic_load(&t.sent_ok[i]) != atomic_load(&t.received[i]) && bad++ < 5)
                fail_at(__FILE__, __LINE__,
                        "variant %d seed %" PRIu64 ": value %ld sent_ok=%d received=%d",
                        variant, seed, i, atomic_load(&t.sent_ok[i]),
                        atomic_load(&t.received[i]));
        size_t sw, rw;
        waiting(t.ch, &sw, &rw);
        EXPECT(sw == 0 && rw == 0);
        /* both outcomes, or the test did not race (only judged on a run
           that was not cut short by a loaded machine) */
        EXPECTF(gave_up || (owner_ok > 0 && owner_timeout > 0),
                "variant %d: %ld committed, %ld timed out: no race", variant,
                owner_ok, owner_timeout);
        free(t.sent_ok);
        free(t.received);
        destroy(t.ch);
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

/* A callback timer freed by its own callback: the timer loop still touches
   the timer after the callback returns, so the memory must outlive it
   (AddressSanitizer reports a heap-use-after-free otherwise). */
struct self_freeing {
    gc_timer *timer;
    _Atomic int calls;
};

static void free_own_timer(void *arg)
{
    struct self_freeing *sf = arg;
    gc_timer_free(sf->timer);
    atomic_fetch_add(&sf->calls, 1);
}

static void test_timer_callback_frees_its_own_timer(void)
{
    enum { N = 200 };
    static struct self_freeing sf[N];
    bool was_active;
    for (int i = 0; i < N; i++) {
        atomic_store(&sf[i].calls, 0);
        sf[i].timer = gc_timer_new_callback(free_own_timer, &sf[i]);
        CHECK(gc_timer_reset(sf[i].timer, gc_now_ns() + (i % 7) * 100000, 0,
                             &was_active) == GC_OK);
    }
    for (int i = 0; i < N; i++)
        while (atomic_load(&sf[i].calls) == 0)
            sleep_us(100);
    /* the timer loop has moved on; every timer was released exactly once */
    sleep_us(2000);
    CHECK(gc_timer_pending() == 0);
}

/* ---- contexts ------------------------------------------------------------- */

static _Atomic long cause_refs;
static void count_retain(void *v) { (void)v; atomic_fetch_add(&cause_refs, 1); }
static void count_release(void *v, void *owner)
{
    (void)v;
    (void)owner;
    atomic_fetch_sub(&cause_refs, 1);
}

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

/* Children cancel and drop themselves while their parent's cancel walks
   them: the walk holds each parent's lock throughout (it allocates
   nothing, so no out-of-memory path drops it), and every context ends done
   exactly once. */
struct ctx_racer {
    gc_ctx **kids;
    int n;
    pthread_t thread;
};

static void *cancel_and_release_kids(void *arg)
{
    struct ctx_racer *r = arg;
    for (int i = 0; i < r->n; i++) {
        gc_ctx_cancel(r->kids[i], GC_CTX_CANCELED, NULL);
        gc_ctx_release(r->kids[i]);
    }
    return NULL;
}

static void test_ctx_cancel_walk_races_children_leaving(void)
{
    enum { KIDS = 2000, RACERS = 2 };
    for (int round = 0; round < scale; round++) {
        gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER);
        static gc_ctx *kids[RACERS][KIDS], *grandkids[RACERS][KIDS];
        for (int k = 0; k < RACERS; k++)
            for (int i = 0; i < KIDS; i++) {
                kids[k][i] = gc_ctx_new(root, GC_FOREVER);
                grandkids[k][i] = gc_ctx_new(kids[k][i], GC_FOREVER);
            }
        struct ctx_racer racers[RACERS];
        for (int k = 0; k < RACERS; k++) {
            racers[k] = (struct ctx_racer){kids[k], KIDS, 0};
            pthread_create(&racers[k].thread, NULL, cancel_and_release_kids, &racers[k]);
        }
        gc_ctx_cancel(root, GC_CTX_CANCELED, NULL);
        for (int k = 0; k < RACERS; k++)
            pthread_join(racers[k].thread, NULL);
        for (int k = 0; k < RACERS; k++)
            for (int i = 0; i < KIDS; i++) {
                CHECK(is_done(grandkids[k][i]));
                gc_ctx_release(grandkids[k][i]);
            }
        gc_ctx_release(root);
    }
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

/* The deadline fires while every reference is being dropped: the cancel
   cascade's own reference on a child can be the last one of the whole tree,
   so the deadline's context is destroyed on the timer thread, inside its
   timer's callback. */
static void test_ctx_tree_dropped_while_its_deadline_fires(void)
{
    enum { KIDS = 400 };
    static gc_ctx *kids[KIDS];
    uint64_t r = seed ^ 0x7EE;
    for (int i = 0; i < 40 * scale / 5; i++) {
        int64_t deadline = gc_now_ns() + 2 * MS;
        gc_ctx *parent = gc_ctx_new(NULL, deadline);
        gc_ctx *child = gc_ctx_new(parent, GC_FOREVER);
        for (int k = 0; k < KIDS; k++)
            kids[k] = gc_ctx_new(child, GC_FOREVER);
        gc_ctx_release(parent); /* only child keeps it now */
        spin_until(deadline + (int64_t)(rnd(&r) % 100000));
        gc_ctx_release(child);
        for (int k = 0; k < KIDS; k++)
            gc_ctx_release(kids[k]);
    }
    sleep_us(5000);
    CHECK(gc_timer_pending() == 0);
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

static int collect_value(void *value, void *arg)
{
    void **out = arg;
    for (int i = 0; i < 4; i++)
        if (!out[i]) {
            out[i] = value;
            break;
        }
    return 0;
}

/* Take ctx's values, which must be exactly `only`, and drop the reference
   the caller then owns. */
static void take_only_value(gc_ctx *ctx, void *only)
{
    size_t n;
    void **taken = gc_ctx_take_values(ctx, &n);
    CHECK(n == 1 && taken && taken[0] == only);
    free(taken);
    count_release(only, NULL);
}

static void test_ctx_visit_and_take_values(void)
{
    gc_chan *queue = gc_chan_new(GC_UNBOUNDED);
    gc_ctx *alive = gc_ctx_new(NULL, GC_FOREVER);
    CHECK(gc_ctx_after(alive, VAL(1), queue) > 0);
    CHECK(gc_ctx_after(alive, VAL(2), queue) > 0);
    void *seen[4] = {0};
    CHECK(gc_ctx_visit_values(alive, collect_value, seen) == 0);
    CHECK((seen[0] == VAL(1) || seen[0] == VAL(2)) && seen[1] && seen[0] != seen[1] && !seen[2]);
    size_t n;
    void **taken = gc_ctx_take_values(alive, &n);
    CHECK(n == 2 && taken);
    free(taken);
    CHECK(gc_ctx_take_values(alive, &n) == NULL && n == 0);
    gc_ctx_cancel(alive, GC_CTX_CANCELED, NULL);
    CHECK(gc_chan_len(queue) == 0); /* taken items are never sent */

    int cause = 7;
    long refs = atomic_load(&cause_refs);
    gc_ctx *done = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx_cancel(done, GC_CTX_CANCELED, &cause);
    void *seen2[4] = {0};
    gc_ctx_visit_values(done, collect_value, seen2);
    CHECK(seen2[0] == &cause && !seen2[1]);
    take_only_value(done, &cause);
    CHECK(gc_ctx_cause(done) == NULL && gc_ctx_err(done) == GC_CTX_CANCELED);
    gc_ctx_release(done);
    gc_ctx_release(alive);
    CHECK(atomic_load(&cause_refs) == refs);
    destroy(queue);
}

static void wait_done(gc_ctx *c)
{
    void *v;
    bool ok = true;
    CHECK(recv_wait(gc_ctx_done(c), &v, &ok, GC_FOREVER) == GC_OK && !ok);
}

/* Go's Cause(): a cancel's cause wins; a context that expired by its own
   deadline reports its deadline cause; one whose deadline was its parent's
   reports the parent's.  The deadline firing retains nothing. */
static void test_ctx_deadline_cause(void)
{
    int p_cause, c_cause, x_cause;
    long refs = atomic_load(&cause_refs);

    /* own deadline earlier than the parent's */
    gc_ctx *parent = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(3600), &p_cause);
    gc_ctx *child = gc_ctx_new_with_deadline_cause(parent, gc_deadline_after(0.005), &c_cause);
    gc_ctx *grandchild = gc_ctx_new(child, GC_FOREVER);
    CHECK(atomic_load(&cause_refs) == refs + 2);
    CHECK(gc_ctx_cause(child) == NULL); /* alive */
    wait_done(grandchild);
    CHECK(gc_ctx_err(grandchild) == GC_CTX_DEADLINE && gc_ctx_err(child) == GC_CTX_DEADLINE);
    CHECK(gc_ctx_cause(child) == &c_cause && gc_ctx_cause(grandchild) == &c_cause);
    CHECK(gc_ctx_cause(parent) == NULL && gc_ctx_err(parent) == GC_CTX_ALIVE);
    CHECK(atomic_load(&cause_refs) == refs + 2); /* the cascade retained nothing */
    void *seen[4] = {0};
    CHECK(gc_ctx_visit_values(child, collect_value, seen) == 0);
    CHECK(seen[0] == &c_cause && !seen[1]);
    void *seen_gc[4] = {0};
    CHECK(gc_ctx_visit_values(grandchild, collect_value, seen_gc) == 0 && !seen_gc[0]);
    gc_ctx_release(grandchild);
    gc_ctx_release(child);
    gc_ctx_release(parent);
    CHECK(atomic_load(&cause_refs) == refs);

    /* own deadline later than the parent's: the parent's deadline rules,
       and the child's cause is not even kept */
    parent = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(0.005), &p_cause);
    child = gc_ctx_new_with_deadline_cause(parent, gc_deadline_after(3600), &c_cause);
    grandchild = gc_ctx_new(child, GC_FOREVER);
    CHECK(atomic_load(&cause_refs) == refs + 1);
    wait_done(grandchild);
    CHECK(gc_ctx_cause(parent) == &p_cause && gc_ctx_cause(child) == &p_cause &&
          gc_ctx_cause(grandchild) == &p_cause);
    /* a child made after the parent expired: born done, same answer */
    gc_ctx *late = gc_ctx_new_with_deadline_cause(child, gc_deadline_after(3600), &c_cause);
    CHECK(is_done(late) && gc_ctx_err(late) == GC_CTX_DEADLINE && gc_ctx_cause(late) == &p_cause);
    gc_ctx_release(late);
    gc_ctx_release(grandchild);
    gc_ctx_release(child);
    gc_ctx_release(parent);
    CHECK(atomic_load(&cause_refs) == refs);

    /* a cancel before the deadline wins, with or without a cause */
    gc_ctx *ctx = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(0.005), &c_cause);
    CHECK(gc_ctx_cancel(ctx, GC_CTX_CANCELED, &x_cause));
    CHECK(gc_ctx_cause(ctx) == &x_cause);
    gc_ctx *other = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(0.005), &c_cause);
    CHECK(gc_ctx_cancel(other, GC_CTX_CANCELED, NULL));
    sleep_us(10000); /* past both deadlines: nothing changes */
    CHECK(gc_ctx_cause(ctx) == &x_cause && gc_ctx_err(ctx) == GC_CTX_CANCELED);
    CHECK(gc_ctx_cause(other) == NULL && gc_ctx_err(other) == GC_CTX_CANCELED);
    gc_ctx_release(ctx);
    gc_ctx_release(other);
    CHECK(atomic_load(&cause_refs) == refs);

    /* the parent canceled first: the child reports the parent's cancel */
    parent = gc_ctx_new(NULL, GC_FOREVER);
    child = gc_ctx_new_with_deadline_cause(parent, gc_deadline_after(3600), &c_cause);
    gc_ctx *bare_parent = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx *bare_child = gc_ctx_new_with_deadline_cause(bare_parent, gc_deadline_after(3600), &c_cause);
    CHECK(gc_ctx_cancel(parent, GC_CTX_CANCELED, &x_cause));
    CHECK(gc_ctx_cancel(bare_parent, GC_CTX_CANCELED, NULL));
    CHECK(gc_ctx_err(child) == GC_CTX_CANCELED && gc_ctx_cause(child) == &x_cause);
    CHECK(gc_ctx_err(bare_child) == GC_CTX_CANCELED && gc_ctx_cause(bare_child) == NULL);
    gc_ctx_release(bare_child);
    gc_ctx_release(bare_parent);
    gc_ctx_release(child);
    gc_ctx_release(parent);
    CHECK(atomic_load(&cause_refs) == refs);

    /* born past its deadline; taking the values forgets the cause */
    ctx = gc_ctx_new_with_deadline_cause(NULL, 0, &c_cause);
    child = gc_ctx_new(ctx, GC_FOREVER);
    CHECK(is_done(ctx) && gc_ctx_err(ctx) == GC_CTX_DEADLINE);
    CHECK(gc_ctx_cause(ctx) == &c_cause && gc_ctx_cause(child) == &c_cause);
    take_only_value(ctx, &c_cause);
    CHECK(gc_ctx_cause(ctx) == NULL && gc_ctx_cause(child) == NULL);
    gc_ctx_release(child);
    gc_ctx_release(ctx);
    CHECK(atomic_load(&cause_refs) == refs);
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
                                2, GC_NOT_READY, {0}, 0};
        struct select_op rcv = {{{ch, NULL, false}, {gc_ctx_done(cr), NULL, false}, {NULL, NULL, false}},
                                2, GC_NOT_READY, {0}, 0};
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

/* ---- hand-off, LIFO receivers, WaitGroup ------------------------------ */

struct blocked_recv {
    gc_chan *ch;
    void *got;
    pthread_t thread;
};

static void *blocked_recv_main(void *arg)
{
    struct blocked_recv *b = arg;
    bool ok;
    if (recv_wait(b->ch, &b->got, &ok, GC_FOREVER) != GC_OK || !ok)
        b->got = NULL;
    return NULL;
}

/* ---- give-back: a committed receive undone ----------------------------- */

static void test_give_back_is_received_first(void)
{
    static const int64_t caps[] = {0, 1, 4, GC_UNBOUNDED};
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        int64_t cap = caps[ci];
        long fill = cap == 0 ? 0 : cap == GC_UNBOUNDED ? 20 : cap;
        gc_chan *ch = gc_chan_new(cap);
        void *v;
        bool ok;
        for (long i = 0; i < fill; i++)
            CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
        if (fill) {
            /* Take the oldest and give it back: it is first again, and a
               full channel is now one past its capacity. */
            CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(0));
            CHECK(gc_chan_give_back(ch, v) == GC_OK);
            CHECK(gc_chan_len(ch) == (size_t)fill);
        }
        /* Beyond the capacity: a value received when no more is buffered. */
        CHECK(gc_chan_give_back(ch, VAL(999)) == GC_OK);
        CHECK(gc_chan_len(ch) == (size_t)fill + 1);
        if (cap != GC_UNBOUNDED)
            CHECK(gc_chan_try_send(ch, VAL(77)) == GC_NOT_READY);
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok);
        CHECKF(v == VAL(999), "cap %" PRId64 ": got %ld first", cap, IDX(v));
        for (long i = 0; i < fill; i++) {
            CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok);
            CHECKF(v == VAL(i), "cap %" PRId64 ": got %ld want %ld", cap, IDX(v), i);
        }
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_NOT_READY);
        destroy(ch);
    }
}

static void test_give_back_wraps_the_ring(void)
{
    /* At every head position of a full ring: undo three receives (latest
       first, as nested interrupted calls would), then push one past the
       capacity so the ring grows while wrapped. */
    for (int start = 0; start < 6; start++) {
        gc_chan *ch = gc_chan_new(5);
        void *v, *taken[3];
        bool ok;
        long next_in = 0, next_out = 0;
        for (int i = 0; i < start; i++) {
            CHECK(gc_chan_try_send(ch, VAL(next_in++)) == GC_OK);
            CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(next_out++));
        }
        while (gc_chan_try_send(ch, VAL(next_in)) == GC_OK)
            next_in++;
        for (int k = 0; k < 3; k++)
            CHECK(gc_chan_try_recv(ch, &taken[k], &ok) == GC_OK);
        for (int k = 2; k >= 0; k--)
            CHECK(gc_chan_give_back(ch, taken[k]) == GC_OK);
        CHECK(gc_chan_len(ch) == 5);
        CHECK(gc_chan_give_back(ch, VAL(999)) == GC_OK);
        CHECK(gc_chan_len(ch) == 6);
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(999));
        while (next_out < next_in) {
            CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok);
            CHECKF(v == VAL(next_out), "start %d: got %ld want %ld", start, IDX(v),
                   next_out);
            next_out++;
        }
        CHECK(gc_chan_len(ch) == 0);
        destroy(ch);
    }
}

static void test_give_back_to_blocked_receiver(void)
{
    static const int64_t caps[] = {0, 3, GC_UNBOUNDED};
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        gc_chan *ch = gc_chan_new(caps[ci]);
        struct op r = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
        pthread_t t;
        pthread_create(&t, NULL, do_recv, &r);
        wait_until_waiting(ch, 0, 1);
        CHECK(gc_chan_give_back(ch, VAL(5)) == GC_OK);
        pthread_join(t, NULL);
        CHECK(r.status == GC_OK && r.ok && r.got == VAL(5));
        CHECK(gc_chan_len(ch) == 0); /* handed over, not buffered */
        destroy(ch);
    }
}

static void test_give_back_keeps_blocked_senders_waiting(void)
{
    for (int cap = 0; cap <= 2; cap += 2) {
        gc_chan *ch = gc_chan_new(cap);
        void *v;
        bool ok;
        for (int i = 0; i < cap; i++)
            CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
        struct op s = {ch, 50, GC_FOREVER, GC_NOT_READY, NULL, false};
        pthread_t t;
        pthread_create(&t, NULL, do_send, &s);
        wait_until_waiting(ch, 1, 0);
        CHECK(gc_chan_give_back(ch, VAL(40)) == GC_OK);
        /* The given-back value comes first; taking it frees no room, so the
           sender stays blocked rather than moving into a full ring. */
        CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(40));
        size_t sw, rw;
        waiting(ch, &sw, &rw);
        CHECKF(sw == 1, "cap %d: the sender moved into a full buffer", cap);
        CHECK(gc_chan_len(ch) == (size_t)cap);
        for (int i = 0; i < cap; i++)
            CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(i));
        CHECK(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && v == VAL(50));
        pthread_join(t, NULL);
        CHECK(s.status == GC_OK);
        CHECK(gc_chan_len(ch) == 0);
        destroy(ch);
    }
}

static void test_give_back_after_close(void)
{
    gc_chan *ch = gc_chan_new(0);
    void *v;
    bool ok;
    CHECK(gc_chan_close(ch) == GC_OK);
    CHECK(gc_chan_give_back(ch, VAL(3)) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok && v == VAL(3));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && !ok && v == NULL);
    destroy(ch);
}

/* One thread receives in order and undoes a random half of its receives;
   the sequence it keeps is exactly what was sent, in order. */
struct ordered_sender {
    gc_chan *ch;
    long n;
};

static void *ordered_sender_main(void *arg)
{
    struct ordered_sender *o = arg;
    for (long i = 0; i < o->n; i++)
        EXPECT(send_wait(o->ch, VAL(i), GC_FOREVER) == GC_OK);
    EXPECT(gc_chan_close(o->ch) == GC_OK);
    return NULL;
}

static void test_give_back_keeps_order_under_racing_sender(void)
{
    static const int64_t caps[] = {0, 1, 4, GC_UNBOUNDED};
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        gc_chan *ch = gc_chan_new(caps[ci]);
        struct ordered_sender o = {ch, 500L * scale};
        uint64_t r = derive_seed(4242 + ci);
        pthread_t t;
        pthread_create(&t, NULL, ordered_sender_main, &o);
        long want = 0, undone = 0;
        for (;;) {
            void *v;
            bool ok;
            CHECK(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK);
            if (!ok)
                break;
            CHECKF(v == VAL(want), "cap %" PRId64 ": got %ld want %ld", caps[ci],
                   IDX(v), want);
            if (rnd(&r) & 1) {
                CHECK(gc_chan_give_back(ch, v) == GC_OK);
                undone++;
            } else {
                want++;
            }
        }
        pthread_join(t, NULL);
        CHECKF(want == o.n, "cap %" PRId64 ": kept %ld of %ld", caps[ci], want, o.n);
        CHECK(undone > 0);
        destroy(ch);
    }
}

static void test_handoff_never_buffers(void)
{
    gc_chan *ch = gc_chan_new(4);
    CHECK(gc_chan_try_handoff(ch, VAL(1)) == GC_NOT_READY);
    CHECK(gc_chan_len(ch) == 0);
    struct blocked_recv b = {ch, NULL, 0};
    pthread_create(&b.thread, NULL, blocked_recv_main, &b);
    wait_until_waiting(ch, 0, 1);
    CHECK(gc_chan_try_handoff(ch, VAL(7)) == GC_OK);
    pthread_join(b.thread, NULL);
    CHECK(b.got == VAL(7));
    gc_chan_close(ch);
    CHECK(gc_chan_try_handoff(ch, VAL(1)) == GC_CLOSED);
    destroy(ch);
}

static void test_lifo_receivers_newest_first(void)
{
    gc_chan *ch = gc_chan_new(0);
    gc_chan_set_lifo_receivers(ch);
    struct blocked_recv b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (struct blocked_recv){ch, NULL, 0};
        pthread_create(&b[i].thread, NULL, blocked_recv_main, &b[i]);
        wait_until_waiting(ch, 0, (size_t)i + 1);
    }
    /* One at a time, so each value's receiver is known before the next. */
    for (int k = 0; k < 4; k++) {
        CHECK(gc_chan_try_send(ch, VAL(k)) == GC_OK);
        pthread_join(b[3 - k].thread, NULL);
        CHECK(b[3 - k].got == VAL(k));
    }
    destroy(ch);
}

/* A receive waiting in slices (as an idle pool worker does on the
   free-threaded build) queues again after each one; on a lifo channel it
   goes to the back, or the receiver that has waited longest would become
   the newest and take the next value from one that just arrived. */
struct sliced_recv {
    gc_chan *ch;
    void *got;
    atomic_int slices;
    pthread_t thread;
};

static void *sliced_recv_main(void *arg)
{
    struct sliced_recv *r = arg;
    gc_case c = {r->ch, NULL, false};
    gc_entry entry;
    int order[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &c, 1, &entry, order, order + 1);
    enum gc_status st;
    while ((st = gc_select_wait(&sel, GC_FOREVER, 2 * MS, &res)) == GC_INTERRUPTED)
        atomic_fetch_add(&r->slices, 1);
    r->got = st == GC_OK ? res.value : NULL;
    return NULL;
}

static void test_lifo_receiver_resumed_after_a_slice_stays_oldest(void)
{
    gc_chan *ch = gc_chan_new(0);
    gc_chan_set_lifo_receivers(ch);
    struct sliced_recv oldest = {ch, NULL, 0, 0};
    pthread_create(&oldest.thread, NULL, sliced_recv_main, &oldest);
    wait_until_waiting(ch, 0, 1);
    struct blocked_recv newest = {ch, NULL, 0};
    pthread_create(&newest.thread, NULL, blocked_recv_main, &newest);
    wait_until_waiting(ch, 0, 2);
    /* the sliced one has queued again since the newest arrived */
    for (int seen = atomic_load(&oldest.slices); atomic_load(&oldest.slices) < seen + 2;)
        sleep_us(200);
    wait_until_waiting(ch, 0, 2);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    pthread_join(newest.thread, NULL);
    CHECK(newest.got == VAL(1));
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_OK ||
          send_wait(ch, VAL(2), GC_FOREVER) == GC_OK);
    pthread_join(oldest.thread, NULL);
    CHECK(oldest.got == VAL(2));
    destroy(ch);
}

static void test_wg_counts_and_generations(void)
{
    gc_wg *wg = gc_wg_new();
    CHECK(gc_wg_acquire_gen(wg) == NULL);
    CHECK(gc_wg_add(wg, -1) == GC_CLOSED);
    CHECK(gc_wg_add(wg, 2) == GC_OK);
    gc_wg_gen *first = gc_wg_acquire_gen(wg);
    CHECK(first != NULL);
    CHECK(gc_wg_add(wg, -3) == GC_CLOSED && gc_wg_count(wg) == 2);
    CHECK(gc_wg_add(wg, INT64_MAX) == GC_CLOSED && gc_wg_count(wg) == 2);
    CHECK(gc_wg_add(wg, -1) == GC_OK && !gc_chan_is_closed(gc_wg_gen_chan(first)));
    CHECK(gc_wg_add(wg, -1) == GC_OK && gc_chan_is_closed(gc_wg_gen_chan(first)));
    /* The group leaves zero again while a waiter still holds the old
       generation: the old one stays closed, the new one is open. */
    CHECK(gc_wg_add(wg, 1) == GC_OK);
    gc_wg_gen *second = gc_wg_acquire_gen(wg);
    CHECK(second != first && !gc_chan_is_closed(gc_wg_gen_chan(second)));
    CHECK(gc_chan_is_closed(gc_wg_gen_chan(first)));
    gc_wg_gen_release(first);
    gc_wg_gen_release(second);
    gc_wg_free(wg); /* with a positive count: frees the current generation */
}

struct wg_stress {
    gc_wg *wg;
    atomic_long done_calls;
    long per_thread;
};

static void *wg_done_main(void *arg)
{
    struct wg_stress *s = arg;
    for (long i = 0; i < s->per_thread; i++) {
        atomic_fetch_add(&s->done_calls, 1);
        if (gc_wg_add(s->wg, -1) != GC_OK)
            fail_at(__FILE__, __LINE__, "done below zero");
        if (i % 16 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_wg_wait_sees_every_done(void)
{
    int rounds = 20 * scale;
    for (int r = 0; r < rounds; r++) {
        struct wg_stress s = {gc_wg_new(), 0, 50};
        pthread_t t[4];
        CHECK(gc_wg_add(s.wg, 4 * s.per_thread) == GC_OK);
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, wg_done_main, &s);
        gc_wg_gen *gen = gc_wg_acquire_gen(s.wg);
        if (gen) {
            void *v;
            bool ok = true;
            CHECK(recv_wait(gc_wg_gen_chan(gen), &v, &ok, GC_FOREVER) == GC_OK);
            CHECK(!ok);
            gc_wg_gen_release(gen);
        }
        CHECK(atomic_load(&s.done_calls) == 4 * s.per_thread);
        CHECK(gc_wg_count(s.wg) == 0);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        gc_wg_free(s.wg);
    }
}

/* ---- the worker pool's management, with pthreads as workers ----------- */

struct pool_test {
    gc_pool *pool;
    atomic_int *ran;          /* per job: times run */
    atomic_int threads;       /* worker threads not yet returned */
    atomic_long idle_ns;      /* each worker's idle timeout */
    atomic_long run_spin_ns;  /* how long a job takes */
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
    for (;;) {
        bool ran = job != NULL;
        if (job) {
            gc_pool_job_started(t->pool);
            spin_until(gc_now_ns() + atomic_load(&t->run_spin_ns));
            gc_pool_job_finished(t->pool);
            atomic_fetch_add(&t->ran[IDX(job)], 1); /* the outcome, published */
        }
        job = NULL;
        if (!gc_pool_worker_ready(t->pool, ran))
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
    gc_pool_job_started(pool);
    gc_pool_job_finished(pool); /* about to publish the outcome */
    CHECK(gc_pool_route(pool, false) == GC_ROUTE_NEW_WORKER);
    gc_pool_start_failed(pool);
    CHECK(gc_pool_route(pool, true) == GC_ROUTE_QUEUE);
    gc_pool_send_finished(pool, GC_ROUTE_QUEUE, true);
    /* That worker is spoken for now. */
    CHECK(gc_pool_route(pool, true) == GC_ROUTE_NEW_WORKER);
    gc_pool_start_failed(pool);
    /* Ready, it takes the queued job instead of becoming idle. */
    CHECK(gc_pool_worker_ready(pool, true));
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

/* ---- hub: completions for an event loop ------------------------------- */

/* Wait for the hub's descriptor like an event loop; a post that leaves
   the stack non-empty without a readable descriptor is a lost wake-up. */
static bool hub_wait_readable(gc_hub *h, int timeout_ms)
{
    struct pollfd p = {.fd = gc_hub_fd(h), .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    return n > 0;
}

struct hub_poster {
    gc_waiter *waiters;
    int n;
    uint64_t rng;
    _Atomic int *claimed_by; /* per waiter: poster id + 1 */
    int id;
};

static void *hub_poster_main(void *arg)
{
    /* Every waiter, from a random starting point: each is claimed by some
       poster unless its owner aborted it first. */
    struct hub_poster *p = arg;
    int start = (int)(rnd(&p->rng) % (uint64_t)p->n);
    for (int k = 0; k < p->n; k++) {
        int i = (start + k) % p->n;
        gc_waiter *w = &p->waiters[i];
        if (!gc_waiter_claim(w))
            continue;
        atomic_store(&p->claimed_by[i], p->id + 1);
        w->value = VAL(i);
        w->chosen = p->id;
        if (rnd(&p->rng) % 8 == 0)
            gc_yield(); /* finish late: the owner's abort must wait it out */
        gc_waiter_finish(w);
    }
    return NULL;
}

static void test_hub_posts_each_waiter_once(void)
{
    /* Posters claim and finish waiters that name a hub; the owner aborts
       some and drains the rest as a loop would: every waiter ends exactly
       once (handed back DONE, or aborted, never both), no wake-up is lost
       (the descriptor is readable whenever completions wait), and there is
       at most one descriptor write per post.  The creator's reference goes
       first, so the last release may be a poster's. */
    enum { POSTERS = 3 };
    int n = 200 * scale;
    gc_hub *h = gc_hub_new();
    CHECK(h != NULL);
    gc_waiter *ws = calloc((size_t)n, sizeof *ws);
    _Atomic int *claimed_by = calloc((size_t)n, sizeof *claimed_by);
    char *seen = calloc((size_t)n, 1);
    CHECK(ws && claimed_by && seen);
    for (int i = 0; i < n; i++) {
        gc_waiter_reset(&ws[i]);
        ws[i].hub = h;
        gc_hub_retain(h); /* the waiter's owner keeps the hub */
    }
    gc_hub_retain(h); /* this test's, to read the stats at the end */
    gc_hub_release(h); /* the creator's */
    uint64_t rng = derive_seed(11);
    pthread_t t[POSTERS];
    struct hub_poster ps[POSTERS];
    for (int k = 0; k < POSTERS; k++) {
        ps[k] = (struct hub_poster){ws, n, derive_seed(100 + (uint64_t)k),
                                    claimed_by, k};
        pthread_create(&t[k], NULL, hub_poster_main, &ps[k]);
    }
    int ended = 0, taken = 0, next_abort = 0;
    while (ended < n && !test_failed()) {
        /* the owner gives up on some waiters as it goes */
        for (int j = 0; j < 8 && next_abort < n; j++, next_abort++) {
            if (rnd(&rng) % 3 == 0 && gc_waiter_abort(&ws[next_abort])) {
                seen[next_abort] = 2;
                ended++;
                gc_hub_release(h);
            }
        }
        bool readable = hub_wait_readable(h, next_abort < n ? 0 : 5000);
        if (!readable) {
            CHECKF(!gc_hub_pending(h) || next_abort < n,
                   "completions waiting, no wake-up (%d of %d ended)", ended, n);
            continue;
        }
        for (gc_waiter *w = gc_hub_take(h); w;) {
            gc_waiter *next = w->hub_next;
            long i = IDX(w->value);
            CHECK(i >= 0 && i < n && w == &ws[i]);
            CHECK(gc_waiter_state(w) == GC_W_DONE);
            CHECKF(!seen[i], "waiter %ld ended twice", i);
            CHECK(atomic_load(&claimed_by[i]) == w->chosen + 1);
            seen[i] = 1;
            taken++;
            ended++;
            gc_hub_release(h);
            w = next;
        }
    }
    for (int k = 0; k < POSTERS; k++)
        pthread_join(t[k], NULL);
    gc_hub_stats st;
    gc_hub_get_stats(h, &st);
    CHECK(st.posts == (uint64_t)taken);
    CHECKF(st.signals <= st.posts && st.takes <= st.signals,
           "posts %" PRIu64 " signals %" PRIu64 " takes %" PRIu64, st.posts,
           st.signals, st.takes);
    CHECK(gc_hub_take(h) == NULL);
    gc_hub_release(h); /* the last reference: the hub goes */
    free(ws);
    free((void *)claimed_by);
    free(seen);
}

struct hub_late_poster {
    gc_waiter *w;
    long delay_us;
};

static void *hub_late_poster_main(void *arg)
{
    struct hub_late_poster *p = arg;
    sleep_us(p->delay_us);
    if (gc_waiter_claim(p->w))
        gc_waiter_finish(p->w);
    return NULL;
}

static void test_hub_wait_consumes_the_signal(void)
{
    /* The watcher of a loop without a reader: gc_hub_wait returns when a
       post signals, says whether a take would return something, and
       consumes the signal, so the next wait sleeps instead of returning at
       once; a post after that wait signals again. */
    gc_hub *h = gc_hub_new();
    CHECK(h != NULL);
    CHECK(!gc_hub_wait(h, 0));
    gc_waiter ws[2];
    for (int i = 0; i < 2; i++) {
        gc_waiter_reset(&ws[i]);
        ws[i].hub = h;
    }
    /* a post from another thread wakes a long wait */
    struct hub_late_poster p = {&ws[0], 20000};
    pthread_t t;
    pthread_create(&t, NULL, hub_late_poster_main, &p);
    CHECK(gc_hub_wait(h, 10000));
    pthread_join(t, NULL);
    CHECK(!hub_wait_readable(h, 0)); /* consumed */
    CHECK(gc_hub_wait(h, 0));        /* still there to take */
    /* a second post onto the non-empty stack is taken with the first */
    CHECK(gc_waiter_claim(&ws[1]));
    gc_waiter_finish(&ws[1]);
    gc_waiter *w = gc_hub_take(h);
    CHECK(w == &ws[0] && w->hub_next == &ws[1] && ws[1].hub_next == NULL);
    CHECK(!gc_hub_wait(h, 0));
    /* after the take, a post signals again */
    gc_waiter_reset(&ws[0]);
    ws[0].hub = h;
    CHECK(gc_waiter_claim(&ws[0]));
    gc_waiter_finish(&ws[0]);
    CHECK(hub_wait_readable(h, 0));
    CHECK(gc_hub_wait(h, 0));
    CHECK(gc_hub_take(h) == &ws[0]);
    gc_hub_release(h);
}

struct hub_sender {
    gc_chan *ch;
    long first, count;
};

static void *hub_sender_main(void *arg)
{
    struct hub_sender *s = arg;
    for (long i = s->first; i < s->first + s->count; i++)
        EXPECT(send_wait(s->ch, VAL(i), GC_FOREVER) == GC_OK);
    return NULL;
}

struct hub_op {
    gc_case cases[2];
    gc_entry entries[2];
    int orders[4];
    gc_select sel;
    bool parked;
};

static void test_hub_selects_get_each_value_once(void)
{
    /* An event loop's receives on two channels: each a select registered
       with gc_select_register and finished through the hub by blocked
       thread senders (claims made inside their own waits), some aborted
       at random.  Every value is received exactly once. */
    enum { OPS = 16, SENDERS = 4 };
    long per = 50L * scale, total = per * SENDERS;
    gc_chan *chs[2] = {gc_chan_new(0), gc_chan_new(2)};
    gc_hub *h = gc_hub_new();
    CHECK(h != NULL);
    pthread_t t[SENDERS];
    struct hub_sender ss[SENDERS];
    for (int k = 0; k < SENDERS; k++) {
        ss[k] = (struct hub_sender){chs[k % 2], k * per, per};
        pthread_create(&t[k], NULL, hub_sender_main, &ss[k]);
    }
    char *got = calloc((size_t)total, 1);
    struct hub_op *ops = calloc(OPS, sizeof *ops);
    CHECK(got && ops);
    uint64_t rng = derive_seed(12);
    long received = 0;
    while (received < total) {
        for (int k = 0; k < OPS; k++) {
            struct hub_op *op = &ops[k];
            if (op->parked) {
                if (rnd(&rng) % 16 == 0 && gc_waiter_abort(&op->sel.waiter)) {
                    gc_select_unregister(&op->sel);
                    op->parked = false;
                }
                continue;
            }
            op->cases[0] = (gc_case){chs[0], NULL, false};
            op->cases[1] = (gc_case){chs[1], NULL, false};
            gc_select_init(&op->sel, op->cases, 2, op->entries, op->orders,
                           op->orders + 2);
            gc_select_result res;
            enum gc_status st = gc_select_register(&op->sel, h, &res);
            if (st == GC_NOT_READY) {
                op->parked = true;
                continue;
            }
            CHECK(st == GC_OK && res.ok);
            long i = IDX(res.value);
            CHECKF(!got[i], "value %ld received twice", i);
            got[i] = 1;
            received++;
        }
        if (!hub_wait_readable(h, 2))
            continue;
        for (gc_waiter *w = gc_hub_take(h); w;) {
            gc_waiter *next = w->hub_next;
            struct hub_op *op =
                (struct hub_op *)((char *)w - offsetof(struct hub_op, sel) -
                                  offsetof(gc_select, waiter));
            CHECK(op->parked);
            gc_select_unregister(&op->sel);
            gc_select_result res;
            CHECK(gc_select_committed(&op->sel, &res) == GC_OK && res.ok);
            long i = IDX(res.value);
            CHECKF(!got[i], "value %ld received twice", i);
            got[i] = 1;
            received++;
            op->parked = false;
            w = next;
        }
        if (test_failed())
            break;
    }
    for (int k = 0; k < SENDERS; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < OPS; k++) {
        if (!ops[k].parked)
            continue;
        CHECK(gc_waiter_abort(&ops[k].sel.waiter)); /* nothing left to send */
        gc_select_unregister(&ops[k].sel);
    }
    free(got);
    free(ops);
    gc_hub_release(h);
    destroy(chs[0]);
    destroy(chs[1]);
}

/* ---- fork ----------------------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define FORK_CHILD_MAY_START_THREADS 0 /* TSan: not after a threaded fork */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FORK_CHILD_MAY_START_THREADS 0
#endif
#endif
#ifndef FORK_CHILD_MAY_START_THREADS
#define FORK_CHILD_MAY_START_THREADS 1
#endif

/* Wait for a child; a child that does not exit in time is deadlocked:
   killed and reported.  Returns its exit status, or -1. */
static int wait_child(pid_t pid, int seconds)
{
    int64_t until = gc_now_ns() + (int64_t)seconds * 1000 * MS;
    int status;
    while (gc_now_ns() < until) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_us(500);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* A receiver blocked in the parent does not exist in the child: a send
   there must not "succeed" into its queued entry. */
static void test_fork_forgets_waiters_of_other_threads(void)
{
    gc_chan *ch = gc_chan_new(0);
    struct op rcv = {.ch = ch, .deadline = GC_FOREVER};
    pthread_t t;
    pthread_create(&t, NULL, do_recv, &rcv);
    wait_until_waiting(ch, 0, 1);
    pid_t pid = fork();
    if (pid == 0) {
        size_t s, r;
        gc_chan_count_waiting(ch, &s, &r);
        int code = 0;
        if (r != 0)
            code = 1;
        else if (gc_chan_try_send(ch, VAL(1)) != GC_NOT_READY)
            code = 2; /* handed to a receiver that is gone */
        else if (send_wait(ch, VAL(1), gc_deadline_after(0.01)) != GC_TIMEOUT)
            code = 3;
        _exit(code);
    }
    CHECK(pid > 0);
    int code = wait_child(pid, 20);
    CHECKF(code == 0, "child exit %d", code);
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_OK); /* the parent's is real */
    pthread_join(t, NULL);
    CHECK(rcv.status == GC_OK && rcv.got == VAL(2));
    destroy(ch);
}

/* Threads hammer channels, selects, contexts and timers while the main
   thread forks again and again: every child must find every lock free and
   every structure whole. */
enum { HAMMER_CHANS = 4, HAMMER_THREADS = 4 };
struct hammer {
    gc_chan *chans[HAMMER_CHANS];
    gc_ctx *root;
    _Atomic bool stop;
    uint64_t seed;
    int index;
};

static void tick_noop(void *arg) { (void)arg; }

/* Each hammer thread's callback timer, for the child to stop. */
static gc_timer *_Atomic hammer_timers[HAMMER_THREADS];

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    uint64_t r = h->seed;
    gc_timer *cb = gc_timer_new_callback(tick_noop, NULL);
    atomic_store(&hammer_timers[h->index], cb);
    while (!atomic_load(&h->stop)) {
        gc_chan *a = h->chans[rnd(&r) % HAMMER_CHANS];
        gc_chan *b = h->chans[rnd(&r) % HAMMER_CHANS];
        void *v;
        bool ok, was_active;
        switch (rnd(&r) % 6) {
        case 0:
            send_wait(a, VAL(1), gc_deadline_after(0.0002));
            break;
        case 1:
            recv_wait(a, &v, &ok, gc_deadline_after(0.0002));
            break;
        case 2: {
            gc_case cases[2] = {{a, VAL(2), true}, {b, NULL, false}};
            gc_select_result res;
            select_now(cases, 2, gc_deadline_after(0.0002), &res);
            break;
        }
        case 3: {
            gc_ctx *c = gc_ctx_new(h->root, gc_now_ns() + (int64_t)(rnd(&r) % 100000));
            gc_ctx *k = gc_ctx_new(c, GC_FOREVER);
            if (rnd(&r) % 2)
                gc_ctx_cancel(c, GC_CTX_CANCELED, NULL);
            gc_ctx_release(k);
            gc_ctx_release(c);
            break;
        }
        case 4:
            gc_timer_reset(cb, gc_now_ns() + (int64_t)(rnd(&r) % 50000), 0, &was_active);
            break;
        default: {
            gc_chan *tmp = gc_chan_new(1);
            gc_chan_try_send(tmp, VAL(3));
            destroy(tmp);
        }
        }
    }
    atomic_store(&hammer_timers[h->index], NULL);
    gc_timer_free(cb);
    return NULL;
}

static int hammer_child(struct hammer *h)
{
    void *v;
    bool ok, was_active;
    for (int i = 0; i < HAMMER_CHANS; i++) {
        gc_chan *ch = h->chans[i];
        size_t s, r;
        gc_chan_count_waiting(ch, &s, &r);
        if (s || r)
            return 10 + i;
        while (gc_chan_try_recv(ch, &v, &ok) == GC_OK)
            ;
        if (gc_chan_capacity(ch) == 0) {
            if (gc_chan_try_send(ch, VAL(4)) != GC_NOT_READY)
                return 20 + i; /* a receiver that is gone took it */
        } else if (gc_chan_try_send(ch, VAL(4)) != GC_OK ||
                   gc_chan_try_recv(ch, &v, &ok) != GC_OK || v != VAL(4)) {
            return 20 + i;
        }
    }
    gc_ctx *c = gc_ctx_new(h->root, GC_FOREVER);
    gc_ctx_cancel(h->root, GC_CTX_CANCELED, NULL);
    if (!is_done(c))
        return 30;
    gc_ctx_release(c);
    /* a callback left "firing" by the fork would hang these stops */
    for (int i = 0; i < HAMMER_THREADS; i++)
        if (atomic_load(&hammer_timers[i]))
            gc_timer_stop(atomic_load(&hammer_timers[i]));
    gc_timer *t = gc_timer_new_callback(tick_noop, NULL);
    if (FORK_CHILD_MAY_START_THREADS) {
        gc_chan *ch = gc_chan_new(1);
        gc_timer *ct = gc_timer_new(ch);
        gc_timer_reset(ct, gc_now_ns(), 0, &was_active);
        if (recv_wait(ch, &v, &ok, gc_deadline_after(5)) != GC_OK)
            return 40;
        gc_timer_free(ct);
        destroy(ch);
        gc_timer_reset(t, gc_now_ns() + 1000 * MS, 0, &was_active);
    }
    gc_timer_stop(t);
    gc_timer_free(t);
    return 0;
}

static void test_fork_while_threads_hammer_everything(void)
{
    struct hammer h = {.root = gc_ctx_new(NULL, GC_FOREVER)};
    for (int i = 0; i < HAMMER_CHANS; i++)
        h.chans[i] = gc_chan_new(i == 0 ? 0 : i == 1 ? 1 : i == 2 ? 16 : GC_UNBOUNDED);
    pthread_t th[HAMMER_THREADS];
    struct hammer hs[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        hs[i] = h;
        hs[i].seed = derive_seed((uint64_t)i + 0xF0);
        hs[i].index = i;
    }
    atomic_store(&h.stop, false);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        atomic_store(&hs[i].stop, false);
        pthread_create(&th[i], NULL, hammer_main, &hs[i]);
    }
    uint64_t r = seed ^ 0xF0F0;
    int forks = 30 * scale;
    for (int i = 0; i < forks && !test_failed(); i++) {
        sleep_us((long)(rnd(&r) % 1000));
        pid_t pid = fork();
        if (pid == 0)
            _exit(hammer_child(&h));
        CHECK(pid > 0);
        int code = wait_child(pid, 20);
        CHECKF(code == 0, "fork %d: child exit %d (-1: deadlocked)", i, code);
    }
    for (int i = 0; i < HAMMER_THREADS; i++)
        atomic_store(&hs[i].stop, true);
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < HAMMER_CHANS; i++)
        destroy(h.chans[i]);
    gc_ctx_release(h.root);
}

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
    printf("seed %" PRIu64 " (GC_TEST_SEED to replay), scale %d\n", seed, scale);
    fflush(stdout);

    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    pthread_detach(dog);

    /* 1. park */
    run("park_timeout_and_changed_word", test_park_timeout_and_changed_word);
    run("unpark_wakes_sleeper", test_unpark_wakes_sleeper);
    run("spin_is_bounded_in_yields_and_in_time", test_spin_is_bounded_in_yields_and_in_time);
    /* 2. waiter protocol */
    run("waiter_transitions", test_waiter_transitions);
    run("waiter_wait_done_after_delayed_finish", test_waiter_wait_done_after_delayed_finish);
    run("waiter_claim_abort_exclusive", test_waiter_claim_abort_exclusive);
    /* 3. channel semantics */
    run("unbuffered_needs_partner", test_unbuffered_needs_partner);
    run("buffered_fifo_and_capacity", test_buffered_fifo_and_capacity);
    run("buffer_against_model", test_buffer_against_model);
    run("unbounded_grows_and_shrinks", test_unbounded_grows_and_shrinks);
    run("close_semantics", test_close_semantics);
    run("count_waiting", test_count_waiting);
    run("visit_and_take_buffer_order", test_visit_and_take_buffer_order);
    /* 4. blocking */
    run("blocked_receiver_gets_value", test_blocked_receiver_gets_value);
    run("blocked_sender_completes", test_blocked_sender_completes);
    run("receivers_served_fifo", test_receivers_served_fifo);
    run("senders_served_fifo", test_senders_served_fifo);
    run("timeouts_have_no_effect", test_timeouts_have_no_effect);
    run("close_wakes_everyone", test_close_wakes_everyone);
    /* 5. select */
    run("select_uniform_choice", test_select_uniform_choice);
    run("select_nil_only_times_out", test_select_nil_only_times_out);
    run("select_same_channel_twice", test_select_same_channel_twice);
    run("select_send_and_recv_same_unbuffered", test_select_send_and_recv_same_unbuffered);
    run("select_commits_one_case", test_select_commits_one_case);
    run("select_one_winner_among_racing_peers", test_select_one_winner_among_racing_peers);
    run("select_woken_by_send_on_any_channel", test_select_woken_by_send_on_any_channel);
    run("select_stop_word_ends_the_wait", test_select_stop_word_ends_the_wait);
    run("select_woken_by_close", test_select_woken_by_close);
    /* 8. interrupt slices and signals */
    run("interrupt_slices_resume", test_interrupt_slices_resume);
#ifdef __linux__
    run("signal_interrupts_sliced_wait", test_signal_interrupts_sliced_wait);
#endif
    /* 6, 7, 9. races */
    run("exactly_once_unbuffered", test_exactly_once_unbuffered);
    run("exactly_once_cap1", test_exactly_once_cap1);
    run("exactly_once_cap16", test_exactly_once_cap16);
    run("exactly_once_unbounded", test_exactly_once_unbounded);
    run("hub_posts_each_waiter_once", test_hub_posts_each_waiter_once);
    run("hub_selects_get_each_value_once", test_hub_selects_get_each_value_once);
    run("hub_wait_consumes_the_signal", test_hub_wait_consumes_the_signal);
    run("close_races_blocked_calls", test_close_races_blocked_calls);
    run("deadline_races_sender", test_deadline_races_sender);
    run("deadline_races_try_send", test_deadline_races_try_send);
    run("deadline_races_select", test_deadline_races_select);
    run("abort_races_claim_tight", test_abort_races_claim_tight);
    /* timers */
    run("timer_fires_once_into_its_channel", test_timer_fires_once_into_its_channel);
    run("timer_stop_leaves_no_stale_value", test_timer_stop_leaves_no_stale_value);
    run("ticker_drops_ticks_for_a_slow_reader", test_ticker_drops_ticks_for_a_slow_reader);
    run("many_timers_racing_stop", test_many_timers_racing_stop);
    run("timer_callback_frees_its_own_timer", test_timer_callback_frees_its_own_timer);
    /* contexts */
    gc_ctx_set_value_hooks((gc_ctx_value_hooks){count_retain, count_release, NULL});
    run("ctx_cancel_reaches_descendants_not_ancestors",
        test_ctx_cancel_reaches_descendants_not_ancestors);
    run("ctx_deep_chain_and_wide_tree", test_ctx_deep_chain_and_wide_tree);
    run("ctx_release_of_long_chain_is_iterative", test_ctx_release_of_long_chain_is_iterative);
    run("ctx_cancel_walk_races_children_leaving", test_ctx_cancel_walk_races_children_leaving);
    run("ctx_child_cancel_unlinks_from_parent", test_ctx_child_cancel_unlinks_from_parent);
    run("ctx_deadlines", test_ctx_deadlines);
    run("ctx_released_while_its_deadline_fires", test_ctx_released_while_its_deadline_fires);
    run("ctx_tree_dropped_while_its_deadline_fires",
        test_ctx_tree_dropped_while_its_deadline_fires);
    run("ctx_after_items", test_ctx_after_items);
    run("ctx_visit_and_take_values", test_ctx_visit_and_take_values);
    run("ctx_deadline_cause", test_ctx_deadline_cause);
    run("ctx_expiring_while_exchanging", test_ctx_expiring_while_exchanging);

    /* hand-off, WaitGroup, pool */
    run("give_back_is_received_first", test_give_back_is_received_first);
    run("give_back_wraps_the_ring", test_give_back_wraps_the_ring);
    run("give_back_to_blocked_receiver", test_give_back_to_blocked_receiver);
    run("give_back_keeps_blocked_senders_waiting",
        test_give_back_keeps_blocked_senders_waiting);
    run("give_back_after_close", test_give_back_after_close);
    run("give_back_keeps_order_under_racing_sender",
        test_give_back_keeps_order_under_racing_sender);
    run("handoff_never_buffers", test_handoff_never_buffers);
    run("lifo_receivers_newest_first", test_lifo_receivers_newest_first);
    run("lifo_receiver_resumed_after_a_slice_stays_oldest",
        test_lifo_receiver_resumed_after_a_slice_stays_oldest);
    run("wg_counts_and_generations", test_wg_counts_and_generations);
    run("wg_wait_sees_every_done", test_wg_wait_sees_every_done);
    run("pool_hands_to_newest_idle_worker_and_expires",
        test_pool_hands_to_newest_idle_worker_and_expires);
    run("pool_resize_both_ways", test_pool_resize_both_ways);
    run("pool_shutdown_refuses_blocked_submitter",
        test_pool_shutdown_refuses_blocked_submitter);
    run("pool_idle_slot_is_taken_once_and_given_back",
        test_pool_idle_slot_is_taken_once_and_given_back);
    run("pool_submit_after_an_outcome_goes_to_its_worker",
        test_pool_submit_after_an_outcome_goes_to_its_worker);
    run("pool_stress_idle_expiry_and_resize", test_pool_stress_idle_expiry_and_resize);

    /* fork */
    run("fork_forgets_waiters_of_other_threads", test_fork_forgets_waiters_of_other_threads);
    run("fork_while_threads_hammer_everything", test_fork_while_threads_hammer_everything);

    printf("%d passed, %d failed\n", passed, failures);
    return failures ? 1 : 0;
}

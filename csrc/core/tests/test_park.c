/* Tests of gc_park: parking on a word with a deadline, unpark, the
   pre-sleep spin, and deadlines from timeouts. */
#include "harness.h"

#include <math.h>

/* ---- park ------------------------------------------------------------- */

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
    /* a deadline already reached: the clock may not have ticked since
       (wine's QueryPerformanceCounter ticks every 100 ns) */
    CHECK(gc_deadline_after(-1.0) <= gc_now_ns());
    CHECK(gc_deadline_after(1e30) == GC_FOREVER);
    CHECK(gc_deadline_after(INFINITY) == GC_FOREVER);
    CHECK(gc_deadline_after(NAN) == GC_FOREVER);
    CHECK(gc_deadline_after(9.2e9) == GC_FOREVER);
}

/* A timed park sleeps until its deadline, whatever clock the park waits on
   underneath (a condvar that cannot use the monotonic clock must not time
   out at once, nor sleep past the deadline by the offset between clocks). */
static void test_timed_park_sleeps_until_its_deadline(void)
{
    _Atomic uint32_t word = 0;
    const int64_t waits[] = {1 * MS, 20 * MS, 60 * MS};
    for (size_t i = 0; i < sizeof waits / sizeof *waits; i++) {
        int64_t t0 = gc_now_ns(), deadline = t0 + waits[i];
        int parks = 0;
        enum gc_park_result r;
        do {
            r = gc_park(&word, 0, deadline);
            parks++;
        } while (r == GC_PARK_WOKEN && parks < 1000);
        int64_t slept = gc_now_ns() - t0;
        CHECKF(r == GC_PARK_TIMEOUT, "wait %" PRId64 " ns: result %d", waits[i], (int)r);
        CHECKF(slept >= waits[i], "wait %" PRId64 " ns: back after %" PRId64 " ns",
               waits[i], slept);
        CHECKF(slept < waits[i] + 2000 * MS, "wait %" PRId64 " ns: slept %" PRId64 " ns",
               waits[i], slept);
        /* nobody unparks: a few spurious wake-ups at most, not a spin */
        CHECKF(parks < 50, "wait %" PRId64 " ns: %d parks", waits[i], parks);
    }
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

static const struct test_case tests[] = {
    {"park_timeout_and_changed_word", test_park_timeout_and_changed_word},
    {"timed_park_sleeps_until_its_deadline",
     test_timed_park_sleeps_until_its_deadline},
    {"unpark_wakes_sleeper", test_unpark_wakes_sleeper},
    {"spin_is_bounded_in_yields_and_in_time",
     test_spin_is_bounded_in_yields_and_in_time},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

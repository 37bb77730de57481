/* Tests of gc_waiter: the WAITING -> CLAIMED -> DONE / ABORTED word, and
   claimers racing the owner's abort. */
#include "harness.h"

#include "gc_waiter.h"

/* ---- waiter protocol -------------------------------------------------- */

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

static const struct test_case tests[] = {
    {"waiter_transitions", test_waiter_transitions},
    {"waiter_wait_done_after_delayed_finish",
     test_waiter_wait_done_after_delayed_finish},
    {"waiter_claim_abort_exclusive", test_waiter_claim_abort_exclusive},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

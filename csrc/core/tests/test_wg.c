/* Tests of gc_wg: the WaitGroup's count and its generations. */
#include "harness.h"

#include <sched.h>

#include "gc_wg.h"

/* ---- WaitGroup --------------------------------------------------------- */

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

static const struct test_case tests[] = {
    {"wg_counts_and_generations", test_wg_counts_and_generations},
    {"wg_wait_sees_every_done", test_wg_wait_sees_every_done},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

/* Tests of gc_timer: one-shot and periodic timers into channels, stop and
   reset, callback timers. */
#include "harness.h"

#include "gc_timer.h"

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

static void test_timer_armed_while_pending(void)
{
    gc_chan *ch = gc_chan_new(1);
    gc_timer *t = gc_timer_new(ch);
    bool was_active;
    void *v;
    bool ok;
    CHECK(!gc_timer_armed(t)); /* never set */
    CHECK(gc_timer_reset(t, gc_now_ns() + 1000000000, 0, &was_active) == GC_OK);
    CHECK(gc_timer_armed(t));
    CHECK(gc_timer_stop(t));
    CHECK(!gc_timer_armed(t)); /* stopped */
    CHECK(gc_timer_reset(t, gc_now_ns(), 0, &was_active) == GC_OK);
    CHECK(recv_wait(ch, &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(!gc_timer_armed(t)); /* fired: a one-shot timer is done */
    CHECK(gc_timer_reset(t, gc_now_ns() + 1000000, 1000000, &was_active) == GC_OK);
    CHECK(recv_wait(ch, &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(gc_timer_armed(t)); /* a ticker stays pending */
    gc_timer_stop(t);
    CHECK(!gc_timer_armed(t));
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
    /* How many already fired depends on the machine (a loaded one under
       TSan can take the whole 3 ms to arm them): only the bound holds. */
    CHECK(gc_timer_pending() <= N);
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

static const struct test_case tests[] = {
    {"timer_fires_once_into_its_channel",
     test_timer_fires_once_into_its_channel},
    {"timer_stop_leaves_no_stale_value", test_timer_stop_leaves_no_stale_value},
    {"timer_armed_while_pending", test_timer_armed_while_pending},
    {"ticker_drops_ticks_for_a_slow_reader",
     test_ticker_drops_ticks_for_a_slow_reader},
    {"many_timers_racing_stop", test_many_timers_racing_stop},
    {"timer_callback_frees_its_own_timer",
     test_timer_callback_frees_its_own_timer},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

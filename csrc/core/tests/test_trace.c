/* Tests of gc_trace: the ring buffer, and the events channels record, with
   the numbers that pair each send with its receive (give-back included). */
#include "harness.h"

#include "gc_trace.h"

static uint64_t this_thread(void)
{
    return (uint64_t)(uintptr_t)pthread_self();
}

static gc_trace_event *stop(size_t *n)
{
    uint64_t dropped;
    gc_trace_event *ev = gc_trace_stop(n, &dropped);
    EXPECT(dropped == 0);
    return ev;
}

/* The events of one kind on one channel, in recording order. */
static size_t select_events(const gc_trace_event *ev, size_t n, uint32_t kind,
                            uint64_t chan, gc_trace_event *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == kind && ev[i].chan == chan && k < max)
            out[k++] = ev[i];
    return k;
}

static void test_ring_keeps_the_newest_and_counts_the_dropped(void)
{
    size_t n;
    uint64_t dropped;
    CHECK(gc_trace_stop(&n, &dropped) == NULL && n == 0 && dropped == 0);
    CHECK(!gc_trace_on());
    gc_trace_record(GC_TRACE_SEND, 1, 1, 1); /* off: nothing */
    CHECK(gc_trace_start(4, this_thread) == 0);
    CHECK(gc_trace_on());
    CHECK(gc_trace_start(4, this_thread) == 1); /* one at a time */
    for (int i = 0; i < 10; i++)
        gc_trace_record(GC_TRACE_SEND, 7, (uint64_t)i, 100 + i);
    gc_trace_event *ev = gc_trace_stop(&n, &dropped);
    CHECK(!gc_trace_on());
    CHECK(n == 4 && dropped == 6);
    for (size_t i = 0; i < n; i++) {
        CHECKF(ev[i].seq == 6 + i && ev[i].ts_ns == (int64_t)(106 + i),
               "event %zu: seq %" PRIu64, i, ev[i].seq);
        CHECK(ev[i].thread == this_thread() && ev[i].chan == 7);
    }
    free(ev);
    /* exactly full: nothing dropped, in order */
    CHECK(gc_trace_start(3, this_thread) == 0);
    for (int i = 0; i < 3; i++)
        gc_trace_record(GC_TRACE_RECV, 1, (uint64_t)i, i);
    ev = gc_trace_stop(&n, &dropped);
    CHECK(n == 3 && dropped == 0 && ev[0].seq == 0 && ev[2].seq == 2);
    free(ev);
}

static void test_buffered_numbers_and_give_back(void)
{
    gc_chan *ch = gc_chan_new(4);
    uint64_t id = gc_chan_id(ch);
    void *v;
    bool ok;
    CHECK(gc_chan_try_send(ch, VAL(0)) == GC_OK); /* before the recording */
    CHECK(gc_trace_start(64, this_thread) == 0);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(0));
    CHECK(gc_chan_give_back(ch, v) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(0));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    CHECK(gc_chan_give_back(ch, v) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    size_t n;
    gc_trace_event *ev = stop(&n);
    gc_trace_event got[16];
    CHECK(select_events(ev, n, GC_TRACE_SEND, id, got, 16) == 2);
    CHECK(got[0].seq == 2 && got[1].seq == 3); /* value 0 was number 0 */
    size_t r = select_events(ev, n, GC_TRACE_RECV, id, got, 16);
    CHECK(r == 5);
    static const uint64_t want[] = {1, 1, 2, 2, 3};
    for (size_t i = 0; i < r; i++)
        CHECKF(got[i].seq == want[i], "receive %zu: %" PRIu64, i, got[i].seq);
    CHECK(select_events(ev, n, GC_TRACE_GIVE_BACK, id, got, 16) == 2);
    CHECK(got[0].seq == 1 && got[1].seq == 2);
    free(ev);
    destroy(ch);
}

/* Two receivers: A takes value 0, B value 1, A gives value 0 back.  The
   next receive takes value 0 again and must say so (a count of receives
   alone would call it 1). */
struct giver {
    gc_chan *ch;
    atomic_int step;
};

static void *giver_main(void *arg)
{
    struct giver *g = arg;
    void *v;
    bool ok;
    EXPECT(gc_chan_try_recv(g->ch, &v, &ok) == GC_OK && v == VAL(0));
    atomic_store(&g->step, 1);
    while (atomic_load(&g->step) != 2)
        sleep_us(100);
    EXPECT(gc_chan_give_back(g->ch, v) == GC_OK);
    return NULL;
}

static void test_give_back_keeps_its_number_across_threads(void)
{
    gc_chan *ch = gc_chan_new(4);
    uint64_t id = gc_chan_id(ch);
    CHECK(gc_trace_start(64, this_thread) == 0);
    for (long i = 0; i < 3; i++)
        CHECK(gc_chan_try_send(ch, VAL(i)) == GC_OK);
    struct giver g = {ch, 0};
    pthread_t t;
    pthread_create(&t, NULL, giver_main, &g);
    while (atomic_load(&g.step) != 1)
        sleep_us(100);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    atomic_store(&g.step, 2);
    pthread_join(t, NULL);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(0));
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    size_t n;
    gc_trace_event *ev = stop(&n);
    gc_trace_event got[16];
    size_t r = select_events(ev, n, GC_TRACE_RECV, id, got, 16);
    CHECK(r == 4);
    static const uint64_t want[] = {1, 2, 1, 3};
    for (size_t i = 0; i < r; i++)
        CHECKF(got[i].seq == want[i], "receive %zu: %" PRIu64, i, got[i].seq);
    CHECK(got[0].thread != got[1].thread);
    free(ev);
    destroy(ch);
}

static void test_blocked_calls_park_wake_and_pair(void)
{
    gc_chan *ch = gc_chan_new(0);
    uint64_t id = gc_chan_id(ch);
    CHECK(gc_trace_start(64, this_thread) == 0);
    struct op r = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_recv, &r);
    wait_until_waiting(ch, 0, 1);
    CHECK(gc_chan_try_send(ch, VAL(5)) == GC_OK);
    pthread_join(t, NULL);
    /* a blocked sender, taken by a receive */
    struct op s = {ch, 6, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_create(&t, NULL, do_send, &s);
    wait_until_waiting(ch, 1, 0);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(6));
    pthread_join(t, NULL);
    size_t n;
    gc_trace_event *ev = stop(&n);
    gc_trace_event sends[4], recvs[4], parks[4], wakes[4];
    CHECK(select_events(ev, n, GC_TRACE_SEND, id, sends, 4) == 2);
    CHECK(select_events(ev, n, GC_TRACE_RECV, id, recvs, 4) == 2);
    CHECK(select_events(ev, n, GC_TRACE_PARK, id, parks, 4) == 2);
    CHECK(select_events(ev, n, GC_TRACE_WAKE, id, wakes, 4) == 2);
    /* first value: sent here, received by the parked thread */
    CHECK(sends[0].seq == 1 && recvs[0].seq == 1);
    CHECK(sends[0].thread == this_thread() && recvs[0].thread != this_thread());
    CHECK(recvs[0].thread == parks[0].thread && parks[0].seq == wakes[0].seq);
    CHECK(parks[0].ts_ns <= recvs[0].ts_ns && recvs[0].ts_ns <= wakes[0].ts_ns);
    CHECK(sends[0].ts_ns == recvs[0].ts_ns); /* one commit */
    /* second: sent by the parked thread, received here */
    CHECK(sends[1].seq == 2 && recvs[1].seq == 2);
    CHECK(sends[1].thread == parks[1].thread && recvs[1].thread == this_thread());
    free(ev);
    destroy(ch);
}

/* A sender that commits the moment a receiver is queued, round after
   round: each park must still begin no later than the receive that ends it
   (the park's time was once read after its entries were queued, so a fast
   sender could record the receive first), and end no earlier (a wait the
   pre-sleep spin saw answered once ended at the spin's last clock reading,
   which can precede the commit). */
enum { EAGER_ROUNDS = 2000 };

static void *receive_rounds_main(void *arg)
{
    gc_chan *ch = arg;
    for (long i = 0; i < EAGER_ROUNDS; i++) {
        void *v;
        bool ok;
        EXPECT(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && v == VAL(i));
    }
    return NULL;
}

static void test_park_begins_before_an_eager_commit(void)
{
    gc_chan *ch = gc_chan_new(0);
    uint64_t id = gc_chan_id(ch);
    CHECK(gc_trace_start(8 * EAGER_ROUNDS, this_thread) == 0);
    pthread_t t;
    pthread_create(&t, NULL, receive_rounds_main, ch);
    for (long i = 0; i < EAGER_ROUNDS; i++) {
        size_t s, r;
        do
            gc_chan_count_waiting(ch, &s, &r);
        while (r == 0);
        EXPECT(gc_chan_try_send(ch, VAL(i)) == GC_OK);
    }
    pthread_join(t, NULL);
    size_t n;
    gc_trace_event *ev = stop(&n);
    static gc_trace_event recvs[EAGER_ROUNDS], parks[EAGER_ROUNDS],
        wakes[EAGER_ROUNDS];
    CHECK(select_events(ev, n, GC_TRACE_RECV, id, recvs, EAGER_ROUNDS) ==
          EAGER_ROUNDS);
    CHECK(select_events(ev, n, GC_TRACE_PARK, id, parks, EAGER_ROUNDS) ==
          EAGER_ROUNDS);
    CHECK(select_events(ev, n, GC_TRACE_WAKE, id, wakes, EAGER_ROUNDS) ==
          EAGER_ROUNDS);
    int early = 0, late = 0;
    for (size_t i = 0; i < EAGER_ROUNDS; i++) {
        early += recvs[i].ts_ns < parks[i].ts_ns;
        late += recvs[i].ts_ns > wakes[i].ts_ns;
    }
    CHECKF(early == 0, "%d of %d receives recorded before their park", early,
           EAGER_ROUNDS);
    CHECKF(late == 0, "%d of %d receives recorded after their wake-up", late,
           EAGER_ROUNDS);
    free(ev);
    destroy(ch);
}

/* A receiver that parked gets its value from a sender, who records the
   receive on the receiver's track; the receiver then gives it back: the
   give-back and the next receive carry that value's number, not the one
   of the receiver's previous receive. */
static void *recv_twice_give_back_main(void *arg)
{
    gc_chan *ch = arg;
    void *v;
    bool ok;
    EXPECT(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(0));
    EXPECT(recv_wait(ch, &v, &ok, GC_FOREVER) == GC_OK && v == VAL(1));
    EXPECT(gc_chan_give_back(ch, v) == GC_OK);
    return NULL;
}

static void test_parked_receive_given_back(void)
{
    gc_chan *ch = gc_chan_new(4);
    uint64_t id = gc_chan_id(ch);
    CHECK(gc_trace_start(64, this_thread) == 0);
    CHECK(gc_chan_try_send(ch, VAL(0)) == GC_OK);
    pthread_t t;
    pthread_create(&t, NULL, recv_twice_give_back_main, ch);
    wait_until_waiting(ch, 0, 1);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    pthread_join(t, NULL);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(1));
    size_t n;
    gc_trace_event *ev = stop(&n);
    gc_trace_event got[8];
    CHECK(select_events(ev, n, GC_TRACE_GIVE_BACK, id, got, 8) == 1);
    CHECKF(got[0].seq == 2, "given back: %" PRIu64, got[0].seq);
    size_t r = select_events(ev, n, GC_TRACE_RECV, id, got, 8);
    CHECK(r == 3 && got[0].seq == 1 && got[1].seq == 2 && got[2].seq == 2);
    CHECK(got[0].thread == got[1].thread && got[2].thread == this_thread());
    free(ev);
    destroy(ch);
}

struct storm {
    gc_chan *ch;
    int rounds;
    uint64_t rng;
};

static void *storm_send(void *arg)
{
    struct storm *s = arg;
    for (int i = 0; i < s->rounds; i++)
        EXPECT(send_wait(s->ch, VAL(i), GC_FOREVER) == GC_OK);
    return NULL;
}

static void *storm_recv(void *arg)
{
    struct storm *s = arg;
    for (int i = 0; i < s->rounds; i++) {
        void *v;
        bool ok;
        EXPECT(recv_wait(s->ch, &v, &ok, GC_FOREVER) == GC_OK && ok);
        /* now and then the receive is undone and done again */
        if (rnd(&s->rng) % 8 == 0) {
            EXPECT(gc_chan_give_back(s->ch, v) == GC_OK);
            i--;
        }
    }
    return NULL;
}

/* Every value sent while recording is received exactly once for good: per
   number, one SEND, and RECVs one more than the GIVE_BACKs. */
static void test_storm_pairs_every_send(void)
{
    static const int64_t caps[] = {0, 1, 5};
    enum { SIDES = 3 };
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        gc_chan *ch = gc_chan_new(caps[ci]);
        uint64_t id = gc_chan_id(ch);
        int rounds = 20 * scale;
        size_t cap = (size_t)rounds * SIDES * 8 + 1024;
        CHECK(gc_trace_start(cap, this_thread) == 0);
        struct storm args[2 * SIDES];
        pthread_t threads[2 * SIDES];
        for (int k = 0; k < 2 * SIDES; k++) {
            args[k] = (struct storm){ch, rounds, derive_seed(ci * 8 + k)};
            pthread_create(&threads[k], NULL, k < SIDES ? storm_send : storm_recv,
                           &args[k]);
        }
        for (int k = 0; k < 2 * SIDES; k++)
            pthread_join(threads[k], NULL);
        size_t n;
        gc_trace_event *ev = stop(&n);
        size_t total = (size_t)rounds * SIDES;
        int *sends = calloc(total + 1, sizeof(int));
        int *recvs = calloc(total + 1, sizeof(int));
        int *backs = calloc(total + 1, sizeof(int));
        bool in_range = true;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].chan != id || ev[i].kind == GC_TRACE_PARK ||
                ev[i].kind == GC_TRACE_WAKE)
                continue;
            if (ev[i].seq < 1 || ev[i].seq > total) {
                in_range = false;
                continue;
            }
            int *count = ev[i].kind == GC_TRACE_SEND   ? sends
                         : ev[i].kind == GC_TRACE_RECV ? recvs
                                                       : backs;
            count[ev[i].seq]++;
        }
        CHECK(in_range);
        for (size_t k = 1; k <= total; k++)
            CHECKF(sends[k] == 1 && recvs[k] == backs[k] + 1,
                   "capacity %" PRId64 " value %zu: %d sends, %d receives, "
                   "%d given back", caps[ci], k, sends[k], recvs[k], backs[k]);
        free(sends);
        free(recvs);
        free(backs);
        free(ev);
        destroy(ch);
    }
}

/* Values taken out of the buffer unreceived (a timer's stale value) leave
   the numbering of the next ones as it should be. */
static void test_discarded_values_keep_the_numbering(void)
{
    gc_chan *ch = gc_chan_new(4);
    uint64_t id = gc_chan_id(ch);
    CHECK(gc_trace_start(32, this_thread) == 0);
    CHECK(gc_chan_try_send(ch, VAL(0)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    size_t count;
    free(gc_chan_take_buffer(ch, &count));
    CHECK(count == 2);
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_OK);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    size_t n;
    gc_trace_event *ev = stop(&n);
    gc_trace_event got[8];
    CHECK(select_events(ev, n, GC_TRACE_SEND, id, got, 8) == 3 && got[2].seq == 3);
    CHECK(select_events(ev, n, GC_TRACE_RECV, id, got, 8) == 1);
    CHECKF(got[0].seq == 3, "received number %" PRIu64, got[0].seq);
    gc_chan_stats s;
    gc_chan_get_stats(ch, &s);
    CHECK(s.sends == 3 && s.receives == 1 && s.length == 0);
    free(ev);
    destroy(ch);
}

static void test_nothing_recorded_when_off(void)
{
    gc_chan *ch = gc_chan_new(1);
    void *v;
    bool ok;
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK);
    CHECK(gc_trace_start(8, this_thread) == 0);
    size_t n;
    gc_trace_event *ev = stop(&n);
    CHECK(ev == NULL && n == 0);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    CHECK(gc_trace_start(8, this_thread) == 0);
    ev = stop(&n);
    CHECK(ev == NULL && n == 0);
    destroy(ch);
}

static const struct test_case tests[] = {
    {"ring_keeps_the_newest_and_counts_the_dropped",
     test_ring_keeps_the_newest_and_counts_the_dropped},
    {"buffered_numbers_and_give_back", test_buffered_numbers_and_give_back},
    {"give_back_keeps_its_number_across_threads",
     test_give_back_keeps_its_number_across_threads},
    {"blocked_calls_park_wake_and_pair", test_blocked_calls_park_wake_and_pair},
    {"park_begins_before_an_eager_commit",
     test_park_begins_before_an_eager_commit},
    {"parked_receive_given_back", test_parked_receive_given_back},
    {"storm_pairs_every_send", test_storm_pairs_every_send},
    {"discarded_values_keep_the_numbering",
     test_discarded_values_keep_the_numbering},
    {"nothing_recorded_when_off", test_nothing_recorded_when_off},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

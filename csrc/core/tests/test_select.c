/* Tests of gc_select: fair choice, nil cases, one commit among racing
   peers, wake-ups by send and close, stop words, interrupt slices and
   signals. */
#include "harness.h"

#include <math.h>
#include <signal.h>

#include "gc_chan_impl.h" /* white-box: the receive queue, to wake its waiter */

/* ---- select ----------------------------------------------------------- */

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
        gc_mutex_lock(&op.ch->lock);
        gc_unpark(&op.ch->recvq.head->waiter->state);
        gc_mutex_unlock(&op.ch->lock);
        sleep_us(1000);
    }
    CHECK(!atomic_load(&op.returned));
    atomic_store(&op.stop, 7);
    /* a wake-up before the sleep is lost: wake until it has returned */
    while (!atomic_load(&op.returned)) {
        gc_mutex_lock(&op.ch->lock);
        if (op.ch->recvq.head)
            gc_unpark(&op.ch->recvq.head->waiter->state);
        gc_mutex_unlock(&op.ch->lock);
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
/* ---- interrupt slices and signals ------------------------------------- */

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
    while ((st = gc_select_wait(&sel, GC_FOREVER, 2 * MS, &res)) == GC_INTERRUPTED)
        ;
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
    if (!gc_park_wakes_on_signal()) {
        printf("skip signal_interrupts_sliced_wait: the %s park does not wake "
               "on a signal\n", GC_PLATFORM_PARK);
        return;
    }
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


/* gc_select_spin (the event loop's pre-park spin) either commits or leaves no
   trace: a peer offering values one at a time loses none of them, whether
   the spin caught the value or gave up and a plain receive took it. */
struct offerer {
    gc_chan *ch;
    int rounds;
};

static void *offer_each_until_taken(void *arg)
{
    struct offerer *o = arg;
    for (int i = 0; i < o->rounds; i++)
        while (gc_chan_try_send(o->ch, VAL(i)) != GC_OK)
            gc_yield();
    return NULL;
}

static void test_select_spin_commits_or_has_no_effect(void)
{
    gc_chan *buffered = gc_chan_new(1);
    CHECK(gc_chan_try_send(buffered, VAL(7)) == GC_OK);
    gc_case ready = {buffered, NULL, false};
    gc_entry entry;
    int orders[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &ready, 1, &entry, orders, orders + 1);
    EXPECT(gc_select_spin(&sel, gc_spin_yields, &res) == GC_OK);
    EXPECT(res.value == VAL(7) && res.ok);
    EXPECT(gc_select_spin(&sel, gc_spin_yields, &res) == GC_TIMEOUT);
    size_t s, r;
    waiting(buffered, &s, &r);
    EXPECT(s == 0 && r == 0); /* the spin that gave up left nothing queued */
    destroy(buffered);

    struct offerer o = {gc_chan_new(0), 200 * scale};
    pthread_t peer;
    pthread_create(&peer, NULL, offer_each_until_taken, &o);
    gc_case c = {o.ch, NULL, false};
    int caught = 0;
    for (int i = 0; i < o.rounds && !test_failed(); i++) {
        gc_select_init(&sel, &c, 1, &entry, orders, orders + 1);
        enum gc_status st = gc_select_spin(&sel, gc_spin_yields, &res);
        if (st == GC_OK) {
            caught++;
        } else {
            EXPECTF(st == GC_TIMEOUT, "round %d: status %d", i, (int)st);
            bool ok;
            EXPECT(recv_wait(o.ch, &res.value, &ok, GC_FOREVER) == GC_OK);
        }
        EXPECTF(res.value == VAL(i), "round %d: got %ld", i, IDX(res.value));
    }
    pthread_join(peer, NULL);
    waiting(o.ch, &s, &r);
    EXPECT(s == 0 && r == 0);
    printf("    %d of %d values caught by the spin\n", caught, o.rounds);
    destroy(o.ch);
}

static const struct test_case tests[] = {
    {"select_uniform_choice", test_select_uniform_choice},
    {"select_nil_only_times_out", test_select_nil_only_times_out},
    {"select_same_channel_twice", test_select_same_channel_twice},
    {"select_send_and_recv_same_unbuffered",
     test_select_send_and_recv_same_unbuffered},
    {"select_commits_one_case", test_select_commits_one_case},
    {"select_one_winner_among_racing_peers",
     test_select_one_winner_among_racing_peers},
    {"select_woken_by_send_on_any_channel",
     test_select_woken_by_send_on_any_channel},
    {"select_stop_word_ends_the_wait", test_select_stop_word_ends_the_wait},
    {"select_woken_by_close", test_select_woken_by_close},
    {"interrupt_slices_resume", test_interrupt_slices_resume},
    {"select_spin_commits_or_has_no_effect",
     test_select_spin_commits_or_has_no_effect},
#ifdef __linux__
    {"signal_interrupts_sliced_wait", test_signal_interrupts_sliced_wait},
#endif
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

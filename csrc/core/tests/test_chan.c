/* Tests of gc_chan: channel semantics against a model, blocking sends and
   receives (one-case selects), close, give-back, hand-off and LIFO
   receivers. */
#include "harness.h"

#include "gc_chan_impl.h" /* white-box: the ring's size, to see it shrink */

static size_t ring_slots(gc_chan *ch)
{
    pthread_mutex_lock(&ch->lock);
    size_t n = ch->ring_size;
    pthread_mutex_unlock(&ch->lock);
    return n;
}

/* ---- channel semantics ------------------------------------------------ */

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
/* ---- blocking --------------------------------------------------------- */

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
/* ---- hand-off, LIFO receivers ------------------------------------------ */

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

/* ---- statistics ---------------------------------------------------------- */

static gc_chan_stats stats_of(gc_chan *ch)
{
    gc_chan_stats s;
    gc_chan_get_stats(ch, &s);
    return s;
}

static void test_stats_count_what_moved(void)
{
    void *v;
    bool ok;
    gc_chan *ch = gc_chan_new(3);
    gc_chan_stats s = stats_of(ch);
    CHECK(s.sends == 0 && s.receives == 0 && s.max_fill == 0 && s.length == 0);
    CHECK(s.send_blocked_ns == 0 && s.recv_blocked_ns == 0 && !s.closed);
    CHECK(gc_chan_try_send(ch, VAL(1)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(2)) == GC_OK);
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(3)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(4)) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(5)) == GC_NOT_READY); /* full: no send */
    s = stats_of(ch);
    CHECK(s.sends == 4 && s.receives == 1 && s.max_fill == 3 && s.length == 3);
    /* a value given back un-counts its receive; max_fill stays a send's */
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK);
    CHECK(gc_chan_give_back(ch, v) == GC_OK);
    s = stats_of(ch);
    CHECK(s.sends == 4 && s.receives == 1 && s.length == 3 && s.max_fill == 3);
    CHECK(gc_chan_close(ch) == GC_OK);
    CHECK(gc_chan_try_send(ch, VAL(6)) == GC_CLOSED);
    while (gc_chan_try_recv(ch, &v, &ok) == GC_OK && ok)
        ;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && !ok); /* not a receive */
    s = stats_of(ch);
    CHECK(s.sends == 4 && s.receives == 4 && s.length == 0 && s.closed);
    destroy(ch);

    /* unbuffered: a hand-off is one send and one receive, never fill;
       a give-back beyond the capacity does not count as fill either */
    ch = gc_chan_new(0);
    struct op r = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_recv, &r);
    wait_until_waiting(ch, 0, 1);
    s = stats_of(ch);
    CHECK(s.receivers_waiting == 1 && s.senders_waiting == 0);
    CHECK(gc_chan_try_handoff(ch, VAL(7)) == GC_OK);
    pthread_join(t, NULL);
    CHECK(r.status == GC_OK && r.got == VAL(7));
    CHECK(gc_chan_give_back(ch, r.got) == GC_OK);
    s = stats_of(ch);
    CHECK(s.sends == 1 && s.receives == 0 && s.length == 1 && s.max_fill == 0);
    CHECK(s.recv_blocked_ns > 0 && s.send_blocked_ns == 0);
    CHECK(s.receivers_waiting == 0);
    destroy(ch);
}

static void test_stats_blocked_time_of_every_outcome(void)
{
    /* committed, timed out and woken by close: all add their parked time */
    gc_chan *ch = gc_chan_new(0);
    int64_t t0 = gc_now_ns();
    CHECK(send_wait(ch, VAL(1), gc_now_ns() + 5 * MS) == GC_TIMEOUT);
    gc_chan_stats s = stats_of(ch);
    int64_t after_timeout = s.send_blocked_ns;
    CHECKF(after_timeout >= 4 * MS && after_timeout <= gc_now_ns() - t0,
           "blocked %" PRId64 " ns", after_timeout);
    CHECK(s.sends == 0 && s.senders_waiting == 0);

    struct op snd = {ch, 2, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_t t;
    pthread_create(&t, NULL, do_send, &snd);
    wait_until_waiting(ch, 1, 0);
    sleep_us(3000);
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(ch, &v, &ok) == GC_OK && v == VAL(2));
    pthread_join(t, NULL);
    s = stats_of(ch);
    CHECK(s.send_blocked_ns >= after_timeout + 2 * MS);
    CHECK(s.sends == 1 && s.receives == 1 && s.recv_blocked_ns == 0);

    struct op rcv = {ch, 0, GC_FOREVER, GC_NOT_READY, NULL, false};
    pthread_create(&t, NULL, do_recv, &rcv);
    wait_until_waiting(ch, 0, 1);
    sleep_us(2000);
    CHECK(gc_chan_close(ch) == GC_OK);
    pthread_join(t, NULL);
    CHECK(rcv.status == GC_OK && !rcv.ok);
    s = stats_of(ch);
    CHECK(s.recv_blocked_ns >= 1 * MS && s.receives == 1);
    destroy(ch);
}

static void test_stats_select_counts_once_per_channel_and_side(void)
{
    gc_chan *a = gc_chan_new(0), *b = gc_chan_new(0);
    /* two receive cases on a, one send case on a, one receive on b */
    struct select_op op = {
        {{a, NULL, false}, {a, VAL(9), true}, {b, NULL, false}}, 3,
        GC_NOT_READY, {0, NULL, false}, GC_FOREVER};
    pthread_t t;
    pthread_create(&t, NULL, do_select, &op);
    wait_until_waiting(b, 0, 1);
    gc_chan_stats s = stats_of(a);
    CHECK(s.senders_waiting == 1 && s.receivers_waiting == 1);
    sleep_us(2000);
    CHECK(gc_chan_try_send(b, VAL(3)) == GC_OK);
    pthread_join(t, NULL);
    CHECK(op.status == GC_OK && op.res.index == 2);
    gc_chan_stats sa = stats_of(a), sb = stats_of(b);
    CHECK(sa.sends == 0 && sa.receives == 0 && sb.sends == 1 && sb.receives == 1);
    /* one wait: the same time on each side of a and on b */
    CHECK(sb.recv_blocked_ns >= 1 * MS);
    CHECK(sa.recv_blocked_ns == sb.recv_blocked_ns);
    CHECK(sa.send_blocked_ns == sb.recv_blocked_ns);
    CHECK(sb.send_blocked_ns == 0);
    destroy(a);
    destroy(b);

    /* the same channel twice in one direction counts once */
    a = gc_chan_new(0);
    op = (struct select_op){{{a, NULL, false}, {a, NULL, false}}, 2,
                            GC_NOT_READY, {0, NULL, false}, gc_now_ns() + 3 * MS};
    int64_t t0 = gc_now_ns();
    do_select(&op);
    int64_t wall = gc_now_ns() - t0;
    CHECK(op.status == GC_TIMEOUT);
    s = stats_of(a);
    CHECKF(s.recv_blocked_ns > 0 && s.recv_blocked_ns <= wall,
           "blocked %" PRId64 " of %" PRId64 " ns", s.recv_blocked_ns, wall);
    destroy(a);
}

struct storm_arg {
    gc_chan *ch;
    int rounds;
    uint64_t rng;
    long done; /* operations that succeeded */
};

static void *storm_sender(void *arg)
{
    struct storm_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        int64_t deadline = gc_now_ns() + (int64_t)(rnd(&a->rng) % 200) * US;
        enum gc_status st = rnd(&a->rng) % 4 == 0
                                ? gc_chan_try_send(a->ch, VAL(i))
                                : send_wait(a->ch, VAL(i), deadline);
        if (st == GC_OK)
            a->done++;
    }
    return NULL;
}

static void *storm_receiver(void *arg)
{
    struct storm_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        void *v;
        bool ok;
        int64_t deadline = gc_now_ns() + (int64_t)(rnd(&a->rng) % 200) * US;
        enum gc_status st = rnd(&a->rng) % 4 == 0
                                ? gc_chan_try_recv(a->ch, &v, &ok)
                                : recv_wait(a->ch, &v, &ok, deadline);
        if (st == GC_OK && ok) {
            a->done++;
            /* now and then a receive is undone, as an interrupted call's */
            if (rnd(&a->rng) % 16 == 0 && gc_chan_give_back(a->ch, v) == GC_OK)
                a->done--;
        }
    }
    return NULL;
}

static void test_stats_exact_under_storm(void)
{
    static const int64_t caps[] = {0, 1, 8, GC_UNBOUNDED};
    enum { SENDERS = 3, RECEIVERS = 3 };
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        gc_chan *ch = gc_chan_new(caps[ci]);
        struct storm_arg args[SENDERS + RECEIVERS];
        pthread_t threads[SENDERS + RECEIVERS];
        int64_t t0 = gc_now_ns();
        for (int k = 0; k < SENDERS + RECEIVERS; k++) {
            args[k] = (struct storm_arg){ch, 50 * scale, derive_seed(ci * 16 + k), 0};
            pthread_create(&threads[k], NULL,
                           k < SENDERS ? storm_sender : storm_receiver, &args[k]);
        }
        for (int k = 0; k < SENDERS + RECEIVERS; k++)
            pthread_join(threads[k], NULL);
        int64_t wall = gc_now_ns() - t0;
        long sent = 0, received = 0;
        for (int k = 0; k < SENDERS; k++)
            sent += args[k].done;
        for (int k = SENDERS; k < SENDERS + RECEIVERS; k++)
            received += args[k].done;
        gc_chan_stats s = stats_of(ch);
        CHECKF(s.sends == (uint64_t)sent && s.receives == (uint64_t)received,
               "capacity %" PRId64 ": sends %" PRIu64 "/%ld receives %" PRIu64 "/%ld",
               caps[ci], s.sends, sent, s.receives, received);
        CHECK(s.sends - s.receives == s.length);
        CHECK(s.send_blocked_ns >= 0 && s.send_blocked_ns <= wall * SENDERS);
        CHECK(s.recv_blocked_ns >= 0 && s.recv_blocked_ns <= wall * RECEIVERS);
        CHECK(s.senders_waiting == 0 && s.receivers_waiting == 0);
        if (caps[ci] == 0)
            CHECK(s.max_fill == 0);
        else if (caps[ci] > 0)
            CHECK(s.max_fill <= (size_t)caps[ci]);
        destroy(ch);
    }
}

static const struct test_case tests[] = {
    {"unbuffered_needs_partner", test_unbuffered_needs_partner},
    {"buffered_fifo_and_capacity", test_buffered_fifo_and_capacity},
    {"buffer_against_model", test_buffer_against_model},
    {"unbounded_grows_and_shrinks", test_unbounded_grows_and_shrinks},
    {"close_semantics", test_close_semantics},
    {"count_waiting", test_count_waiting},
    {"visit_and_take_buffer_order", test_visit_and_take_buffer_order},
    {"blocked_receiver_gets_value", test_blocked_receiver_gets_value},
    {"blocked_sender_completes", test_blocked_sender_completes},
    {"receivers_served_fifo", test_receivers_served_fifo},
    {"senders_served_fifo", test_senders_served_fifo},
    {"timeouts_have_no_effect", test_timeouts_have_no_effect},
    {"close_wakes_everyone", test_close_wakes_everyone},
    {"give_back_is_received_first", test_give_back_is_received_first},
    {"give_back_wraps_the_ring", test_give_back_wraps_the_ring},
    {"give_back_to_blocked_receiver", test_give_back_to_blocked_receiver},
    {"give_back_keeps_blocked_senders_waiting",
     test_give_back_keeps_blocked_senders_waiting},
    {"give_back_after_close", test_give_back_after_close},
    {"give_back_keeps_order_under_racing_sender",
     test_give_back_keeps_order_under_racing_sender},
    {"handoff_never_buffers", test_handoff_never_buffers},
    {"lifo_receivers_newest_first", test_lifo_receivers_newest_first},
    {"lifo_receiver_resumed_after_a_slice_stays_oldest",
     test_lifo_receiver_resumed_after_a_slice_stays_oldest},
    {"stats_count_what_moved", test_stats_count_what_moved},
    {"stats_blocked_time_of_every_outcome",
     test_stats_blocked_time_of_every_outcome},
    {"stats_select_counts_once_per_channel_and_side",
     test_stats_select_counts_once_per_channel_and_side},
    {"stats_exact_under_storm", test_stats_exact_under_storm},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

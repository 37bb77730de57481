/* Exactly-once delivery under racing threads: senders and receivers of
   every kind on shared channels, close racing blocked calls, deadlines
   expiring as the partner arrives, an abort racing a claim. */
#include "harness.h"

/* ---- exactly-once stress ---------------------------------------------- */

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

/* ---- close racing blocked senders and receivers ----------------------- */

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

/* ---- a deadline expiring as the partner arrives ----------------------- */

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

static const struct test_case tests[] = {
    {"exactly_once_unbuffered", test_exactly_once_unbuffered},
    {"exactly_once_cap1", test_exactly_once_cap1},
    {"exactly_once_cap16", test_exactly_once_cap16},
    {"exactly_once_unbounded", test_exactly_once_unbounded},
    {"close_races_blocked_calls", test_close_races_blocked_calls},
    {"deadline_races_sender", test_deadline_races_sender},
    {"deadline_races_try_send", test_deadline_races_try_send},
    {"deadline_races_select", test_deadline_races_select},
    {"abort_races_claim_tight", test_abort_races_claim_tight},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

/* Tests of gc_hub: completions handed to an event loop. */
#include "harness.h"

#include "gc_hub.h"
#include "gc_waiter.h"
#include "platform/gc_platform.h"

/* ---- hub: completions for an event loop ------------------------------- */

/* Wait for the hub's descriptor like an event loop; a post that leaves
   the stack non-empty without a readable descriptor is a lost wake-up. */
static bool hub_wait_readable(gc_hub *h, int timeout_ms)
{
    return gc_wake_wait(gc_hub_fd(h), timeout_ms); /* poll, WSAPoll */
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

struct wake_signaller {
    int fd;
    long rounds;
    _Atomic long go; /* the round it may signal in */
};

static void *wake_signaller_main(void *arg)
{
    struct wake_signaller *s = arg;
    for (long r = 1; r <= s->rounds; r++) {
        while (atomic_load(&s->go) < r)
            gc_yield();
        gc_wake_signal(s->fd);
    }
    return NULL;
}

static void test_wake_signal_after_a_drain_is_readable(void)
{
    /* Two threads signal by turns, each right after the reader drained
       the other's signal, as posters do across a hub's bursts: every
       signal leaves the descriptor readable.  A socket may refuse a send
       while another send on it still completes (wine does, now and then);
       a refused signal was a lost wake-up. */
    long rounds = 100L * scale;
    int r, w;
    CHECK(gc_wake_open(&r, &w) == 0);
    struct wake_signaller ss[2] = {{w, rounds, 0}, {w, rounds, 0}};
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        pthread_create(&t[k], NULL, wake_signaller_main, &ss[k]);
    for (long round = 1; round <= rounds && !test_failed(); round++) {
        for (int k = 0; k < 2; k++) {
            /* The other's send may not have returned yet. */
            atomic_store(&ss[k].go, round);
            CHECKF(gc_wake_wait(r, 10000), "signal %d of round %ld lost", k,
                   round);
            gc_wake_drain(r);
        }
    }
    for (int k = 0; k < 2; k++) {
        atomic_store(&ss[k].go, rounds); /* a failed round ends them too */
        pthread_join(t[k], NULL);
    }
    gc_wake_close(r, w);
}

static const struct test_case tests[] = {
    {"hub_posts_each_waiter_once", test_hub_posts_each_waiter_once},
    {"hub_selects_get_each_value_once", test_hub_selects_get_each_value_once},
    {"hub_wait_consumes_the_signal", test_hub_wait_consumes_the_signal},
    {"wake_signal_after_a_drain_is_readable",
     test_wake_signal_after_a_drain_is_readable},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

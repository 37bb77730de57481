/* Tests of gc_bubble: the virtual clock, durable parks, jumps to the next
   deadline, the bubble's own timers, b.wait() and deadlock reports. */
#include "harness.h"

#include "gc_bubble.h"
#include "gc_timer.h"
#include "gc_waiter.h"

#define SEC 1000000000LL

/* A member's blocking receive, as the binding does it: the bubble parks it
   once its case is queued and ends it through the stop word.  Returns
   GC_OK, GC_TIMEOUT, or GC_INTERRUPTED for a deadlock. */
static enum gc_status bubble_recv(gc_chan *ch, int64_t deadline, void **value)
{
    gc_bubble_member *m = gc_bubble_self();
    gc_case c = {ch, NULL, false};
    gc_entry entry;
    int orders[2];
    gc_select sel;
    gc_select_result res;
    gc_select_init(&sel, &c, 1, &entry, orders, orders + 1);
    enum gc_status st = gc_select_try(&sel, &res);
    if (st != GC_NOT_READY) {
        *value = res.value;
        return st;
    }
    _Atomic uint64_t *stop = gc_bubble_stop_word(m);
    sel.stop_word = stop;
    sel.stop_value = atomic_load(stop) + 1;
    sel.bubble = m;
    sel.bubble_op = "recv";
    sel.bubble_deadline = deadline;
    for (;;) {
        st = gc_select_wait(&sel, GC_FOREVER, 0, &res);
        enum gc_bubble_wake why = gc_bubble_unpark(m);
        if (st != GC_INTERRUPTED) {
            *value = res.value;
            return st;
        }
        if (why == GC_BUBBLE_TIMEOUT)
            return GC_TIMEOUT;
        if (why == GC_BUBBLE_DEADLOCK)
            return GC_INTERRUPTED;
    }
}

/* Sleep on a channel that never receives anything. */
static enum gc_status bubble_sleep_ns(int64_t ns)
{
    gc_chan *never = gc_chan_new(0);
    void *v;
    enum gc_status st = bubble_recv(never, gc_now_ns() + ns, &v);
    destroy(never);
    return st;
}

static enum gc_bubble_wake park_until_woken(enum gc_bubble_park_kind kind)
{
    gc_bubble_member *m = gc_bubble_self();
    gc_bubble_park(m, kind, NULL, GC_FOREVER, NULL, NULL, 0, true);
    while (gc_bubble_sleep(m, GC_FOREVER) != GC_PARK_WOKEN)
        ;
    return gc_bubble_unpark(m);
}

static gc_bubble *enter_new_bubble(void)
{
    gc_bubble *b = gc_bubble_new(gc_real_now_ns(), NULL);
    gc_bubble_member *m = gc_bubble_add_member(b);
    gc_bubble_enter(m, 1, "root");
    return b;
}

/* Waits for the other members, then leaves and releases the bubble. */
static bool leave_bubble(gc_bubble *b)
{
    bool ok = park_until_woken(GC_BUBBLE_EXIT) == GC_BUBBLE_READY;
    gc_bubble_remove_member(gc_bubble_self());
    gc_bubble_release(b);
    return ok;
}

/* ---- the clock ---------------------------------------------------------- */

static void test_clock_is_virtual_only_inside(void)
{
    int64_t before = gc_real_now_ns();
    gc_bubble *b = enter_new_bubble();
    int64_t start = gc_now_ns();
    CHECK(start >= before && start <= gc_real_now_ns());
    CHECK(bubble_sleep_ns(3600 * SEC) == GC_TIMEOUT);
    CHECK(gc_now_ns() == start + 3600 * SEC);
    CHECK(gc_bubble_advances(b) == 1);
    gc_bubble_retain(b);
    CHECK(leave_bubble(b));
    CHECK(gc_bubble_tls == NULL && gc_bubble_self() == NULL);
    CHECK(gc_now_ns() < start + 3600 * SEC); /* the real clock again */
    CHECK(gc_bubble_now_ns(b) == start + 3600 * SEC);
    gc_bubble_release(b);
}

static void test_timers_fire_on_the_virtual_clock(void)
{
    gc_bubble *b = enter_new_bubble();
    int64_t start = gc_now_ns();
    gc_chan *ch = gc_chan_new(1);
    gc_timer *t = gc_timer_new(ch);
    bool was_active;
    CHECK(gc_timer_reset(t, start + 10 * SEC, 0, &was_active) == GC_OK);
    CHECK(gc_timer_pending() == 0); /* in the bubble's heap, not the thread's */
    void *v;
    CHECK(bubble_recv(ch, GC_FOREVER, &v) == GC_OK);
    CHECK(gc_is_timer_value(v) && gc_timer_value_ns(v) == start + 10 * SEC);
    CHECK(gc_now_ns() == start + 10 * SEC);
    /* a periodic timer: every tick on the grid */
    CHECK(gc_timer_reset(t, gc_now_ns() + SEC, SEC, &was_active) == GC_OK);
    for (int i = 1; i <= 5; i++) {
        CHECK(bubble_recv(ch, GC_FOREVER, &v) == GC_OK);
        CHECK(gc_timer_value_ns(v) == start + (10 + i) * SEC);
    }
    /* nobody reads it: a full ticker channel is not a pending deadline */
    gc_chan *never = gc_chan_new(0);
    CHECK(bubble_sleep_ns(SEC / 2) == GC_TIMEOUT);
    CHECK(bubble_recv(never, GC_FOREVER, &v) == GC_INTERRUPTED); /* deadlock */
    char *report = gc_bubble_deadlock_report(b);
    CHECK(report && strstr(report, "root") && strstr(report, "recv"));
    free(report);
    CHECK(gc_timer_stop(t));
    gc_timer_free(t);
    destroy(never);
    destroy(ch);
    CHECK(leave_bubble(b));
}

/* ---- many members --------------------------------------------------------- */

#define SLEEPERS 6

struct sleeper {
    gc_bubble_member *member;
    int64_t start;
    uint64_t seed;
    int rounds;
    int64_t total; /* virtual ns slept */
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    gc_bubble_enter(s->member, 2, "sleeper");
    uint64_t rng = s->seed;
    for (int i = 0; i < s->rounds; i++) {
        int64_t ns = (int64_t)(rnd(&rng) % (10 * SEC)) + 1;
        s->total += ns;
        EXPECT(bubble_sleep_ns(ns) == GC_TIMEOUT);
        EXPECTF(gc_now_ns() == s->start + s->total, "woke at %" PRId64 ", not %" PRId64,
                gc_now_ns() - s->start, s->total);
    }
    gc_bubble_remove_member(s->member);
    return NULL;
}

static void test_members_sleep_exactly_their_time(void)
{
    gc_bubble *b = enter_new_bubble();
    struct sleeper s[SLEEPERS];
    pthread_t threads[SLEEPERS];
    int64_t start = gc_now_ns();
    for (int i = 0; i < SLEEPERS; i++) {
        s[i] = (struct sleeper){gc_bubble_add_member(b), start, derive_seed((uint64_t)i),
                                5 * scale, 0};
        CHECK(pthread_create(&threads[i], NULL, sleeper_main, &s[i]) == 0);
    }
    gc_bubble_retain(b);
    bool left = leave_bubble(b);
    int64_t longest = 0;
    for (int i = 0; i < SLEEPERS; i++) {
        pthread_join(threads[i], NULL);
        if (s[i].total > longest)
            longest = s[i].total;
    }
    int64_t end = gc_bubble_now_ns(b);
    gc_bubble_release(b);
    CHECK(left);
    CHECK(end == start + longest); /* the clock stopped at the last wake-up */
}

/* A member waking another through a channel: the woken one is not durably
   blocked, so time does not move under it. */
struct ping {
    gc_bubble_member *member;
    gc_chan *to, *from;
    int rounds;
};

static void *pong_main(void *arg)
{
    struct ping *p = arg;
    gc_bubble_enter(p->member, 3, "pong");
    for (int i = 0; i < p->rounds; i++) {
        void *v;
        EXPECT(bubble_recv(p->to, GC_FOREVER, &v) == GC_OK);
        EXPECT(gc_chan_try_send(p->from, v) == GC_OK);
    }
    gc_bubble_remove_member(p->member);
    return NULL;
}

static void test_hand_offs_never_move_time(void)
{
    gc_bubble *b = enter_new_bubble();
    int64_t start = gc_now_ns();
    struct ping p = {gc_bubble_add_member(b), gc_chan_new(1), gc_chan_new(1), 100 * scale};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, pong_main, &p) == 0);
    for (int i = 0; i < p.rounds; i++) {
        void *v;
        EXPECT(gc_chan_try_send(p.to, VAL(i)) == GC_OK);
        /* a deadline far away: it must not be reached */
        EXPECT(bubble_recv(p.from, gc_now_ns() + 60 * SEC, &v) == GC_OK && v == VAL(i));
    }
    gc_bubble_retain(b);
    bool left = leave_bubble(b);
    pthread_join(thread, NULL);
    int64_t end = gc_bubble_now_ns(b);
    gc_bubble_release(b);
    CHECK(left);
    CHECK(end == start);
    destroy(p.to);
    destroy(p.from);
}

/* b.wait(): returns once the others are durably blocked, before time moves. */
static void *wait_target_main(void *arg)
{
    gc_bubble_member *m = arg;
    gc_bubble_enter(m, 4, "target");
    EXPECT(bubble_sleep_ns(5 * SEC) == GC_TIMEOUT);
    gc_bubble_remove_member(m);
    return NULL;
}

static void test_wait_returns_before_time_moves(void)
{
    gc_bubble *b = enter_new_bubble();
    int64_t start = gc_now_ns();
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, wait_target_main, gc_bubble_add_member(b)) == 0);
    CHECK(park_until_woken(GC_BUBBLE_WAIT) == GC_BUBBLE_READY);
    CHECK(gc_now_ns() == start);
    CHECK(gc_bubble_members(b) == 2);
    CHECK(leave_bubble(b));
    pthread_join(thread, NULL);
}

static void *stuck_main(void *arg)
{
    gc_bubble_member *m = arg;
    gc_bubble_enter(m, 5, "stuck");
    gc_chan *never = gc_chan_new(0);
    void *v;
    EXPECT(bubble_recv(never, GC_FOREVER, &v) == GC_INTERRUPTED);
    destroy(never);
    gc_bubble_remove_member(m);
    return NULL;
}

static void test_exit_with_a_member_that_can_never_end_is_a_deadlock(void)
{
    gc_bubble *b = enter_new_bubble();
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, stuck_main, gc_bubble_add_member(b)) == 0);
    gc_bubble_retain(b);
    CHECK(park_until_woken(GC_BUBBLE_EXIT) == GC_BUBBLE_DEADLOCK);
    char *report = gc_bubble_deadlock_report(b);
    CHECK(report && strstr(report, "stuck") && strstr(report, "root"));
    free(report);
    /* the stuck one was woken with Deadlock too, and ends */
    CHECK(leave_bubble(b));
    pthread_join(thread, NULL);
    gc_bubble_release(b);
}

static const struct test_case tests[] = {
    {"clock_is_virtual_only_inside", test_clock_is_virtual_only_inside},
    {"timers_fire_on_the_virtual_clock", test_timers_fire_on_the_virtual_clock},
    {"members_sleep_exactly_their_time", test_members_sleep_exactly_their_time},
    {"hand_offs_never_move_time", test_hand_offs_never_move_time},
    {"wait_returns_before_time_moves", test_wait_returns_before_time_moves},
    {"exit_with_a_member_that_can_never_end_is_a_deadlock",
     test_exit_with_a_member_that_can_never_end_is_a_deadlock},
};

const struct test_suite suite = {NULL, tests, sizeof tests / sizeof *tests};

/* Tests of gc_ctx: the cancel cascade, deadlines and their causes,
   after-func items, and the values a context holds. */
#include "harness.h"

#include "gc_timer.h"

/* ---- contexts ------------------------------------------------------------- */

static _Atomic long cause_refs;
static void count_retain(void *v) { (void)v; atomic_fetch_add(&cause_refs, 1); }
static void count_release(void *v, void *owner)
{
    (void)v;
    (void)owner;
    atomic_fetch_sub(&cause_refs, 1);
}

static void test_ctx_cancel_reaches_descendants_not_ancestors(void)
{
    gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx *a = gc_ctx_new(root, GC_FOREVER), *b = gc_ctx_new(root, GC_FOREVER);
    gc_ctx *a1 = gc_ctx_new(a, GC_FOREVER), *a2 = gc_ctx_new(a, GC_FOREVER);
    CHECK(gc_ctx_children(root) == 2 && gc_ctx_children(a) == 2);
    int cause = 42;
    CHECK(gc_ctx_cancel(a, GC_CTX_CANCELED, &cause));
    CHECK(!gc_ctx_cancel(a, GC_CTX_CANCELED, NULL)); /* first cancel wins */
    CHECK(is_done(a) && is_done(a1) && is_done(a2));
    CHECK(gc_ctx_cause(a2) == &cause && gc_ctx_err(a1) == GC_CTX_CANCELED);
    CHECK(!is_done(root) && !is_done(b) && gc_ctx_err(root) == GC_CTX_ALIVE);
    CHECK(gc_ctx_children(root) == 1); /* a unlinked itself */
    gc_ctx *late = gc_ctx_new(a, GC_FOREVER); /* child of a done parent */
    CHECK(is_done(late) && gc_ctx_cause(late) == &cause);
    gc_ctx *list[] = {late, a2, a1, b, a, root};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        gc_ctx_release(list[i]);
    CHECK(atomic_load(&cause_refs) == 0); /* every retained cause released */
}

static void test_ctx_deep_chain_and_wide_tree(void)
{
    enum { N = 10000 };
    gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx *node = root;
    static gc_ctx *chain[N], *wide[N];
    for (int i = 0; i < N; i++) {
        chain[i] = gc_ctx_new(node, GC_FOREVER);
        node = chain[i];
        wide[i] = gc_ctx_new(root, GC_FOREVER);
    }
    gc_ctx_cancel(root, GC_CTX_CANCELED, NULL); /* no recursion: no overflow */
    for (int i = 0; i < N; i++)
        CHECK(is_done(chain[i]) && is_done(wide[i]));
    for (int i = 0; i < N; i++)
        gc_ctx_release(wide[i]);
    /* drop references leaf first, so each release frees a chain link */
    for (int i = N - 1; i >= 0; i--)
        gc_ctx_release(chain[i]);
    gc_ctx_release(root);
}

/* Children cancel and drop themselves while their parent's cancel walks
   them: the walk holds each parent's lock throughout (it allocates
   nothing, so no out-of-memory path drops it), and every context ends done
   exactly once. */
struct ctx_racer {
    gc_ctx **kids;
    int n;
    pthread_t thread;
};

static void *cancel_and_release_kids(void *arg)
{
    struct ctx_racer *r = arg;
    for (int i = 0; i < r->n; i++) {
        gc_ctx_cancel(r->kids[i], GC_CTX_CANCELED, NULL);
        gc_ctx_release(r->kids[i]);
    }
    return NULL;
}

static void test_ctx_cancel_walk_races_children_leaving(void)
{
    enum { KIDS = 2000, RACERS = 2 };
    for (int round = 0; round < scale; round++) {
        gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER);
        static gc_ctx *kids[RACERS][KIDS], *grandkids[RACERS][KIDS];
        for (int k = 0; k < RACERS; k++)
            for (int i = 0; i < KIDS; i++) {
                kids[k][i] = gc_ctx_new(root, GC_FOREVER);
                grandkids[k][i] = gc_ctx_new(kids[k][i], GC_FOREVER);
            }
        struct ctx_racer racers[RACERS];
        for (int k = 0; k < RACERS; k++) {
            racers[k] = (struct ctx_racer){kids[k], KIDS, 0};
            pthread_create(&racers[k].thread, NULL, cancel_and_release_kids, &racers[k]);
        }
        gc_ctx_cancel(root, GC_CTX_CANCELED, NULL);
        for (int k = 0; k < RACERS; k++)
            pthread_join(racers[k].thread, NULL);
        for (int k = 0; k < RACERS; k++)
            for (int i = 0; i < KIDS; i++) {
                CHECK(is_done(grandkids[k][i]));
                gc_ctx_release(grandkids[k][i]);
            }
        gc_ctx_release(root);
    }
}

static void test_ctx_release_of_long_chain_is_iterative(void)
{
    enum { N = 10000 };
    gc_ctx *root = gc_ctx_new(NULL, GC_FOREVER), *node = root;
    for (int i = 0; i < N; i++) {
        gc_ctx *child = gc_ctx_new(node, GC_FOREVER);
        gc_ctx_release(node); /* only the child keeps its parent now */
        node = child;
    }
    gc_ctx_release(node); /* frees all N+1, root last, without recursion */
}

static void test_ctx_child_cancel_unlinks_from_parent(void)
{
    gc_ctx *parent = gc_ctx_new(NULL, GC_FOREVER);
    for (int i = 0; i < 100000; i++) {
        gc_ctx *child = gc_ctx_new(parent, GC_FOREVER);
        gc_ctx_cancel(child, GC_CTX_CANCELED, NULL);
        gc_ctx_release(child);
    }
    CHECK(gc_ctx_children(parent) == 0);
    gc_ctx *dropped = gc_ctx_new(parent, GC_FOREVER);
    gc_ctx_release(dropped); /* released without cancel: unlinks too */
    CHECK(gc_ctx_children(parent) == 0);
    gc_ctx_release(parent);
}

static void test_ctx_deadlines(void)
{
    int64_t now = gc_now_ns();
    gc_ctx *past = gc_ctx_new(NULL, now - 1);
    CHECK(is_done(past) && gc_ctx_err(past) == GC_CTX_DEADLINE);
    gc_ctx *parent = gc_ctx_new(NULL, now + 20000000);
    gc_ctx *later = gc_ctx_new(parent, now + 1000000000);
    CHECK(gc_ctx_deadline(later) == now + 20000000); /* never later than parent */
    gc_ctx *sooner = gc_ctx_new(parent, now + 5000000);
    void *v;
    bool ok;
    CHECK(recv_wait(gc_ctx_done(sooner), &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(gc_ctx_err(sooner) == GC_CTX_DEADLINE && !is_done(parent));
    CHECK(recv_wait(gc_ctx_done(later), &v, &ok, gc_deadline_after(5)) == GC_OK);
    CHECK(gc_ctx_err(later) == GC_CTX_DEADLINE && gc_ctx_err(parent) == GC_CTX_DEADLINE);
    gc_ctx *canceled_first = gc_ctx_new(NULL, gc_now_ns() + 50000000);
    gc_ctx_cancel(canceled_first, GC_CTX_CANCELED, NULL);
    sleep_us(60000);
    CHECK(gc_ctx_err(canceled_first) == GC_CTX_CANCELED);
    gc_ctx *list[] = {past, sooner, later, parent, canceled_first};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        gc_ctx_release(list[i]);
}

static void test_ctx_released_while_its_deadline_fires(void)
{
    uint64_t r = seed ^ 0xDEAD;
    for (int i = 0; i < 300 * scale / 5; i++) {
        gc_ctx *c = gc_ctx_new(NULL, gc_now_ns() + (int64_t)(rnd(&r) % 200000));
        sleep_us((long)(rnd(&r) % 200));
        gc_ctx_release(c); /* may race the timer callback: must wait for it */
    }
}

/* The deadline fires while every reference is being dropped: the cancel
   cascade's own reference on a child can be the last one of the whole tree,
   so the deadline's context is destroyed on the timer thread, inside its
   timer's callback. */
static void test_ctx_tree_dropped_while_its_deadline_fires(void)
{
    enum { KIDS = 400 };
    static gc_ctx *kids[KIDS];
    uint64_t r = seed ^ 0x7EE;
    for (int i = 0; i < 40 * scale / 5; i++) {
        int64_t deadline = gc_now_ns() + 2 * MS;
        gc_ctx *parent = gc_ctx_new(NULL, deadline);
        gc_ctx *child = gc_ctx_new(parent, GC_FOREVER);
        for (int k = 0; k < KIDS; k++)
            kids[k] = gc_ctx_new(child, GC_FOREVER);
        gc_ctx_release(parent); /* only child keeps it now */
        spin_until(deadline + (int64_t)(rnd(&r) % 100000));
        gc_ctx_release(child);
        for (int k = 0; k < KIDS; k++)
            gc_ctx_release(kids[k]);
    }
    sleep_us(5000);
    CHECK(gc_timer_pending() == 0);
}

static void test_ctx_after_items(void)
{
    gc_chan *queue = gc_chan_new(GC_UNBOUNDED);
    gc_ctx *c = gc_ctx_new(NULL, GC_FOREVER);
    int64_t id1 = gc_ctx_after(c, VAL(1), queue);
    int64_t id2 = gc_ctx_after(c, VAL(2), queue);
    CHECK(id1 > 0 && id2 > 0 && id1 != id2);
    void *item;
    CHECK(gc_ctx_after_stop(c, id1, &item) && item == VAL(1));
    CHECK(!gc_ctx_after_stop(c, id1, &item));
    gc_ctx_cancel(c, GC_CTX_CANCELED, NULL);
    CHECK(gc_chan_len(queue) == 1);
    CHECK(!gc_ctx_after_stop(c, id2, &item)); /* already sent */
    CHECK(gc_ctx_after(c, VAL(3), queue) == 0); /* done: sent at once */
    void *v;
    bool ok;
    CHECK(gc_chan_try_recv(queue, &v, &ok) == GC_OK && v == VAL(2));
    CHECK(gc_chan_try_recv(queue, &v, &ok) == GC_OK && v == VAL(3));
    gc_ctx_release(c);
    destroy(queue);
}

static int collect_value(void *value, void *arg)
{
    void **out = arg;
    for (int i = 0; i < 4; i++)
        if (!out[i]) {
            out[i] = value;
            break;
        }
    return 0;
}

/* Take ctx's values, which must be exactly `only`, and drop the reference
   the caller then owns. */
static void take_only_value(gc_ctx *ctx, void *only)
{
    size_t n;
    void **taken = gc_ctx_take_values(ctx, &n);
    CHECK(n == 1 && taken && taken[0] == only);
    free(taken);
    count_release(only, NULL);
}

static void test_ctx_visit_and_take_values(void)
{
    gc_chan *queue = gc_chan_new(GC_UNBOUNDED);
    gc_ctx *alive = gc_ctx_new(NULL, GC_FOREVER);
    CHECK(gc_ctx_after(alive, VAL(1), queue) > 0);
    CHECK(gc_ctx_after(alive, VAL(2), queue) > 0);
    void *seen[4] = {0};
    CHECK(gc_ctx_visit_values(alive, collect_value, seen) == 0);
    CHECK((seen[0] == VAL(1) || seen[0] == VAL(2)) && seen[1] && seen[0] != seen[1] && !seen[2]);
    size_t n;
    void **taken = gc_ctx_take_values(alive, &n);
    CHECK(n == 2 && taken);
    free(taken);
    CHECK(gc_ctx_take_values(alive, &n) == NULL && n == 0);
    gc_ctx_cancel(alive, GC_CTX_CANCELED, NULL);
    CHECK(gc_chan_len(queue) == 0); /* taken items are never sent */

    int cause = 7;
    long refs = atomic_load(&cause_refs);
    gc_ctx *done = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx_cancel(done, GC_CTX_CANCELED, &cause);
    void *seen2[4] = {0};
    gc_ctx_visit_values(done, collect_value, seen2);
    CHECK(seen2[0] == &cause && !seen2[1]);
    take_only_value(done, &cause);
    CHECK(gc_ctx_cause(done) == NULL && gc_ctx_err(done) == GC_CTX_CANCELED);
    gc_ctx_release(done);
    gc_ctx_release(alive);
    CHECK(atomic_load(&cause_refs) == refs);
    destroy(queue);
}

static void wait_done(gc_ctx *c)
{
    void *v;
    bool ok = true;
    CHECK(recv_wait(gc_ctx_done(c), &v, &ok, GC_FOREVER) == GC_OK && !ok);
}

/* The deadline's callback holds its context while it cancels the tree, so
   the last release of a context whose deadline fired may be the timer
   thread's, a moment after the waiter saw the tree done: wait for the count
   to settle (bounded) rather than read it once. */
static bool causes_settle_at(long refs)
{
    for (int i = 0; i < 100000 && atomic_load(&cause_refs) != refs; i++)
        sleep_us(100);
    return atomic_load(&cause_refs) == refs;
}

/* Go's Cause(): a cancel's cause wins; a context that expired by its own
   deadline reports its deadline cause; one whose deadline was its parent's
   reports the parent's.  The deadline firing retains nothing. */
static void test_ctx_deadline_cause(void)
{
    int p_cause, c_cause, x_cause;
    long refs = atomic_load(&cause_refs);

    /* own deadline earlier than the parent's */
    gc_ctx *parent = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(3600), &p_cause);
    gc_ctx *child = gc_ctx_new_with_deadline_cause(parent, gc_deadline_after(0.005), &c_cause);
    gc_ctx *grandchild = gc_ctx_new(child, GC_FOREVER);
    CHECK(atomic_load(&cause_refs) == refs + 2);
    CHECK(gc_ctx_cause(child) == NULL); /* alive */
    wait_done(grandchild);
    CHECK(gc_ctx_err(grandchild) == GC_CTX_DEADLINE && gc_ctx_err(child) == GC_CTX_DEADLINE);
    CHECK(gc_ctx_cause(child) == &c_cause && gc_ctx_cause(grandchild) == &c_cause);
    CHECK(gc_ctx_cause(parent) == NULL && gc_ctx_err(parent) == GC_CTX_ALIVE);
    CHECK(atomic_load(&cause_refs) == refs + 2); /* the cascade retained nothing */
    void *seen[4] = {0};
    CHECK(gc_ctx_visit_values(child, collect_value, seen) == 0);
    CHECK(seen[0] == &c_cause && !seen[1]);
    void *seen_gc[4] = {0};
    CHECK(gc_ctx_visit_values(grandchild, collect_value, seen_gc) == 0 && !seen_gc[0]);
    gc_ctx_release(grandchild);
    gc_ctx_release(child);
    gc_ctx_release(parent);
    CHECK(causes_settle_at(refs));

    /* own deadline later than the parent's: the parent's deadline rules,
       and the child's cause is not even kept */
    parent = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(0.005), &p_cause);
    child = gc_ctx_new_with_deadline_cause(parent, gc_deadline_after(3600), &c_cause);
    grandchild = gc_ctx_new(child, GC_FOREVER);
    CHECK(atomic_load(&cause_refs) == refs + 1);
    wait_done(grandchild);
    CHECK(gc_ctx_cause(parent) == &p_cause && gc_ctx_cause(child) == &p_cause &&
          gc_ctx_cause(grandchild) == &p_cause);
    /* a child made after the parent expired: born done, same answer */
    gc_ctx *late = gc_ctx_new_with_deadline_cause(child, gc_deadline_after(3600), &c_cause);
    CHECK(is_done(late) && gc_ctx_err(late) == GC_CTX_DEADLINE && gc_ctx_cause(late) == &p_cause);
    gc_ctx_release(late);
    gc_ctx_release(grandchild);
    gc_ctx_release(child);
    gc_ctx_release(parent);
    CHECK(causes_settle_at(refs));

    /* a cancel before the deadline wins, with or without a cause */
    gc_ctx *ctx = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(0.005), &c_cause);
    CHECK(gc_ctx_cancel(ctx, GC_CTX_CANCELED, &x_cause));
    CHECK(gc_ctx_cause(ctx) == &x_cause);
    gc_ctx *other = gc_ctx_new_with_deadline_cause(NULL, gc_deadline_after(0.005), &c_cause);
    CHECK(gc_ctx_cancel(other, GC_CTX_CANCELED, NULL));
    sleep_us(10000); /* past both deadlines: nothing changes */
    CHECK(gc_ctx_cause(ctx) == &x_cause && gc_ctx_err(ctx) == GC_CTX_CANCELED);
    CHECK(gc_ctx_cause(other) == NULL && gc_ctx_err(other) == GC_CTX_CANCELED);
    gc_ctx_release(ctx);
    gc_ctx_release(other);
    CHECK(atomic_load(&cause_refs) == refs);

    /* the parent canceled first: the child reports the parent's cancel */
    parent = gc_ctx_new(NULL, GC_FOREVER);
    child = gc_ctx_new_with_deadline_cause(parent, gc_deadline_after(3600), &c_cause);
    gc_ctx *bare_parent = gc_ctx_new(NULL, GC_FOREVER);
    gc_ctx *bare_child = gc_ctx_new_with_deadline_cause(bare_parent, gc_deadline_after(3600), &c_cause);
    CHECK(gc_ctx_cancel(parent, GC_CTX_CANCELED, &x_cause));
    CHECK(gc_ctx_cancel(bare_parent, GC_CTX_CANCELED, NULL));
    CHECK(gc_ctx_err(child) == GC_CTX_CANCELED && gc_ctx_cause(child) == &x_cause);
    CHECK(gc_ctx_err(bare_child) == GC_CTX_CANCELED && gc_ctx_cause(bare_child) == NULL);
    gc_ctx_release(bare_child);
    gc_ctx_release(bare_parent);
    gc_ctx_release(child);
    gc_ctx_release(parent);
    CHECK(causes_settle_at(refs));

    /* born past its deadline; taking the values forgets the cause */
    ctx = gc_ctx_new_with_deadline_cause(NULL, 0, &c_cause);
    child = gc_ctx_new(ctx, GC_FOREVER);
    CHECK(is_done(ctx) && gc_ctx_err(ctx) == GC_CTX_DEADLINE);
    CHECK(gc_ctx_cause(ctx) == &c_cause && gc_ctx_cause(child) == &c_cause);
    take_only_value(ctx, &c_cause);
    CHECK(gc_ctx_cause(ctx) == NULL && gc_ctx_cause(child) == NULL);
    gc_ctx_release(child);
    gc_ctx_release(ctx);
    CHECK(atomic_load(&cause_refs) == refs);
}

/* A sender and a receiver each select on the channel and their own context,
   whose deadline expires at a random moment: exactly once or not at all. */
static void test_ctx_expiring_while_exchanging(void)
{
    uint64_t r = seed ^ 0xC0C0;
    int rounds = 200 * scale / 5;
    for (int i = 0; i < rounds; i++) {
        gc_chan *ch = gc_chan_new(0);
        gc_ctx *cs = gc_ctx_new(NULL, gc_now_ns() + (int64_t)(rnd(&r) % 300000));
        gc_ctx *cr = gc_ctx_new(NULL, gc_now_ns() + (int64_t)(rnd(&r) % 300000));
        struct select_op snd = {{{ch, VAL(i), true}, {gc_ctx_done(cs), NULL, false}, {NULL, NULL, false}},
                                2, GC_NOT_READY, {0}, 0};
        struct select_op rcv = {{{ch, NULL, false}, {gc_ctx_done(cr), NULL, false}, {NULL, NULL, false}},
                                2, GC_NOT_READY, {0}, 0};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, do_select, &snd);
        pthread_create(&t2, NULL, do_select, &rcv);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        bool sent = snd.status == GC_OK && snd.res.index == 0;
        bool got = rcv.status == GC_OK && rcv.res.index == 0;
        CHECKF(sent == got, "round %d: sent %d got %d", i, sent, got);
        if (got)
            CHECK(rcv.res.value == VAL(i));
        gc_ctx_release(cs);
        gc_ctx_release(cr);
        destroy(ch);
    }
}

/* The value hooks count the causes retained; set before any context
   holds one. */
static void install_value_hooks(void)
{
    gc_ctx_set_value_hooks((gc_ctx_value_hooks){count_retain, count_release, NULL});
}

static const struct test_case tests[] = {
    {"ctx_cancel_reaches_descendants_not_ancestors",
     test_ctx_cancel_reaches_descendants_not_ancestors},
    {"ctx_deep_chain_and_wide_tree", test_ctx_deep_chain_and_wide_tree},
    {"ctx_release_of_long_chain_is_iterative",
     test_ctx_release_of_long_chain_is_iterative},
    {"ctx_cancel_walk_races_children_leaving",
     test_ctx_cancel_walk_races_children_leaving},
    {"ctx_child_cancel_unlinks_from_parent",
     test_ctx_child_cancel_unlinks_from_parent},
    {"ctx_deadlines", test_ctx_deadlines},
    {"ctx_released_while_its_deadline_fires",
     test_ctx_released_while_its_deadline_fires},
    {"ctx_tree_dropped_while_its_deadline_fires",
     test_ctx_tree_dropped_while_its_deadline_fires},
    {"ctx_after_items", test_ctx_after_items},
    {"ctx_visit_and_take_values", test_ctx_visit_and_take_values},
    {"ctx_deadline_cause", test_ctx_deadline_cause},
    {"ctx_expiring_while_exchanging", test_ctx_expiring_while_exchanging},
};

const struct test_suite suite = {install_value_hooks, tests,
                                 sizeof tests / sizeof *tests};

/* gc_select: registration, parking and the exactly-once outcome.  See
   gc_select.h for the shape and gc_waiter.h for the commit protocol. */
#include "gc_select.h"
#include "gc_bubble.h"

#include <stdint.h>

#include "gc_chan_impl.h"
#include "gc_trace.h"

/* ---- randomness for the poll order ------------------------------------ */

#if defined(__GNUC__)
/* initial-exec: the fast TLS model, fine for a library loaded at import */
static _Thread_local uint64_t rng_state __attribute__((tls_model("initial-exec")));
#else
static _Thread_local uint64_t rng_state;
#endif

static uint32_t rng_next(void)
{
    if (rng_state == 0) {
        uint64_t now = (uint64_t)gc_real_now_ns();
        rng_state = (now << 20) ^ (uint64_t)(uintptr_t)&now ^
                    0x9E3779B97F4A7C15ULL;
    }
    /* xorshift64*: fast and plenty uniform for choosing among cases */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [0, n) without modulo bias (Lemire's multiply-shift). */
static int rng_below(int n)
{
    uint64_t m = (uint64_t)rng_next() * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < (uint32_t)n) {
        uint32_t threshold = (uint32_t)(-(uint32_t)n) % (uint32_t)n;
        while (low < threshold) {
            m = (uint64_t)rng_next() * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (int)(m >> 32);
}

/* ---- setup ------------------------------------------------------------ */

void gc_select_init(gc_select *sel, const gc_case *cases, int ncases,
                    gc_entry *entries, int *poll_order, int *lock_order)
{
    sel->cases = cases;
    sel->ncases = ncases;
    sel->entries = entries;
    sel->poll_order = poll_order;
    sel->lock_order = lock_order;
    sel->spin_yields = gc_spin_yields;
    sel->spin_role = NULL;
    sel->resumed = false;
    sel->stop_word = NULL;
    sel->stop_value = 0;
    sel->bubble = NULL;

    /* Fisher-Yates: trying ready cases in a uniformly random order makes
       the choice among them uniform. */
    for (int i = 0; i < ncases; i++) {
        int j = rng_below(i + 1);
        if (j != i)
            poll_order[i] = poll_order[j];
        poll_order[j] = i;
    }

    sel->registered_ns = 0;
    sel->nlocks = -1; /* computed when the select first blocks */
    sel->hub = NULL;
    /* entries are initialised when they are queued (register_cases) */
}

/* ---- one case, with its channel locked -------------------------------- */

static enum gc_status try_case_locked(const gc_case *c, int index,
                                      gc_select_result *res,
                                      gc_waiter **claimed)
{
    enum gc_status st;
    res->index = index;
    if (c->is_send) {
        st = gc_chan_send_locked(c->chan, c->send_value, claimed);
        res->value = NULL;
        res->ok = true;
    } else {
        st = gc_chan_recv_locked(c->chan, &res->value, &res->ok, claimed);
    }
    return st;
}

static void lock_all(gc_select *sel);
static void unlock_all(gc_select *sel);

/* Every case in poll order, all channels locked by the caller. */
static enum gc_status try_cases_locked(gc_select *sel, gc_select_result *res,
                                       gc_waiter **claimed)
{
    enum gc_status st = GC_NOT_READY;
    for (int k = 0; k < sel->ncases && st == GC_NOT_READY; k++) {
        int i = sel->poll_order[k];
        if (sel->cases[i].chan)
            st = try_case_locked(&sel->cases[i], i, res, claimed);
    }
    return st;
}

enum gc_status gc_select_try(gc_select *sel, gc_select_result *res)
{
    for (int k = 0; k < sel->ncases; k++) {
        int i = sel->poll_order[k];
        const gc_case *c = &sel->cases[i];
        if (!c->chan)
            continue;
        gc_waiter *claimed;
        gc_mutex_lock(&c->chan->lock);
        enum gc_status st = try_case_locked(c, i, res, &claimed);
        gc_mutex_unlock(&c->chan->lock);
        if (claimed)
            gc_waiter_finish(claimed);
        if (st != GC_NOT_READY)
            return st;
    }
    /* Each channel was polled at its own instant.  A select that reports
       nothing ready must have seen nothing ready at one instant, as Go's
       does (with threads truly in parallel the difference shows), so poll
       once more with all of its channels locked at once. */
    int channels = 0;
    for (int i = 0; i < sel->ncases; i++)
        channels += sel->cases[i].chan != NULL;
    if (channels < 2)
        return GC_NOT_READY;
    gc_waiter *claimed = NULL;
    lock_all(sel);
    enum gc_status st = try_cases_locked(sel, res, &claimed);
    unlock_all(sel);
    if (claimed)
        gc_waiter_finish(claimed);
    return st;
}

/* ---- registration ----------------------------------------------------- */

/* Distinct channels sorted by address (insertion sort: selects are small),
   so that every registration locks in one global order.  Only a select
   that blocks needs it. */
static void compute_lock_order(gc_select *sel)
{
    const gc_case *cases = sel->cases;
    int *lock_order = sel->lock_order;
    int n = 0;
    for (int i = 0; i < sel->ncases; i++) {
        gc_chan *ch = cases[i].chan;
        if (!ch)
            continue;
        int k = n;
        bool duplicate = false;
        while (k > 0) {
            gc_chan *other = cases[lock_order[k - 1]].chan;
            if (other == ch) {
                duplicate = true;
                break;
            }
            if ((uintptr_t)other < (uintptr_t)ch)
                break;
            k--;
        }
        if (duplicate)
            continue;
        for (int m = n; m > k; m--)
            lock_order[m] = lock_order[m - 1];
        lock_order[k] = i;
        n++;
    }
    sel->nlocks = n;
}

static void lock_all(gc_select *sel)
{
    if (sel->nlocks < 0)
        compute_lock_order(sel);
    for (int k = 0; k < sel->nlocks; k++)
        gc_mutex_lock(&sel->cases[sel->lock_order[k]].chan->lock);
}

static void unlock_all(gc_select *sel)
{
    for (int k = sel->nlocks - 1; k >= 0; k--)
        gc_mutex_unlock(&sel->cases[sel->lock_order[k]].chan->lock);
}

/* The id of the select's first channel, naming what a park waits on. */
static uint64_t first_channel_id(const gc_select *sel)
{
    for (int i = 0; i < sel->ncases; i++)
        if (sel->cases[i].chan)
            return gc_chan_id(sel->cases[i].chan);
    return 0;
}

/* A recording runs: the select's park begins at now. */
GC_TRACE_COLD
static void trace_park(gc_select *sel, int64_t now)
{
    gc_trace_record(GC_TRACE_PARK, first_channel_id(sel),
                    (uint64_t)(uintptr_t)sel, now);
}

/* With every channel locked at once, poll again (the state may have changed
   since gc_select_try) and, if nothing is ready, queue one entry per case.
   Returns GC_NOT_READY when registered; sel->registered_ns then holds the
   time the park began. That time is read before the entries are queued: a
   waker may commit as soon as the locks drop, and its commit must not come
   before the park in the statistics or in a trace. Real time, also in a
   testing bubble: the time a channel's callers spent blocked is real. */
static enum gc_status register_cases(gc_select *sel, gc_select_result *res)
{
    gc_waiter *claimed = NULL;
    enum gc_status st = GC_NOT_READY;
    int64_t now = gc_real_now_ns();

    lock_all(sel);
    st = try_cases_locked(sel, res, &claimed);
    if (st == GC_NOT_READY) {
        gc_waiter_reset(&sel->waiter);
        sel->waiter.hub = sel->hub;
        if (gc_trace_on())
            sel->waiter.trace_thread = gc_trace_thread_id();
        for (int i = 0; i < sel->ncases; i++) {
            const gc_case *c = &sel->cases[i];
            if (!c->chan)
                continue;
            gc_entry *e = &sel->entries[i];
            e->waiter = &sel->waiter;
            e->send_value = c->send_value;
            e->case_index = i;
            e->is_send = c->is_send;
            if (c->is_send)
                gc_waitq_push(&c->chan->sendq, e);
            else if (c->chan->lifo_receivers && !sel->resumed)
                gc_waitq_push_front(&c->chan->recvq, e);
            else
                gc_waitq_push(&c->chan->recvq, e);
        }
    }
    unlock_all(sel);
    if (claimed)
        gc_waiter_finish(claimed);
    if (st == GC_NOT_READY) {
        sel->registered_ns = now;
        if (gc_trace_on())
            trace_park(sel, now);
    }
    return st;
}

/* A recording runs: the select's park ends at now. */
GC_TRACE_COLD
static void trace_wake(gc_select *sel, int64_t now)
{
    gc_trace_record(GC_TRACE_WAKE, first_channel_id(sel),
                    (uint64_t)(uintptr_t)sel, now);
}

/* The claimer's note (gc_waiter.trace_*): this thread's send or receive,
   at the time it committed; recorded by the claimer already, or now. */
GC_TRACE_COLD
static void trace_noted(gc_waiter *w)
{
    if (!w->trace_recorded)
        gc_trace_record((enum gc_trace_kind)w->trace_kind, w->trace_chan,
                        w->trace_seq, w->trace_ns);
    else if (w->trace_kind == GC_TRACE_RECV)
        gc_trace_received(w->trace_chan, w->trace_seq);
    w->trace_chan = 0;
}

/* Whether an earlier case waits on the same channel in the same direction:
   a select's time counts once per channel and direction. */
static bool repeats_earlier_case(const gc_select *sel, int i)
{
    const gc_case *c = &sel->cases[i];
    for (int j = 0; j < i; j++)
        if (sel->cases[j].chan == c->chan && sel->cases[j].is_send == c->is_send)
            return true;
    return false;
}

/* Take every entry still queued off its channel, one lock at a time, and
   add the time the call was registered to each channel's blocked time.
   now_ns: a clock reading just taken, or 0 to take one. */
static void unregister_cases(gc_select *sel, int64_t now_ns)
{
    int64_t blocked_ns = 0;
    if (sel->registered_ns) {
        int64_t end = now_ns ? now_ns : gc_real_now_ns();
        blocked_ns = end - sel->registered_ns;
        if (blocked_ns < 0) /* a monotonic clock: never, but stay sane */
            blocked_ns = 0;
        sel->registered_ns = 0;
        /* The wake-up follows the commit that caused it: not the spin's
           reading then, which may precede the commit, but a fresh one. */
        if (gc_trace_on())
            trace_wake(sel, now_ns ? gc_real_now_ns() : end);
    }
    for (int i = 0; i < sel->ncases; i++) {
        const gc_case *c = &sel->cases[i];
        gc_entry *e = &sel->entries[i];
        if (!c->chan)
            continue;
        bool count = blocked_ns > 0 && !repeats_earlier_case(sel, i);
        gc_mutex_lock(&c->chan->lock);
        if (e->queued)
            gc_waitq_remove(c->is_send ? &c->chan->sendq : &c->chan->recvq, e);
        if (count) {
            if (c->is_send)
                c->chan->send_blocked_ns += blocked_ns;
            else
                c->chan->recv_blocked_ns += blocked_ns;
        }
        gc_mutex_unlock(&c->chan->lock);
    }
}

/* The owner's view of a committed waiter. */
static enum gc_status committed_result(gc_select *sel, gc_select_result *res)
{
    gc_waiter *w = &sel->waiter;
    if (GC_TRACE_UNLIKELY(w->trace_chan))
        trace_noted(w);
    res->index = w->chosen;
    if (sel->cases[w->chosen].is_send) {
        res->value = NULL;
        res->ok = true;
        return w->ok ? GC_OK : GC_CLOSED;
    }
    res->value = w->value;
    res->ok = w->ok;
    return GC_OK;
}

/* The pre-sleep spin (see spin_role); true when a waker answered during it.
   *now_ns: the clock when it begins; the spin's latest reading after. */
static bool spin_answered(gc_select *sel, int64_t *now_ns)
{
    int free = 0;
    if (sel->spin_role == NULL)
        return gc_waiter_spin_at(&sel->waiter, sel->spin_yields, now_ns);
    if (!atomic_compare_exchange_strong_explicit(sel->spin_role, &free, 1,
                                                 memory_order_relaxed,
                                                 memory_order_relaxed))
        return gc_waiter_spin_at(&sel->waiter, gc_spin_yields, now_ns);
    bool answered = gc_waiter_spin_at(&sel->waiter, sel->spin_yields, now_ns);
    atomic_store_explicit(sel->spin_role, 0, memory_order_relaxed);
    return answered;
}

enum gc_status gc_select_wait(gc_select *sel, int64_t deadline_ns,
                              int64_t slice_ns, gc_select_result *res)
{
    enum gc_status st = register_cases(sel, res);
    if (st != GC_NOT_READY)
        return st;
    if (sel->bubble) {
        /* durable unless a channel from outside the bubble may wake it */
        uint64_t id = gc_bubble_id(gc_bubble_of(sel->bubble));
        bool durable = true;
        for (int i = 0; i < sel->ncases; i++) {
            gc_chan *ch = sel->cases[i].chan;
            if (ch && ch->bubble_id != id && ch->bubble_id != GC_BUBBLE_ANY)
                durable = false;
        }
        gc_bubble_park(sel->bubble, GC_BUBBLE_OP, sel->bubble_op, sel->bubble_deadline,
                       &sel->waiter.state, (_Atomic uint64_t *)sel->stop_word,
                       sel->stop_value, durable);
    }

    /* The registration's clock reading serves the slice, the spin and the
       statistics; a wait the spin sees answered ends at the spin's latest
       reading, so a hand-off within the spin costs no further reading.
       Real time, also in a testing bubble: slices and spins are real. */
    int64_t now = sel->registered_ns;
    int64_t park_until = deadline_ns;
    if (slice_ns > 0 && slice_ns < park_until - now) /* no overflow: now >= 0 */
        park_until = now + slice_ns;

    enum gc_park_result pr = GC_PARK_WOKEN;
    if (!spin_answered(sel, &now)) {
        pr = gc_waiter_sleep_or_stop(&sel->waiter, park_until, slice_ns > 0,
                                     sel->stop_word, sel->stop_value);
        now = 0; /* unregister_cases reads the clock */
    }
    if (pr != GC_PARK_WOKEN) {
        if (gc_waiter_abort(&sel->waiter)) {
            unregister_cases(sel, now);
            if (pr == GC_PARK_TIMEOUT && park_until == deadline_ns)
                return GC_TIMEOUT;
            sel->resumed = true;
            return GC_INTERRUPTED;
        }
        /* A waker claimed us as we gave up: the operation happened. */
    }
    gc_waiter_wait_done(&sel->waiter);
    unregister_cases(sel, now);
    return committed_result(sel, res);
}

enum gc_status gc_select_spin(gc_select *sel, int spin_yields,
                              gc_select_result *res)
{
    sel->hub = NULL; /* a waker finishes it as it would a thread's */
    enum gc_status st = register_cases(sel, res);
    if (st != GC_NOT_READY)
        return st;
    /* Queued, so parked as far as the statistics and a trace go; the
       spin's clock readings serve them as in gc_select_wait. */
    int64_t now = sel->registered_ns;
    if (!gc_waiter_spin_at(&sel->waiter, spin_yields, &now) &&
        gc_waiter_abort(&sel->waiter)) {
        unregister_cases(sel, now);
        return GC_TIMEOUT;
    }
    gc_waiter_wait_done(&sel->waiter);
    unregister_cases(sel, now);
    return committed_result(sel, res);
}

enum gc_status gc_select_register(gc_select *sel, struct gc_hub *hub,
                                  gc_select_result *res)
{
    sel->hub = hub;
    return register_cases(sel, res);
}

void gc_select_unregister(gc_select *sel)
{
    unregister_cases(sel, 0);
}

enum gc_status gc_select_committed(gc_select *sel, gc_select_result *res)
{
    return committed_result(sel, res);
}

/* gc_bubble: virtual time for a set of threads.  See gc_bubble.h. */
#include "gc_bubble.h"

#include "platform/gc_platform.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_waiter.h"

_Thread_local struct gc_bubble *gc_bubble_tls;
static _Thread_local gc_bubble_member *self_member;

struct gc_bubble_member {
    gc_bubble *bubble;         /* immutable; a reference */
    /* Guarded by bubble->lock: */
    gc_bubble_member *prev, *next;
    unsigned long ident;
    char name[64];
    bool parked;
    bool durable;                 /* nothing outside the bubble can wake it */
    enum gc_bubble_park_kind kind;
    const char *op;
    int64_t deadline;
    _Atomic uint32_t *word;       /* OP: the waiter's state word */
    _Atomic uint64_t *stop_word;  /* OP: stored into to end the sleep */
    uint64_t stop_value;
    enum gc_bubble_wake reason;   /* why the bubble woke it */
    /* WAIT and EXIT parks sleep on bell; the bubble bumps it. */
    _Atomic uint32_t bell;
    _Atomic uint64_t own_stop;    /* a stop word for callers without one */
};

struct gc_bubble {
    gc_mutex lock;
    _Atomic long refs;
    _Atomic int64_t now;       /* written under lock, read anywhere */
    void *user;                /* immutable, borrowed */
    uint64_t id;               /* immutable */
    gc_timer_heap *timers;     /* owned */
    /* Guarded by lock: */
    gc_bubble_member *members; /* a list; the members own themselves */
    size_t nmembers;
    char *deadlock_report;     /* owned */
    uint64_t advances;
};

gc_bubble *gc_bubble_new(int64_t start_ns, void *user)
{
    gc_bubble *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->timers = gc_timer_heap_new();
    if (!b->timers || gc_mutex_init(&b->lock) != 0) {
        gc_timer_heap_free(b->timers);
        free(b);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->now, start_ns);
    b->user = user;
    static _Atomic uint64_t last_id;
    b->id = atomic_fetch_add(&last_id, 1) + 1;
    return b;
}

void gc_bubble_retain(gc_bubble *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void gc_bubble_release(gc_bubble *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    gc_timer_heap_free(b->timers);
    gc_mutex_destroy(&b->lock);
    free(b->deadlock_report);
    free(b);
}

int64_t gc_bubble_now_ns(const gc_bubble *b)
{
    return atomic_load_explicit(&b->now, memory_order_acquire);
}

void *gc_bubble_user(const gc_bubble *b) { return b->user; }
gc_timer_heap *gc_bubble_timers(gc_bubble *b) { return b->timers; }
uint64_t gc_bubble_id(const gc_bubble *b) { return b->id; }
gc_bubble *gc_bubble_of(const gc_bubble_member *m) { return m->bubble; }
gc_bubble_member *gc_bubble_self(void) { return self_member; }
_Atomic uint64_t *gc_bubble_stop_word(gc_bubble_member *m) { return &m->own_stop; }

/* ---- settling (lock held) ---------------------------------------------- */

static bool durable(const gc_bubble_member *m)
{
    if (!m->parked || !m->durable)
        return false;
    if (m->kind != GC_BUBBLE_OP)
        return true;
    /* still WAITING (maybe asleep): nobody has completed it */
    uint32_t s = atomic_load_explicit(m->word, memory_order_acquire);
    return (s & ~(uint32_t)GC_W_SLEEPING) == GC_W_WAITING;
}

static bool all_durable(gc_bubble *b)
{
    for (gc_bubble_member *m = b->members; m; m = m->next)
        if (!durable(m))
            return false;
    return true;
}

static void ring(gc_bubble_member *m, enum gc_bubble_wake reason)
{
    m->parked = false;
    m->reason = reason;
    if (m->kind == GC_BUBBLE_OP) {
        atomic_store_explicit(m->stop_word, m->stop_value, memory_order_seq_cst);
        /* The member cannot leave its wait before it has unparked, which
           takes this lock: the word is still its waiter's. */
        gc_waiter_stop_wake(m->word);
    } else {
        atomic_fetch_add_explicit(&m->bell, 1, memory_order_release);
        gc_unpark(&m->bell);
    }
}

static void report_deadlock(gc_bubble *b)
{
    size_t cap = 128, len = 0;
    for (gc_bubble_member *m = b->members; m; m = m->next)
        cap += sizeof(m->name) + 128;
    char *text = malloc(cap);
    if (text) {
        len += (size_t)snprintf(text + len, cap - len,
                                "all threads in the bubble are blocked - deadlock! "
                                "Nothing inside it can wake them and no virtual "
                                "deadline is pending:");
        for (gc_bubble_member *m = b->members; m && len < cap; m = m->next) {
            const char *what = m->kind == GC_BUBBLE_WAIT   ? "bubble.wait()"
                               : m->kind == GC_BUBBLE_EXIT ? "the end of the bubble's threads"
                                                           : (m->op ? m->op : "wait");
            len += (size_t)snprintf(text + len, cap - len, "\n  thread %s (%lu) waits in %s",
                                    m->name, m->ident, what);
        }
    }
    free(b->deadlock_report);
    b->deadlock_report = text;
}

static void settle(gc_bubble *b)
{
    for (;;) {
        if (!b->members || !all_durable(b))
            return;
        for (gc_bubble_member *m = b->members; m; m = m->next) {
            if (m->kind == GC_BUBBLE_WAIT) {
                ring(m, GC_BUBBLE_READY);
                return;
            }
        }
        if (b->nmembers == 1 && b->members->kind == GC_BUBBLE_EXIT) {
            ring(b->members, GC_BUBBLE_READY);
            return;
        }
        int64_t next = gc_timer_heap_next(b->timers);
        for (gc_bubble_member *m = b->members; m; m = m->next)
            if (m->kind == GC_BUBBLE_OP && m->deadline < next)
                next = m->deadline;
        if (next == GC_FOREVER) {
            report_deadlock(b);
            for (gc_bubble_member *m = b->members; m; m = m->next)
                ring(m, GC_BUBBLE_DEADLOCK);
            return;
        }
        int64_t now = atomic_load_explicit(&b->now, memory_order_relaxed);
        if (next > now) {
            now = next;
            atomic_store_explicit(&b->now, now, memory_order_release);
            b->advances++;
        }
        for (gc_bubble_member *m = b->members; m; m = m->next)
            if (m->kind == GC_BUBBLE_OP && m->deadline <= now)
                ring(m, GC_BUBBLE_TIMEOUT);
        gc_timer_heap_fire(b->timers, now);
    }
}

/* ---- members ----------------------------------------------------------- */

gc_bubble_member *gc_bubble_add_member(gc_bubble *b)
{
    gc_bubble_member *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    gc_bubble_retain(b);
    m->bubble = b;
    m->deadline = GC_FOREVER;
    strcpy(m->name, "?");
    gc_mutex_lock(&b->lock);
    m->next = b->members;
    if (b->members)
        b->members->prev = m;
    b->members = m;
    b->nmembers++;
    gc_mutex_unlock(&b->lock);
    return m;
}

void gc_bubble_enter(gc_bubble_member *m, unsigned long ident, const char *name)
{
    gc_mutex_lock(&m->bubble->lock);
    m->ident = ident;
    snprintf(m->name, sizeof(m->name), "%s", name ? name : "?");
    gc_mutex_unlock(&m->bubble->lock);
    self_member = m;
    gc_bubble_tls = m->bubble;
}

void gc_bubble_remove_member(gc_bubble_member *m)
{
    gc_bubble *b = m->bubble;
    bool is_self = self_member == m;
    gc_mutex_lock(&b->lock);
    if (m->prev)
        m->prev->next = m->next;
    else
        b->members = m->next;
    if (m->next)
        m->next->prev = m->prev;
    b->nmembers--;
    free(m);
    settle(b); /* timers it fires are still the bubble's */
    if (b->nmembers == 0)
        gc_timer_heap_clear(b->timers); /* the bubble is over: nothing fires them */
    gc_mutex_unlock(&b->lock);
    if (is_self) {
        self_member = NULL;
        gc_bubble_tls = NULL;
    }
    gc_bubble_release(b);
}

size_t gc_bubble_members(gc_bubble *b)
{
    gc_mutex_lock(&b->lock);
    size_t n = b->nmembers;
    gc_mutex_unlock(&b->lock);
    return n;
}

/* ---- parking ----------------------------------------------------------- */

void gc_bubble_park(gc_bubble_member *m, enum gc_bubble_park_kind kind,
                    const char *op, int64_t deadline_ns, _Atomic uint32_t *word,
                    _Atomic uint64_t *stop_word, uint64_t stop_value, bool durable)
{
    gc_bubble *b = m->bubble;
    gc_mutex_lock(&b->lock);
    m->parked = true;
    m->durable = durable;
    m->kind = kind;
    m->op = op;
    m->deadline = kind == GC_BUBBLE_OP ? deadline_ns : GC_FOREVER;
    m->word = word;
    m->stop_word = stop_word;
    m->stop_value = stop_value;
    m->reason = GC_BUBBLE_NOT_WOKEN;
    settle(b);
    gc_mutex_unlock(&b->lock);
}

enum gc_bubble_wake gc_bubble_unpark(gc_bubble_member *m)
{
    gc_bubble *b = m->bubble;
    gc_mutex_lock(&b->lock);
    enum gc_bubble_wake reason = m->reason;
    m->parked = false;
    m->reason = GC_BUBBLE_NOT_WOKEN;
    m->word = NULL;
    m->stop_word = NULL;
    m->deadline = GC_FOREVER;
    gc_mutex_unlock(&b->lock);
    return reason;
}

enum gc_park_result gc_bubble_sleep(gc_bubble_member *m, int64_t real_deadline_ns)
{
    gc_bubble *b = m->bubble;
    for (;;) {
        uint32_t bell = atomic_load_explicit(&m->bell, memory_order_acquire);
        gc_mutex_lock(&b->lock);
        bool woken = !m->parked;
        gc_mutex_unlock(&b->lock);
        if (woken)
            return GC_PARK_WOKEN;
        enum gc_park_result r = gc_park(&m->bell, bell, real_deadline_ns);
        if (r != GC_PARK_WOKEN)
            return r;
    }
}

char *gc_bubble_deadlock_report(gc_bubble *b)
{
    gc_mutex_lock(&b->lock);
    char *copy = NULL;
    if (b->deadlock_report) { /* strdup is not C11 */
        size_t n = strlen(b->deadlock_report) + 1;
        if ((copy = malloc(n)) != NULL)
            memcpy(copy, b->deadlock_report, n);
    }
    gc_mutex_unlock(&b->lock);
    return copy;
}

uint64_t gc_bubble_advances(gc_bubble *b)
{
    gc_mutex_lock(&b->lock);
    uint64_t n = b->advances;
    gc_mutex_unlock(&b->lock);
    return n;
}

/* gc_timer: the timer heap and its thread.  See gc_timer.h. */
#include "gc_timer.h"

#include "platform/gc_platform.h"
#include <stdlib.h>

#include "gc_bubble.h"
#include "gc_fork.h"
#include "gc_park.h"

#define NOT_IN_HEAP SIZE_MAX

struct gc_timer {
    gc_chan *chan;     /* not owned: the caller keeps it alive; or NULL */
    gc_timer_fn fn;    /* callback timers: called instead of a send */
    void *arg;
    /* Guarded by timers.lock: */
    int64_t when;      /* absolute monotonic deadline */
    int64_t period;    /* 0 for a one-shot timer */
    size_t heap_index; /* NOT_IN_HEAP when stopped or fired */
    gc_timer_heap *owner; /* the heap it is in, while heap_index says so */
    bool firing;       /* a callback is running (outside the lock) */
    bool free_pending; /* freed by its own callback: the timer loop frees
                          it once the callback has returned */
};

/* The timer whose callback runs on this thread (the timer thread, or a
   bubble thread advancing its bubble's clock): stopping or freeing it from
   inside its own callback must not wait for the callback to return. */
static _Thread_local gc_timer *running_callback;

/* A min-heap of timers by deadline.  heap owns its array; the timers in it
   are owned by their creators, who take them out (gc_timer_stop) before
   freeing.  Every heap is guarded by timers.lock. */
struct gc_timer_heap {
    gc_timer **heap;
    size_t len, cap;
};

static struct {
    gc_mutex lock;
    /* Guarded by lock: the process's heap, served by the timer thread.
       Timers armed on a bubble thread go to their bubble's heap instead
       (gc_bubble.h), which only that bubble's clock fires. */
    gc_timer_heap main;
    bool thread_started;
    /* Bumped (under lock) when the earliest deadline moves earlier, so the
       thread wakes and re-reads it; the thread parks on it. */
    _Atomic uint32_t wake_seq;
    /* Bumped after each callback returns; stoppers of a firing callback
       timer park on it. */
    _Atomic uint32_t fired_seq;
} timers = {.lock = GC_MUTEX_INIT};

/* ---- the heap (timers.lock held) --------------------------------------- */

static void heap_set(gc_timer_heap *h, size_t i, gc_timer *t)
{
    h->heap[i] = t;
    t->heap_index = i;
    t->owner = h;
}

static void sift_up(gc_timer_heap *h, size_t i)
{
    gc_timer *t = h->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->heap[parent]->when <= t->when)
            break;
        heap_set(h, i, h->heap[parent]);
        i = parent;
    }
    heap_set(h, i, t);
}

static void sift_down(gc_timer_heap *h, size_t i)
{
    gc_timer *t = h->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->heap[child + 1]->when < h->heap[child]->when)
            child++;
        if (t->when <= h->heap[child]->when)
            break;
        heap_set(h, i, h->heap[child]);
        i = child;
    }
    heap_set(h, i, t);
}

static bool heap_push(gc_timer_heap *h, gc_timer *t)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        gc_timer **heap = realloc(h->heap, cap * sizeof(*heap));
        if (!heap)
            return false;
        h->heap = heap;
        h->cap = cap;
    }
    heap_set(h, h->len++, t);
    sift_up(h, t->heap_index);
    return true;
}

static void heap_remove(gc_timer *t)
{
    gc_timer_heap *h = t->owner;
    size_t i = t->heap_index;
    gc_timer *last = h->heap[--h->len];
    t->heap_index = NOT_IN_HEAP;
    if (i == h->len)
        return;
    heap_set(h, i, last);
    sift_up(h, i);
    sift_down(h, last->heap_index);
}

/* ---- the thread -------------------------------------------------------- */

static void fire(gc_timer *t, int64_t now)
{
    /* Non-blocking: a full channel (a slow reader) drops the value. */
    void *value = (void *)(((uintptr_t)now << 1) | 1u); /* Go sends "now" */
    gc_chan_try_send(t->chan, value);
    if (t->period > 0) {
        /* Next tick on the original grid, skipping the ones already missed. */
        int64_t next = t->when + t->period;
        if (next <= now)
            next += ((now - next) / t->period + 1) * t->period;
        t->when = next;
        sift_down(t->owner, t->heap_index);
    } else {
        heap_remove(t);
    }
}

/* timers.lock held; returns with it held, having dropped it for the call.
   t was the earliest of h, due at now.  The callback runs inside the fork
   gate (taken before the timer lock, the lock order), so a fork() never
   finds a callback half run. */
static void fire_callback(gc_timer_heap *h, gc_timer *t, int64_t now)
{
    gc_mutex_unlock(&timers.lock);
    gc_fork_gate_enter();
    gc_mutex_lock(&timers.lock);
    if (h->len == 0 || h->heap[0] != t || t->when > now) {
        /* stopped, reset or freed while the lock was dropped: re-read */
        gc_mutex_unlock(&timers.lock);
        gc_fork_gate_leave();
        gc_mutex_lock(&timers.lock);
        return;
    }
    heap_remove(t);
    t->firing = true;
    gc_mutex_unlock(&timers.lock);
    gc_timer *outer = running_callback;
    running_callback = t;
    t->fn(t->arg);
    running_callback = outer;
    gc_mutex_lock(&timers.lock);
    t->firing = false;
    if (t->free_pending)
        free(t); /* the callback freed its own timer (see gc_timer_free) */
    atomic_fetch_add(&timers.fired_seq, 1);
    gc_unpark(&timers.fired_seq);
    gc_mutex_unlock(&timers.lock);
    gc_fork_gate_leave();
    gc_mutex_lock(&timers.lock);
}

/* timers.lock held: fire every timer of h due at now (dropping the lock for
   callbacks).  Returns how many fired. */
static size_t fire_due(gc_timer_heap *h, int64_t now, bool reread_clock)
{
    size_t fired = 0;
    while (h->len > 0 && h->heap[0]->when <= now) {
        fired++;
        if (h->heap[0]->fn) {
            fire_callback(h, h->heap[0], now);
            if (reread_clock)
                now = gc_real_now_ns();
        } else {
            fire(h->heap[0], now);
        }
    }
    return fired;
}

static void *timer_thread(void *arg)
{
    (void)arg;
    gc_mutex_lock(&timers.lock);
    for (;;) {
        fire_due(&timers.main, gc_real_now_ns(), true);
        int64_t deadline = timers.main.len > 0 ? timers.main.heap[0]->when : GC_FOREVER;
        uint32_t seq = atomic_load(&timers.wake_seq);
        gc_mutex_unlock(&timers.lock);
        gc_park(&timers.wake_seq, seq, deadline);
        gc_mutex_lock(&timers.lock);
    }
    return NULL;
}

/* The at-fork handlers (gc_fork.c), called with the fork gate held
   exclusively: no callback is running, none is half done. */
void gc_timer_fork_prepare(void) { gc_mutex_lock(&timers.lock); }
void gc_timer_fork_parent(void) { gc_mutex_unlock(&timers.lock); }

void gc_timer_fork_child(void)
{
    /* Only the forking thread survives: the timer thread is gone.  Pending
       timers stay in the heap; a new thread starts with
       gc_timer_resume_after_fork() or the next timer operation.  The lock
       is made anew: its old waiters are gone with their threads. */
    gc_mutex_unlock(&timers.lock);
    gc_mutex_init(&timers.lock);
    timers.thread_started = false;
    atomic_store(&timers.wake_seq, 0);
}

/* timers.lock held.  The thread is detached: it holds no resources worth
   reclaiming and never touches Python, so it simply ends with the process. */
static bool ensure_thread(void)
{
    if (timers.thread_started)
        return true;
    bool ok = gc_thread_start_detached(timer_thread, NULL, 64 * 1024) == 0;
    timers.thread_started = ok;
    return ok;
}

/* ---- public ------------------------------------------------------------ */

gc_timer *gc_timer_new(gc_chan *ch)
{
    gc_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->chan = ch;
    t->heap_index = NOT_IN_HEAP;
    return t;
}

gc_timer *gc_timer_new_callback(gc_timer_fn fn, void *arg)
{
    gc_timer *t = gc_timer_new(NULL);
    if (t) {
        t->fn = fn;
        t->arg = arg;
    }
    return t;
}

/* timers.lock held: take the timer out and drain an undelivered value;
   wait for a callback in progress on another thread. */
static bool stop_locked(gc_timer *t)
{
    bool was_active = t->heap_index != NOT_IN_HEAP;
    if (was_active)
        heap_remove(t);
    while (t->firing && running_callback != t) {
        uint32_t seq = atomic_load(&timers.fired_seq);
        gc_mutex_unlock(&timers.lock);
        gc_park(&timers.fired_seq, seq, GC_FOREVER);
        gc_mutex_lock(&timers.lock);
    }
    if (!t->chan)
        return was_active;
    size_t count;
    void **stale = gc_chan_take_buffer(t->chan, &count);
    free(stale); /* immediate values only: nothing to release */
    return was_active || count > 0;
}

bool gc_timer_stop(gc_timer *t)
{
    gc_mutex_lock(&timers.lock);
    bool was_active = stop_locked(t);
    gc_mutex_unlock(&timers.lock);
    return was_active;
}

enum gc_status gc_timer_reset(gc_timer *t, int64_t when, int64_t period_ns,
                              bool *was_active)
{
    enum gc_status st = GC_OK;
    gc_mutex_lock(&timers.lock);
    *was_active = stop_locked(t);
    t->when = when;
    t->period = period_ns > 0 ? period_ns : 0;
    /* Armed on a bubble thread: the bubble's clock fires it (gc_bubble.h). */
    gc_timer_heap *h = gc_bubble_tls ? gc_bubble_timers(gc_bubble_tls) : &timers.main;
    if ((h == &timers.main && !ensure_thread()) || !heap_push(h, t)) {
        st = GC_NOMEM;
    } else if (h == &timers.main && t->heap_index == 0) {
        /* a new earliest deadline: the thread must re-read it */
        atomic_fetch_add(&timers.wake_seq, 1);
        gc_unpark(&timers.wake_seq);
    }
    gc_mutex_unlock(&timers.lock);
    return st;
}

void gc_timer_free(gc_timer *t)
{
    if (!t)
        return;
    gc_mutex_lock(&timers.lock);
    stop_locked(t);
    /* Freed from inside its own callback (a deadline whose cancel drops
       the last reference of its context): fire_callback still has to write
       to it after the callback returns, so it frees it then. */
    bool own_callback = t->firing && running_callback == t;
    if (own_callback)
        t->free_pending = true;
    gc_mutex_unlock(&timers.lock);
    if (!own_callback)
        free(t);
}

void gc_timer_resume_after_fork(void)
{
    gc_mutex_lock(&timers.lock);
    if (timers.main.len > 0)
        ensure_thread();
    gc_mutex_unlock(&timers.lock);
}

bool gc_timer_armed(gc_timer *t)
{
    gc_mutex_lock(&timers.lock);
    bool armed = t->heap_index != NOT_IN_HEAP;
    gc_mutex_unlock(&timers.lock);
    return armed;
}

size_t gc_timer_pending(void)
{
    gc_mutex_lock(&timers.lock);
    size_t n = timers.main.len;
    gc_mutex_unlock(&timers.lock);
    return n;
}

/* ---- bubble heaps (gc_bubble.c) ---------------------------------------- */

gc_timer_heap *gc_timer_heap_new(void)
{
    return calloc(1, sizeof(gc_timer_heap));
}

void gc_timer_heap_clear(gc_timer_heap *h)
{
    gc_mutex_lock(&timers.lock);
    /* What is left is stopped: its timers may outlive the heap. */
    for (size_t i = 0; i < h->len; i++)
        h->heap[i]->heap_index = NOT_IN_HEAP;
    h->len = 0;
    gc_mutex_unlock(&timers.lock);
}

void gc_timer_heap_free(gc_timer_heap *h)
{
    if (!h)
        return;
    gc_timer_heap_clear(h);
    free(h->heap);
    free(h);
}

/* A periodic timer whose channel is full drops its ticks: until somebody
   receives, it can wake nobody, so it does not count as pending. */
static bool can_deliver(gc_timer *t)
{
    if (t->fn || t->period == 0)
        return true;
    int64_t cap = gc_chan_capacity(t->chan);
    return cap < 0 || (int64_t)gc_chan_len(t->chan) < cap;
}

int64_t gc_timer_heap_next(gc_timer_heap *h)
{
    gc_mutex_lock(&timers.lock);
    int64_t next = GC_FOREVER;
    for (size_t i = 0; i < h->len; i++) {
        gc_timer *t = h->heap[i];
        if (t->when < next && can_deliver(t))
            next = t->when;
    }
    gc_mutex_unlock(&timers.lock);
    return next;
}

size_t gc_timer_heap_fire(gc_timer_heap *h, int64_t now)
{
    gc_mutex_lock(&timers.lock);
    size_t fired = fire_due(h, now, false);
    gc_mutex_unlock(&timers.lock);
    return fired;
}

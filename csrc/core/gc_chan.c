/* gc_chan: buffer, wait queues and the non-blocking operations.  The
   invariants guarded by the channel lock are listed in gc_chan_impl.h. */
#include "gc_chan_impl.h"
#include "gc_bubble.h"

#include <stdlib.h>
#include <string.h>

#include "gc_park.h"
#include "gc_trace.h"

/* gc_chan_id's source: never reused, so a trace never confuses two
   channels that lived at one address. */
static atomic_uint_fast64_t next_chan_id = 1;

/* Smallest ring allocated; rings grow by doubling up to the capacity. */
#define RING_MIN 8
/* An unbounded ring shrinks by half when it is this sparse (and large). */
#define RING_SHRINK_ABOVE 1024
#define RING_SHRINK_FILL 8

/* ---- wait queues ------------------------------------------------------ */

void gc_waitq_push(gc_waitq *q, gc_entry *e)
{
    e->next = NULL;
    e->prev = q->tail;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    e->queued = true;
}

void gc_waitq_push_front(gc_waitq *q, gc_entry *e)
{
    e->prev = NULL;
    e->next = q->head;
    if (q->head)
        q->head->prev = e;
    else
        q->tail = e;
    q->head = e;
    e->queued = true;
}

void gc_waitq_remove(gc_waitq *q, gc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        q->tail = e->prev;
    e->prev = e->next = NULL;
    e->queued = false;
}

/* Unlink entries from the head until one's waiter can be claimed.  Entries of
   calls that committed elsewhere or gave up are dropped on the way. */
static gc_entry *waitq_claim_first(gc_waitq *q)
{
    gc_entry *e;
    while ((e = q->head) != NULL) {
        gc_waitq_remove(q, e);
        if (gc_waiter_claim(e->waiter))
            return e;
    }
    return NULL;
}

static size_t waitq_count_live(const gc_waitq *q)
{
    size_t n = 0;
    for (const gc_entry *e = q->head; e; e = e->next)
        if (gc_waiter_state(e->waiter) == GC_W_WAITING)
            n++;
    return n;
}

/* ---- ring buffer ------------------------------------------------------ */

/* Out of line: the hot paths that may grow the ring (a send, a give-back)
   then need no registers saved for an allocation they rarely make. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static bool ring_resize(gc_chan *ch, size_t new_size)
{
    void **ring = malloc(new_size * sizeof(void *));
    if (!ring)
        return false;
    for (size_t i = 0; i < ch->count; i++)
        ring[i] = ch->ring[(ch->head + i) % ch->ring_size];
    free(ch->ring);
    ch->ring = ring;
    ch->ring_size = new_size;
    ch->head = 0;
    return true;
}

/* The ring's next size: doubling, up to the capacity. */
static size_t ring_grown_size(const gc_chan *ch)
{
    size_t want = ch->ring_size ? ch->ring_size * 2 : RING_MIN;
    if (ch->capacity != GC_UNBOUNDED && want > (size_t)ch->capacity)
        want = (size_t)ch->capacity;
    return want;
}

static bool ring_push(gc_chan *ch, void *value)
{
    if (ch->count == ch->ring_size) {
        size_t want = ring_grown_size(ch);
        if (want > SIZE_MAX / sizeof(void *) || !ring_resize(ch, want))
            return false;
    }
    size_t tail = ch->head + ch->count;
    if (tail >= ch->ring_size)
        tail -= ch->ring_size;
    ch->ring[tail] = value;
    ch->count++;
    return true;
}

/* Put value before the oldest item.  A full ring grows by doubling up to
   the capacity, then one slot at a time: only given-back values go past the
   capacity (see gc_chan_give_back). */
static bool ring_push_front(gc_chan *ch, void *value)
{
    if (ch->count == ch->ring_size) {
        size_t want = ring_grown_size(ch);
        if (want <= ch->ring_size)
            want = ch->ring_size + 1;
        if (want > SIZE_MAX / sizeof(void *) || !ring_resize(ch, want))
            return false;
    }
    ch->head = ch->head ? ch->head - 1 : ch->ring_size - 1;
    ch->ring[ch->head] = value;
    ch->count++;
    return true;
}

static void *ring_pop(gc_chan *ch)
{
    void *value = ch->ring[ch->head];
    if (++ch->head == ch->ring_size)
        ch->head = 0;
    ch->count--;
    return value;
}

/* After a burst, give back memory an unbounded channel no longer needs.  A
   failed allocation just keeps the larger ring. */
static void ring_maybe_shrink(gc_chan *ch)
{
    if (ch->ring_size > RING_SHRINK_ABOVE &&
        ch->count < ch->ring_size / RING_SHRINK_FILL)
        ring_resize(ch, ch->ring_size / 2);
}

static bool has_room(const gc_chan *ch)
{
    return ch->capacity == GC_UNBOUNDED || ch->count < (size_t)ch->capacity;
}

/* ---- lifecycle -------------------------------------------------------- */

gc_chan *gc_chan_new(int64_t capacity)
{
    gc_chan *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    if (gc_mutex_init(&ch->lock) != 0) {
        free(ch);
        return NULL;
    }
    if (!gc_fork_register(&ch->fork_node, GC_FORK_CHAN, &ch->lock, ch)) {
        gc_mutex_destroy(&ch->lock);
        free(ch);
        return NULL;
    }
    ch->capacity = capacity;
    ch->bubble_id = GC_UNLIKELY(gc_bubble_tls != NULL) ? gc_bubble_id(gc_bubble_tls) : 0;
    ch->id = (uint64_t)atomic_fetch_add_explicit(&next_chan_id, 1,
                                                 memory_order_relaxed);
    return ch;
}

uint64_t gc_chan_bubble(const gc_chan *ch) { return ch->bubble_id; }
void gc_chan_set_bubble(gc_chan *ch, uint64_t bubble_id) { ch->bubble_id = bubble_id; }

void gc_chan_free(gc_chan *ch)
{
    if (!ch)
        return;
    gc_fork_unregister(&ch->fork_node, GC_FORK_CHAN);
    gc_mutex_destroy(&ch->lock);
    free(ch->ring);
    free(ch->given_back);
    free(ch);
}

/* In a forked child, with ch->lock held: every queued entry belongs to a
   blocked call of a thread that no longer exists.  Their values (a blocked
   sender's reference) stay with those calls: leaked, never delivered. */
void gc_chan_forget_waiters_locked(struct gc_chan *ch)
{
    ch->recvq.head = ch->recvq.tail = NULL;
    ch->sendq.head = ch->sendq.tail = NULL;
}

/* ---- operations with the lock held ------------------------------------ */

/* While a recording runs (see gc_trace.h for the numbers): record this
   thread's event (kind; 0 for none) now, and note the event of the waiter
   it claimed (other, or NULL) for that waiter's owner to record. */
GC_TRACE_COLD
static void trace_locked(gc_chan *ch, enum gc_trace_kind kind, uint64_t seq,
                         gc_waiter *other, enum gc_trace_kind other_kind,
                         uint64_t other_seq)
{
    int64_t now = gc_real_now_ns();
    if (kind)
        gc_trace_record(kind, ch->id, seq, now);
    if (other) {
        other->trace_chan = ch->id;
        other->trace_seq = other_seq;
        other->trace_ns = now;
        other->trace_kind = other_kind;
        other->trace_recorded = other->trace_thread != 0;
        gc_trace_record_for(other->trace_thread, other_kind, ch->id, other_seq,
                            now);
    }
}

/* Give value to the first receiver blocked on ch: its claimed waiter, to be
   finished after unlocking, or NULL when none waits. */
static gc_waiter *hand_to_receiver_locked(gc_chan *ch, void *value)
{
    gc_entry *e = waitq_claim_first(&ch->recvq);
    if (!e)
        return NULL;
    gc_waiter *w = e->waiter;
    w->value = value;
    w->ok = true;
    w->chosen = e->case_index;
    return w;
}

enum gc_status gc_chan_send_locked(gc_chan *ch, void *value,
                                   gc_waiter **claimed)
{
    *claimed = NULL;
    if (ch->closed)
        return GC_CLOSED;
    /* A waiting receiver implies an empty buffer: hand the value over. */
    if ((*claimed = hand_to_receiver_locked(ch, value)) != NULL) {
        /* the buffer is empty: the value is both streams' next */
        if (gc_trace_on())
            trace_locked(ch, GC_TRACE_SEND, ch->sends + 1, *claimed,
                         GC_TRACE_RECV, ch->sends + 1);
        ch->sends++;
        ch->receives++;
        return GC_OK;
    }
    if (has_room(ch)) {
        if (!ring_push(ch, value))
            return GC_NOMEM;
        if (gc_trace_on())
            trace_locked(ch, GC_TRACE_SEND, ch->sends + 1, NULL, 0, 0);
        ch->sends++;
        if (ch->count > ch->max_fill)
            ch->max_fill = ch->count;
        return GC_OK;
    }
    return GC_NOT_READY;
}

/* A receive just took value number seq (+ 1) from a buffer with room now
   and blocked senders queued: the longest-waiting live one moves its value
   in (the ring keeps its size, so the push cannot fail).  Returns its
   claimed waiter, or NULL when every queued entry was dead.  Out of line:
   a receive from a buffer nobody is blocked on stays short. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static gc_waiter *move_sender_in_locked(gc_chan *ch, uint64_t seq)
{
    gc_entry *e = waitq_claim_first(&ch->sendq);
    if (gc_trace_on())
        trace_locked(ch, GC_TRACE_RECV, seq, e ? e->waiter : NULL,
                     GC_TRACE_SEND, ch->sends + 1);
    if (!e)
        return NULL;
    ring_push(ch, e->send_value);
    ch->sends++;
    e->waiter->ok = true;
    e->waiter->chosen = e->case_index;
    return e->waiter;
}

enum gc_status gc_chan_recv_locked(gc_chan *ch, void **value, bool *ok,
                                   gc_waiter **claimed)
{
    *claimed = NULL;
    if (ch->count > 0) {
        *value = ring_pop(ch);
        *ok = true;
        /* Given-back values are first out, with their own numbers. */
        uint64_t seq = ch->receives + ch->discarded + 1;
        if (GC_TRACE_UNLIKELY(ch->given_back_len))
            seq = ch->given_back[--ch->given_back_len];
        ch->receives++;
        /* A slot just freed: the longest-waiting sender moves its value in.
           Past the capacity (values given back) the slot freed is not room. */
        if (ch->sendq.head && has_room(ch)) {
            *claimed = move_sender_in_locked(ch, seq);
        } else {
            if (gc_trace_on())
                trace_locked(ch, GC_TRACE_RECV, seq, NULL, 0, 0);
            if (ch->capacity == GC_UNBOUNDED)
                ring_maybe_shrink(ch);
        }
        return GC_OK;
    }
    /* Unbuffered (or capacity reached with an empty ring: only capacity 0):
       take the value straight from a waiting sender. */
    gc_entry *e = waitq_claim_first(&ch->sendq);
    if (e) {
        *value = e->send_value;
        *ok = true;
        if (gc_trace_on())
            trace_locked(ch, GC_TRACE_RECV, ch->sends + 1, e->waiter,
                         GC_TRACE_SEND, ch->sends + 1);
        ch->sends++;
        ch->receives++;
        e->waiter->ok = true;
        e->waiter->chosen = e->case_index;
        *claimed = e->waiter;
        return GC_OK;
    }
    if (ch->closed) {
        *value = NULL;
        *ok = false;
        return GC_OK;
    }
    return GC_NOT_READY;
}

/* ---- public operations ------------------------------------------------ */

enum gc_status gc_chan_try_send(gc_chan *ch, void *value)
{
    gc_waiter *claimed;
    gc_mutex_lock(&ch->lock);
    enum gc_status st = gc_chan_send_locked(ch, value, &claimed);
    gc_mutex_unlock(&ch->lock);
    if (claimed)
        gc_waiter_finish(claimed);
    return st;
}

enum gc_status gc_chan_try_handoff(gc_chan *ch, void *value)
{
    gc_waiter *w = NULL;
    enum gc_status st = GC_NOT_READY;
    gc_mutex_lock(&ch->lock);
    if (ch->closed)
        st = GC_CLOSED;
    else if ((w = hand_to_receiver_locked(ch, value)) != NULL) {
        st = GC_OK;
        if (gc_trace_on())
            trace_locked(ch, GC_TRACE_SEND, ch->sends + 1, w, GC_TRACE_RECV,
                         ch->sends + 1);
        ch->sends++;
        ch->receives++;
    }
    gc_mutex_unlock(&ch->lock);
    if (w)
        gc_waiter_finish(w);
    return st;
}

/* Room for one more given-back number; false when out of memory. */
static bool given_back_reserve(gc_chan *ch)
{
    if (ch->given_back_len < ch->given_back_cap)
        return true;
    size_t cap = ch->given_back_cap ? ch->given_back_cap * 2 : 4;
    uint64_t *grown = realloc(ch->given_back, cap * sizeof *grown);
    if (!grown)
        return false;
    ch->given_back = grown;
    ch->given_back_cap = cap;
    return true;
}

enum gc_status gc_chan_give_back(gc_chan *ch, void *value)
{
    gc_waiter *w = NULL;
    enum gc_status st = GC_OK;
    /* The value's number, when the receive that took it was recorded. */
    uint64_t seq = gc_trace_on() ? gc_trace_last_received(ch->id) : 0;
    gc_mutex_lock(&ch->lock);
    /* A live receiver implies an empty buffer, so handing it the value
       keeps it first in line; so does the head of the buffer otherwise.
       Closed or not: receivers drain a closed channel's buffer. */
    w = hand_to_receiver_locked(ch, value);
    if (w) {
        if (gc_trace_on())
            trace_locked(ch, GC_TRACE_GIVE_BACK, seq, w, GC_TRACE_RECV, seq);
    } else if (!given_back_reserve(ch) || !ring_push_front(ch, value)) {
        st = GC_NOMEM;
    } else {
        /* The receive that took it is undone (a receiver that gets it
           instead keeps the count as it is); the value keeps its number. */
        ch->receives--;
        ch->given_back[ch->given_back_len++] = seq;
        if (gc_trace_on())
            trace_locked(ch, GC_TRACE_GIVE_BACK, seq, NULL, 0, 0);
    }
    gc_mutex_unlock(&ch->lock);
    if (w)
        gc_waiter_finish(w);
    return st;
}

void gc_chan_set_lifo_receivers(gc_chan *ch)
{
    gc_mutex_lock(&ch->lock);
    ch->lifo_receivers = true;
    gc_mutex_unlock(&ch->lock);
}

enum gc_status gc_chan_try_recv(gc_chan *ch, void **value, bool *ok)
{
    gc_waiter *claimed;
    gc_mutex_lock(&ch->lock);
    enum gc_status st = gc_chan_recv_locked(ch, value, ok, &claimed);
    gc_mutex_unlock(&ch->lock);
    if (claimed)
        gc_waiter_finish(claimed);
    return st;
}

/* Claim every live entry of q with the "closed" result and chain the
   claimed entries through ->next onto *woken. */
static void claim_all_closed(gc_waitq *q, gc_entry **woken)
{
    gc_entry *e;
    while ((e = waitq_claim_first(q)) != NULL) {
        e->waiter->value = NULL;
        e->waiter->ok = false;
        e->waiter->chosen = e->case_index;
        e->next = *woken;
        *woken = e;
    }
}

enum gc_status gc_chan_close(gc_chan *ch)
{
    gc_entry *woken = NULL;
    gc_mutex_lock(&ch->lock);
    if (ch->closed) {
        gc_mutex_unlock(&ch->lock);
        return GC_CLOSED;
    }
    ch->closed = true;
    claim_all_closed(&ch->recvq, &woken);
    claim_all_closed(&ch->sendq, &woken);
    gc_mutex_unlock(&ch->lock);
    while (woken) {
        /* Read the link first: once finished, the owner may return and its
           entry (on its stack) is gone. */
        gc_entry *next = woken->next;
        gc_waiter_finish(woken->waiter);
        woken = next;
    }
    return GC_OK;
}

int64_t gc_chan_capacity(const gc_chan *ch)
{
    return ch->capacity;
}

uint64_t gc_chan_id(const gc_chan *ch)
{
    return ch->id;
}

size_t gc_chan_len(gc_chan *ch)
{
    gc_mutex_lock(&ch->lock);
    size_t n = ch->count;
    gc_mutex_unlock(&ch->lock);
    return n;
}

bool gc_chan_is_closed(gc_chan *ch)
{
    gc_mutex_lock(&ch->lock);
    bool closed = ch->closed;
    gc_mutex_unlock(&ch->lock);
    return closed;
}

void gc_chan_count_waiting(gc_chan *ch, size_t *senders, size_t *receivers)
{
    gc_mutex_lock(&ch->lock);
    *senders = waitq_count_live(&ch->sendq);
    *receivers = waitq_count_live(&ch->recvq);
    gc_mutex_unlock(&ch->lock);
}

void gc_chan_get_stats(gc_chan *ch, gc_chan_stats *out)
{
    gc_mutex_lock(&ch->lock);
    out->sends = ch->sends;
    out->receives = ch->receives;
    out->send_blocked_ns = ch->send_blocked_ns;
    out->recv_blocked_ns = ch->recv_blocked_ns;
    out->max_fill = ch->max_fill;
    out->senders_waiting = waitq_count_live(&ch->sendq);
    out->receivers_waiting = waitq_count_live(&ch->recvq);
    out->length = ch->count;
    out->closed = ch->closed;
    gc_mutex_unlock(&ch->lock);
}

int gc_chan_visit(gc_chan *ch, int (*visit)(void *value, void *arg), void *arg)
{
    int rc = 0;
    gc_mutex_lock(&ch->lock);
    for (size_t i = 0; i < ch->count && rc == 0; i++)
        rc = visit(ch->ring[(ch->head + i) % ch->ring_size], arg);
    gc_mutex_unlock(&ch->lock);
    return rc;
}

static void reverse(void **a, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        void *t = a[i];
        a[i] = a[n - 1 - i];
        a[n - 1 - i] = t;
    }
}

void **gc_chan_take_buffer(gc_chan *ch, size_t *count)
{
    void **items = NULL;
    gc_mutex_lock(&ch->lock);
    *count = ch->count;
    if (ch->count > 0) {
        /* Rotate the ring in place so the items start at slot 0, oldest
           first, then hand the array itself over: nothing to allocate. */
        reverse(ch->ring, ch->head);
        reverse(ch->ring + ch->head, ch->ring_size - ch->head);
        reverse(ch->ring, ch->ring_size);
        items = ch->ring;
        ch->ring = NULL;
        ch->ring_size = 0;
        ch->head = 0;
        ch->discarded += ch->count;
        ch->count = 0;
        ch->given_back_len = 0;
    }
    gc_mutex_unlock(&ch->lock);
    return items;
}

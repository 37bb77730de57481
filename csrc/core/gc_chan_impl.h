/*
 * The channel's inside, shared by gc_chan.c and gc_select.c only.
 *
 * Invariants, under ch->lock (a "live" entry is one whose waiter is still
 * WAITING; dead entries are skipped and unlinked by whoever meets them):
 *   - count > 0 implies recvq holds no live entry (it would have been served).
 *   - count < capacity (or capacity unbounded) implies sendq holds no live
 *     entry.  count may exceed capacity by the values given back
 *     (gc_chan_give_back); the ring then holds more than capacity slots.
 *   - closed implies neither queue holds a live entry.
 *   - Unbuffered: live entries sit in at most one queue, except for one
 *     select that both sends and receives on this channel.
 *   - Entries are served from the head.  They are queued at the tail (FIFO),
 *     except receivers of a lifo_receivers channel, pushed at the head.
 */
#ifndef GC_CHAN_IMPL_H
#define GC_CHAN_IMPL_H

#include "platform/gc_platform.h"

#include "gc_chan.h"
#include "gc_fork.h"
#include "gc_select.h"
#include "gc_waiter.h"

typedef struct gc_waitq {
    gc_entry *head, *tail; /* guarded by the owning channel's lock */
} gc_waitq;

struct gc_chan {
    /* A leaf lock: while holding it nothing calls into Python, allocates
       Python objects, parks, or takes another lock (select registration
       takes several, always in address order), except the trace
       recorder's (gc_trace.h), which takes none. */
    gc_mutex lock;
    int64_t capacity; /* immutable */

    /* Guarded by lock.  ring is owned by the channel (freed in gc_chan_free);
       each buffered pointer is a reference owned by the channel. */
    void **ring;
    size_t ring_size; /* slots allocated; grows and shrinks by doubling */
    size_t head;      /* index of the oldest item */
    size_t count;     /* items buffered */
    bool closed;
    bool lifo_receivers; /* set once before use */
    gc_waitq recvq, sendq;

    /* Statistics (gc_chan_get_stats), guarded by lock like the state they
       describe; updated where a value enters or leaves, so the counts are
       exact and the non-blocking path pays one or two increments.
       sends - receives - discarded == count at all times (a given-back
       value un-counts its receive), which also makes them the sequence
       numbers of the value entering and leaving (gc_trace.h): the k-th value
       sent is the k-th to leave, received or discarded. */
    uint64_t sends;          /* values that entered by a successful send */
    uint64_t receives;       /* values taken by a successful receive */
    uint64_t discarded;      /* values gc_chan_take_buffer took out */
    int64_t send_blocked_ns; /* time senders' cases spent queued here */
    int64_t recv_blocked_ns; /* time receivers' cases spent queued here */
    size_t max_fill;         /* highest count reached by a send */

    /* The numbers (gc_trace.h, + 1, 0 unknown) of the given-back values at
       the front of the buffer, the last given back on top: given_back_len
       of them, in an array of given_back_cap (owned, freed in
       gc_chan_free).  Guarded by lock. */
    uint64_t *given_back;
    size_t given_back_len, given_back_cap;
    uint64_t id; /* immutable: unique, never reused (gc_chan_id) */
    gc_fork_node fork_node; /* in the fork registry while the channel lives */
    /* The testing bubble it was made in (gc_bubble_id), 0 outside any,
       GC_BUBBLE_ANY for pygochan's own process-wide channels; immutable
       after creation but for gc_chan_set_bubble.  Last: read only when a
       thread of a bubble parks, it stays off the hot fields' lines. */
    uint64_t bubble_id;
};

void gc_waitq_push(gc_waitq *q, gc_entry *e);
void gc_waitq_push_front(gc_waitq *q, gc_entry *e);
void gc_waitq_remove(gc_waitq *q, gc_entry *e);

/* With ch->lock held.  On GC_OK a waker may have claimed another call's
   waiter: *claimed is set to it and the caller must gc_waiter_finish() it
   after unlocking (otherwise *claimed is NULL). */
enum gc_status gc_chan_send_locked(gc_chan *ch, void *value,
                                   gc_waiter **claimed);
enum gc_status gc_chan_recv_locked(gc_chan *ch, void **value, bool *ok,
                                   gc_waiter **claimed);

#endif

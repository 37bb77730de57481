/*
 * gc_chan: Go channels over opaque pointers.
 *
 * The core never interprets the values it moves; the binding passes owned
 * references.  A value's reference moves with it: on a successful send the
 * channel (or the receiver) owns it; on a failed send the sender still does;
 * a successful recv hands the caller the reference.
 *
 * Non-blocking operations live here; blocking ones are one-case selects
 * (gc_select.h), so a send, a recv and a select share one waiting mechanism.
 */
#ifndef GC_CHAN_H
#define GC_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GC_UNBOUNDED (-1)

enum gc_status {
    GC_OK = 0,        /* the operation committed */
    GC_NOT_READY,     /* a non-blocking attempt found nothing to do */
    GC_CLOSED,        /* send on / close of a closed channel: no effect */
    GC_TIMEOUT,       /* the deadline passed: no effect */
    GC_INTERRUPTED,   /* a signal needs handling: no effect */
    GC_NOMEM          /* allocation failed: no effect */
};

typedef struct gc_chan gc_chan;

/* capacity: 0 (unbuffered), > 0 (buffered) or GC_UNBOUNDED.  NULL on ENOMEM. */
gc_chan *gc_chan_new(int64_t capacity);

/* Free a channel nobody waits on; its buffer must be empty (gc_chan_take_buffer). */
void gc_chan_free(gc_chan *ch);

/* GC_OK (the channel owns the reference now), GC_CLOSED, GC_NOT_READY, GC_NOMEM. */
enum gc_status gc_chan_try_send(gc_chan *ch, void *value);

/* Give value to a receiver already blocked on the channel, never to the
   buffer: GC_OK (the receiver owns the reference), GC_NOT_READY when nobody
   waits, GC_CLOSED. */
enum gc_status gc_chan_try_handoff(gc_chan *ch, void *value);

/* Undo a committed receive: value, just received from ch, goes back to
   the head of the line.  A receiver blocked on ch gets it at once;
   otherwise it is pushed before the oldest buffered value, even beyond the
   capacity (an unbuffered channel may hold a given-back value), so the
   next receive returns it and FIFO order is kept.  No blocked sender moves
   into the buffer while it holds capacity values or more.  Works on a
   closed channel too (receivers drain it).  GC_OK (the channel or the
   receiver owns the reference now) or GC_NOMEM (the caller still does). */
enum gc_status gc_chan_give_back(gc_chan *ch, void *value);

/* Serve blocked receivers newest first (a stack) instead of FIFO.  A worker
   pool's job channel uses it so the most recently idle worker, whose stack is
   warm, gets the next job and the coldest ones reach their idle timeout.
   Call before any receiver blocks. */
void gc_chan_set_lifo_receivers(gc_chan *ch);

/* GC_OK with (*value, *ok=true), or (NULL, *ok=false) once closed and drained;
   GC_NOT_READY otherwise. */
enum gc_status gc_chan_try_recv(gc_chan *ch, void **value, bool *ok);

/* GC_OK, or GC_CLOSED if already closed.  Wakes every blocked sender and
   receiver; buffered values stay for receivers. */
enum gc_status gc_chan_close(gc_chan *ch);

int64_t gc_chan_capacity(const gc_chan *ch);
/* A number no other channel of the process has or will have (from 1). */
uint64_t gc_chan_id(const gc_chan *ch);
size_t gc_chan_len(gc_chan *ch);

/* The testing bubble the channel belongs to (gc_bubble_id: the one it was
   made in), 0 for none; a process-wide channel of pygochan's own that any
   bubble may wait on durably is set to GC_BUBBLE_ANY. */
uint64_t gc_chan_bubble(const gc_chan *ch);
void gc_chan_set_bubble(gc_chan *ch, uint64_t bubble_id);
bool gc_chan_is_closed(gc_chan *ch);

/* Cases of blocked calls queued on the channel that have not yet committed or
   given up (a select waiting on two recv cases of one channel counts twice). */
void gc_chan_count_waiting(gc_chan *ch, size_t *senders, size_t *receivers);

/* A snapshot, taken under the channel's lock.  Counts are exact: sends
   counts values that entered the channel (into the buffer or straight to a
   receiver), receives counts values a receive took (a receive that found the
   channel closed and drained is not one; a value given back un-counts its
   receive).  The blocked times add, for every blocked call (a send, a recv,
   a select), the time from its registration on this channel to its
   unregistration, whether it committed here, elsewhere (a select) or gave
   up; a select parked on several channels adds its time to each of them,
   once per channel and direction.  max_fill is the highest number of
   values a send left buffered (so 0 for an unbuffered channel).
   sends - receives == length, less the values gc_chan_take_buffer
   discarded (a timer's stale value after stop or reset). */
typedef struct gc_chan_stats {
    uint64_t sends, receives;
    int64_t send_blocked_ns, recv_blocked_ns;
    size_t max_fill;
    size_t senders_waiting, receivers_waiting; /* as gc_chan_count_waiting */
    size_t length;
    bool closed;
} gc_chan_stats;
void gc_chan_get_stats(gc_chan *ch, gc_chan_stats *out);

/* Call visit(value, arg) for each buffered value under the channel's lock;
   stops at the first non-zero return and returns it.  visit must not block,
   take other locks or re-enter the channel. */
int gc_chan_visit(gc_chan *ch, int (*visit)(void *value, void *arg), void *arg);

/* Move every buffered value out: returns an array (free() it) whose first
   *count pointers are the values, oldest first, now owned by the caller, to
   be released outside the lock.  NULL when the buffer is empty.  Never
   allocates, so it cannot fail. */
void **gc_chan_take_buffer(gc_chan *ch, size_t *count);

#endif

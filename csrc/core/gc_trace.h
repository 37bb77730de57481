/*
 * gc_trace: a recorder of channel events for a timeline (pygochan.trace).
 *
 * Off by default.  While off, an operation pays one relaxed load of a flag
 * (gc_trace_on) where it commits; nothing else.  While on, every committed
 * send and receive, every park of a blocked call and its wake-up, and every
 * value given back, is one event in a bounded ring buffer of the capacity
 * given to gc_trace_start: when it is full the oldest event is overwritten
 * and counted as dropped.
 *
 * Pairing a send with the receive that took its value is exact: the value
 * entering a channel gets the sequence number of the sends before it
 * (gc_chan.sends), and the value leaving gets the number of values of that
 * stream that left before it, which is receives plus the values discarded
 * (gc_chan_take_buffer: a stopped timer's stale value) plus the values
 * given back still at the front of the buffer, as the buffer is FIFO (a
 * channel that
 * serves receivers LIFO still moves values FIFO).  A value given back (a
 * receive undone) keeps its number: the channel keeps the numbers of the
 * given-back values at its front (a stack: the last given back is the
 * first out again), and the trace has a GIVE_BACK event that voids the
 * receive it undid.  Numbers are stored plus one; 0 means unknown (a value
 * given back by a receive made while the recorder was off).
 *
 * Events carry the channel's id (gc_chan_id: unique for the process's
 * life, never reused), the thread's id (the function given to
 * gc_trace_start, called on the recording thread), the time (gc_real_now_ns) and
 * for PARK / WAKE the address of the blocked call (a pairing key: unique
 * among the calls blocked at once).
 *
 * Locks: the recorder's lock nests inside channel locks (a send is recorded
 * where it commits) and takes nothing else.  A forked child starts with
 * the recorder off.
 */
#ifndef GC_TRACE_H
#define GC_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gc_trace_kind {
    GC_TRACE_SEND = 1,      /* a value entered chan: seq is its number + 1 */
    GC_TRACE_RECV = 2,      /* a value left chan: seq is its number + 1 */
    GC_TRACE_PARK = 3,      /* a call blocked (on chan: its first channel) */
    GC_TRACE_WAKE = 4,      /* that call stopped waiting (any outcome) */
    GC_TRACE_GIVE_BACK = 5  /* the receive of value seq - 1 was undone */
};

typedef struct gc_trace_event {
    int64_t ts_ns;
    uint64_t thread;
    uint64_t chan;  /* gc_chan_id; 0 for none */
    uint64_t seq;   /* SEND/RECV/GIVE_BACK: number + 1 (0: unknown);
                       PARK/WAKE: the call's key */
    uint32_t kind;  /* enum gc_trace_kind */
} gc_trace_event;

extern _Atomic int gc_trace_flag;

/* The recording's code stays out of the operations' hot paths: a cold,
   never-inlined call behind an unlikely branch. */
#if defined(__GNUC__)
#define GC_TRACE_COLD __attribute__((noinline, cold))
#define GC_TRACE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define GC_TRACE_COLD
#define GC_TRACE_UNLIKELY(x) (x)
#endif

static inline bool gc_trace_on(void)
{
    return GC_TRACE_UNLIKELY(
        atomic_load_explicit(&gc_trace_flag, memory_order_relaxed) != 0);
}

/* Start recording into a ring of capacity (>= 1) events.  0: started;
   1: a recording is already running (nothing changed); -1: no memory. */
int gc_trace_start(size_t capacity, uint64_t (*thread_id)(void));

/* Stop: returns the events, oldest first (an array to free(), NULL when
   empty), their count and how many older ones the ring dropped.  Events of
   operations still committing when it stops may be left out. */
gc_trace_event *gc_trace_stop(size_t *count, uint64_t *dropped);

/* Record one event of the calling thread (no-op unless recording). */
void gc_trace_record(enum gc_trace_kind kind, uint64_t chan, uint64_t seq,
                     int64_t ts_ns);
/* The same for another thread (thread: its gc_trace_thread_id; 0 records
   nothing).  A parked call's send or receive is recorded by the thread
   that committed it, at once, on the parked thread's track. */
void gc_trace_record_for(uint64_t thread, enum gc_trace_kind kind,
                         uint64_t chan, uint64_t seq, int64_t ts_ns);
/* A receive of the calling thread was recorded for it by another thread:
   remember it as its last (see gc_trace_last_received). */
void gc_trace_received(uint64_t chan, uint64_t seq);
/* The calling thread's id for the recording running now (0 if none). */
uint64_t gc_trace_thread_id(void);

/* The number (+ 1) of the value this thread last received, if that was
   from chan and recorded in the running recording; else 0. */
uint64_t gc_trace_last_received(uint64_t chan);

/* In a forked child (gc_fork.c): the recorder is off, its lock new. */
void gc_trace_fork_child(void);

#endif

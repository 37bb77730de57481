/*
 * gc_timer: timers that deliver into channels, served by one thread.
 *
 * Every pending timer of the process sits in one binary min-heap ordered by
 * deadline; one thread (started on first use, pure C, never touching Python)
 * sleeps until the earliest deadline and fires it.  Firing is a non-blocking
 * send of an immediate value (gc_timer_value) on the timer's channel: a
 * full channel drops the tick, as Go's Ticker does for a slow reader.
 *
 * Firing, stop and reset all run under the one timer lock, and stop/reset
 * also drain the channel under it, so once stop or reset has returned no
 * stale value can be received (Go 1.23 semantics).  Lock order: the timer
 * lock is taken before a channel lock, never after.
 *
 * 100,000 pending timers cost one heap slot (a pointer) and one gc_timer each.
 */
#ifndef GC_TIMER_H
#define GC_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "gc_chan.h"

typedef struct gc_timer gc_timer;

/* A timer that fires into ch.  The caller keeps ch alive until it has freed
   the timer.  NULL on ENOMEM. */
gc_timer *gc_timer_new(gc_chan *ch);

/* A timer that calls fn(arg) on the timer thread when it fires, without the
   timer lock held (fn may stop or reset timers).  fn must not block. */
typedef void (*gc_timer_fn)(void *arg);
gc_timer *gc_timer_new_callback(gc_timer_fn fn, void *arg);

/* Stop the timer (draining any undelivered value) and free it.  For a
   callback timer, waits for a call in progress on another thread; called
   from inside the timer's own callback, the memory is released once the
   callback has returned. */
void gc_timer_free(gc_timer *t);

/* Arm the timer for the absolute monotonic deadline `when`, repeating every
   period_ns if period_ns > 0.  Any earlier setting and undelivered value are
   discarded first.  Returns GC_OK, or GC_NOMEM with the timer stopped.
   *was_active tells whether the timer was pending or had an unreceived value
   (Go's Reset result). */
enum gc_status gc_timer_reset(gc_timer *t, int64_t when, int64_t period_ns,
                              bool *was_active);

/* Stop the timer and drain an undelivered value.  True if that prevented a
   delivery: the timer was pending or its value had not been received.  A
   callback timer's call in progress (on the timer thread) is waited for,
   unless the caller is that call. */
bool gc_timer_stop(gc_timer *t);

/* Immediate channel values: a fire time in monotonic nanoseconds, tagged
   with the low bit so it can never be mistaken for an object pointer. */
static inline bool gc_is_timer_value(const void *value)
{
    return ((uintptr_t)value & 1u) != 0;
}

static inline int64_t gc_timer_value_ns(const void *value)
{
    return (int64_t)((uintptr_t)value >> 1);
}

/* In a forked child: start the timer thread again if timers are pending
   (the fork left only the forking thread).  Call after fork, in the child. */
void gc_timer_resume_after_fork(void);

/* Will the timer still fire (it is pending)?  A snapshot, for
   introspection (pygochan.testing.leaked). */
bool gc_timer_armed(gc_timer *t);

/* Pending timers on the timer thread (for tests and introspection). */
size_t gc_timer_pending(void);

/* A testing bubble's own heap (gc_bubble.h): timers armed on a bubble
   thread go there, and nothing fires them but the bubble advancing its
   virtual clock.  Freeing it stops the timers left in it. */
typedef struct gc_timer_heap gc_timer_heap;
gc_timer_heap *gc_timer_heap_new(void);
void gc_timer_heap_free(gc_timer_heap *h);
/* Stop every timer in h (they stay valid; a reset arms them anew). */
void gc_timer_heap_clear(gc_timer_heap *h);
/* The earliest deadline in h of a timer that can still do something (a
   periodic timer whose channel is full drops its ticks), or GC_FOREVER. */
int64_t gc_timer_heap_next(gc_timer_heap *h);
/* Fire every timer in h due at now (sends; callbacks run on this thread).
   Returns how many fired. */
size_t gc_timer_heap_fire(gc_timer_heap *h, int64_t now);

#endif

/*
 * gc_hub: completions for one event loop, from any thread, without Python.
 *
 * A waiter whose owner is a coroutine (not a blocked thread) names a hub.
 * Its waker -- any thread, with or without the GIL: a peer's send or
 * select, the timer thread, a context's deadline -- finishes it by pushing
 * it onto the hub's lock-free stack of completed waiters and, when the
 * stack was empty, signalling the hub's wake-up descriptor once (an eventfd
 * on Linux: platform/gc_platform.h).  The event loop watches
 * that descriptor (one add_reader per loop) and takes the whole batch on its
 * own thread, where Python may run.  So a burst of completions costs one
 * system call in the wakers and one wake-up of the loop.
 *
 * Ownership: the hub is reference counted.  Its creator holds one reference,
 * every waiter that names the hub must be kept alive, together with a
 * reference to the hub, by its owner until the hub has handed the waiter
 * back through gc_hub_take (or the owner aborted it); a poster holds a
 * reference of its own while it touches the hub, because the drainer may
 * drop the waiter's -- and with it the last -- reference as soon as the
 * waiter is on the stack.  The last release closes the descriptor.
 */
#ifndef GC_HUB_H
#define GC_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "gc_waiter.h"

typedef struct gc_hub gc_hub;

/* A new hub with one reference, or NULL with errno set. */
gc_hub *gc_hub_new(void);
void gc_hub_retain(gc_hub *h);
void gc_hub_release(gc_hub *h);

/* The descriptor that becomes readable when completions are waiting. */
int gc_hub_fd(const gc_hub *h);

/* A waker finishing w (claimed, w->hub == h): never blocks, never calls
   back.  gc_waiter_finish calls this for hub waiters. */
void gc_hub_post(gc_hub *h, gc_waiter *w);

/* The drainer (one thread at a time, the loop's): every waiter posted so
   far, oldest first, linked through hub_next, each DONE; NULL if none. */
gc_waiter *gc_hub_take(gc_hub *h);

/* True when a take would return something (a hint: posts may follow). */
bool gc_hub_pending(gc_hub *h);

/* A watcher standing in for an event loop's reader (a loop without one):
   sleep until the descriptor is readable or timeout_ms passes (-1: no
   limit), consume the signal, and return gc_hub_pending.  Like a take, it
   reads the descriptor before it looks at the stack, so a post it does not
   see signals again.  Blocks: call it without the GIL. */
bool gc_hub_wait(gc_hub *h, int timeout_ms);

typedef struct gc_hub_stats {
    uint64_t posts;   /* waiters finished through the hub */
    uint64_t signals; /* descriptor writes: at most one per burst */
    uint64_t takes;   /* gc_hub_take calls that returned something */
} gc_hub_stats;

void gc_hub_get_stats(gc_hub *h, gc_hub_stats *out);

/* In a fork child: the hub's descriptor is shared with the parent's loop,
   so it is closed here (posts then skip the write).  The hub stays valid. */
void gc_hub_forget_fd_after_fork(gc_hub *h);

#endif

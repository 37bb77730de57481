/*
 * gc_fork: fork() safety for every object of the core.
 *
 * fork() copies the whole process but keeps only the calling thread.  Any
 * lock another thread held stays locked forever in the child, and every
 * blocked call of another thread is queued on its channels forever: a send
 * in the child would hand its value to a receiver that no longer exists.
 * So every lock-owning object registers here, and pthread_atfork handlers
 *
 *   prepare: take the fork gate (see below) exclusively, then the timer
 *            lock, the registry lock, every context lock, every pool lock,
 *            every WaitGroup lock and every channel lock in address order
 *            (the order selects use), so that no lock is mid-update;
 *   parent:  release them all;
 *   child:   drop every queued waiter (each belongs to a thread that is
 *            gone: the forking thread was not blocked in a pygochan call),
 *            reset the timer state, then release them all.
 *
 * Lock order, outermost first: the fork gate, the timer lock, the registry
 * lock, context locks, pool and WaitGroup locks, channel locks.  A thread
 * never waits for an outer lock while holding an inner one, so the prepare
 * handler cannot deadlock.
 *
 * The fork gate keeps operations that span several locks whole: a cancel
 * cascade and a timer callback hold it shared, so a child never sees half a
 * cascade (a canceled parent with live children).
 *
 * Registration cannot fail for want of lock memory; it allocates only the
 * registry's arrays, so it can fail with ENOMEM.
 */
#ifndef GC_FORK_H
#define GC_FORK_H

#include "platform/gc_platform.h"
#include <stdbool.h>
#include <stddef.h>

enum gc_fork_kind {
    GC_FORK_CTX,
    GC_FORK_POOL,
    GC_FORK_WG,
    GC_FORK_CHAN, /* last: channel locks are leaves */
    GC_FORK_KINDS
};

/* Embedded in each registered object; guarded by the registry lock. */
typedef struct gc_fork_node {
    gc_mutex *lock; /* the object's lock */
    void *object;          /* the object (channels: sorted by it) */
    size_t index;          /* slot in the registry */
} gc_fork_node;

/* Register an object whose lock is `lock`: false on ENOMEM. */
bool gc_fork_register(gc_fork_node *node, enum gc_fork_kind kind,
                      gc_mutex *lock, void *object);
void gc_fork_unregister(gc_fork_node *node, enum gc_fork_kind kind);

/* Hold the fork gate shared around an operation that takes several locks
   one after another and must not be split by fork().  Reentrant. */
void gc_fork_gate_enter(void);
void gc_fork_gate_leave(void);

/* Objects registered (for tests). */
size_t gc_fork_registered(enum gc_fork_kind kind);

/* The parts of other modules the handlers call (internal). */
void gc_timer_fork_prepare(void);   /* takes the timer lock */
void gc_timer_fork_parent(void);
void gc_timer_fork_child(void);     /* resets the timer state */
struct gc_chan;
void gc_chan_forget_waiters_locked(struct gc_chan *ch);

#endif

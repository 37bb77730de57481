/*
 * gc_bubble: a testing bubble (Go's testing/synctest) -- a set of threads
 * sharing a virtual monotonic clock that moves only when every one of them
 * is durably blocked.
 *
 * A thread belongs to at most one bubble: gc_bubble_tls (gc_park.h) points
 * to it, and gc_now_ns reads the bubble's clock there.  The binding adds a
 * member for every thread that joins (the one entering the bubble, and
 * every thread a member starts, counted from before it runs) and removes it
 * when the thread ends.
 *
 * A member about to sleep in pygochan parks with the bubble first
 * (gc_bubble_park), saying on what: an operation's waiter (its state word,
 * a deadline on the virtual clock, and the stop word that ends its sleep),
 * b.wait() (GC_BUBBLE_WAIT) or the wait for the other members to end
 * (GC_BUBBLE_EXIT).  The real sleep of an operation has no deadline: the
 * bubble ends it.  A parked member is durably blocked while its waiter is
 * still WAITING -- a member or a bubble timer that completes it changes
 * that word before anything else, so no wake-up is missed.
 *
 * Whoever makes the last member durably blocked (a park, a member leaving)
 * settles the bubble, under its lock:
 *   - a member in b.wait() is woken (GC_BUBBLE_READY), and time stays;
 *   - else, if the EXIT waiter is the only member left, it is woken;
 *   - else the clock jumps to the earliest deadline (a parked operation's,
 *     or a timer's in the bubble's heap that can still deliver), the
 *     operations due are woken with GC_BUBBLE_TIMEOUT, the timers due fire
 *     here, and if that woke nobody it settles again;
 *   - else nothing can ever wake anybody: every parked member is woken with
 *     GC_BUBBLE_DEADLOCK and the report says who waited on what.
 *
 * Lock order: a bubble's lock, then the timer lock, then channel locks.
 * The bubble is reference counted: its creator and every member hold one.
 */
#ifndef GC_BUBBLE_H
#define GC_BUBBLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gc_park.h"
#include "gc_timer.h"

typedef struct gc_bubble gc_bubble;
typedef struct gc_bubble_member gc_bubble_member;

/* What gc_chan_bubble answers for channels any bubble may wait on. */
#define GC_BUBBLE_ANY UINT64_MAX

enum gc_bubble_park_kind {
    GC_BUBBLE_OP = 0,   /* a pygochan operation's waiter */
    GC_BUBBLE_WAIT = 1, /* b.wait(): until every other member is blocked */
    GC_BUBBLE_EXIT = 2  /* until it is the only member left */
};

enum gc_bubble_wake {
    GC_BUBBLE_NOT_WOKEN = 0, /* not woken by the bubble */
    GC_BUBBLE_TIMEOUT = 1,   /* the virtual clock reached its deadline */
    GC_BUBBLE_DEADLOCK = 2,  /* nothing can ever wake it */
    GC_BUBBLE_READY = 3      /* WAIT or EXIT: what it waited for holds */
};

/* A bubble whose clock reads start_ns, with one reference; NULL on ENOMEM.
   user is the binding's (borrowed: the binding keeps it alive). */
gc_bubble *gc_bubble_new(int64_t start_ns, void *user);
void gc_bubble_retain(gc_bubble *b);
void gc_bubble_release(gc_bubble *b);
void *gc_bubble_user(const gc_bubble *b);
gc_timer_heap *gc_bubble_timers(gc_bubble *b);
/* A number no other bubble of the process has had (never 0). */
uint64_t gc_bubble_id(const gc_bubble *b);

/* Count a new member, running (not parked), before its thread exists, so
   that time cannot move before it has started; NULL on ENOMEM.  The member
   holds a reference to b. */
gc_bubble_member *gc_bubble_add_member(gc_bubble *b);
/* On the member's own thread: it now reads the bubble's clock. */
void gc_bubble_enter(gc_bubble_member *m, unsigned long ident, const char *name);
/* The member leaves (its thread ends, or never started) and is freed; the
   calling thread leaves the bubble if it was that member.  May settle.
   The last member leaving stops the bubble's pending timers. */
void gc_bubble_remove_member(gc_bubble_member *m);
/* This thread's membership, or NULL. */
gc_bubble_member *gc_bubble_self(void);
gc_bubble *gc_bubble_of(const gc_bubble_member *m);
/* Members now (tests, introspection). */
size_t gc_bubble_members(gc_bubble *b);

/* Park the calling member (see above).  For GC_BUBBLE_OP: word is the
   waiter's state word, WAITING now; the bubble ends the sleep by storing
   stop_value into *stop_word and waking word.  deadline_ns is on the
   virtual clock (GC_FOREVER: none).  op is static text for the report.
   durable false: something outside the bubble may complete it (Go's rule
   for a channel made outside the bubble), so while it is parked time
   holds still and no deadlock is reported -- but its deadline still ends it
   when the others move the clock. */
void gc_bubble_park(gc_bubble_member *m, enum gc_bubble_park_kind kind,
                    const char *op, int64_t deadline_ns, _Atomic uint32_t *word,
                    _Atomic uint64_t *stop_word, uint64_t stop_value, bool durable);
/* The member runs again; returns why the bubble woke it, if it did. */
enum gc_bubble_wake gc_bubble_unpark(gc_bubble_member *m);
/* WAIT and EXIT parks: sleep until the bubble wakes the member, at most
   until real_deadline_ns (a slice: GC_PARK_TIMEOUT) or a signal. */
enum gc_park_result gc_bubble_sleep(gc_bubble_member *m, int64_t real_deadline_ns);
/* A word this member's operations may use as their stop word. */
_Atomic uint64_t *gc_bubble_stop_word(gc_bubble_member *m);

/* The text of the last deadlock (malloc'd, the caller frees), or NULL. */
char *gc_bubble_deadlock_report(gc_bubble *b);
/* Times the clock has jumped (tests). */
uint64_t gc_bubble_advances(gc_bubble *b);

#endif

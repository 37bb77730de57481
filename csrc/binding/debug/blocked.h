/* The parked-thread registry and the deadlock detector. */
#ifndef PYG_DEBUG_BLOCKED_H
#define PYG_DEBUG_BLOCKED_H

#include "state.h"

/* What one thread is parked on: one record per thread and interpreter,
   made at the thread's first wait, linked into a process-wide list (whose
   lock guards prev/next/st) and freed when the thread exits.  Only the
   record's thread writes the other fields, as a seqlock: seq is odd while
   it writes, and every park and unpark adds 2, so parking costs a few
   plain stores to the thread's own cache line.  objects are borrowed: the
   parked call owns them (and keeps its frame) until it has the GIL back. */
typedef struct pyg_blocked {
    struct pyg_blocked *prev, *next;
    pyg_state *st;                  /* NULL once its module is gone */
    unsigned long thread_ident;     /* immutable */
    _Atomic uint64_t seq;
    _Atomic bool parked;
    _Atomic bool timed;             /* it ends by itself: it has a deadline */
    const char *_Atomic op;         /* static text */
    PyObject *const *_Atomic objects;
    _Atomic Py_ssize_t nobjects;
    PyObject *_Atomic ctx;          /* the wait's ctx= Context (borrowed), or NULL */
    _Atomic int64_t since_ns;
    _Atomic uint32_t *_Atomic word; /* the parked waiter's state word */
    /* Written by another thread (the exit hook, see debug/blocked.c): the seq of
       the park to end with Deadlock.  The wait stops when it equals the
       seq its park returned (gc_select.stop_word). */
    _Atomic uint64_t kick_seq;
} pyg_blocked;

/* Per-wait state of the main thread's deadlock check. */
typedef struct {
    int64_t quiet_since_ns;         /* nothing changed since; 0: not quiet */
    uint64_t quiet_changes;
} pyg_deadlock_watch;

/* The calling thread's record, made on first use; NULL (no exception) when
   out of memory: the wait then goes unrecorded. */
pyg_blocked *pyg_blocked_self(pyg_state *st);
/* Returns the record's seq while this park lasts. */
uint64_t pyg_blocked_park(pyg_blocked *rec, const char *op, PyObject *const *objects,
                          Py_ssize_t nobjects, PyObject *ctx, bool timed,
                          _Atomic uint32_t *word);
void pyg_blocked_unpark(pyg_blocked *rec);
/* On the main thread, between slices of an untimed wait: 1 with *message
   (a new reference) if every thread has been parked hopelessly for the
   grace period, still so after the reporter ran; -1 with an exception set
   (raised by the reporter or by what ran with it); else 0.  On 1 the caller
   tries its own wait once more (Python code ran meanwhile) before it
   raises Deadlock. */
int pyg_deadlock_check(pyg_state *st, pyg_deadlock_watch *watch, PyObject **message);
void pyg_blocked_after_fork(pyg_state *st);
void pyg_blocked_free(pyg_state *st);

#endif

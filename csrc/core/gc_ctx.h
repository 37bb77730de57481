/*
 * gc_ctx: Go's context cancellation tree.
 *
 * A context is done once: canceled, or its deadline passed.  Being done
 * closes its done channel, cancels every descendant with the same error and
 * cause, and moves its after-func items into their queue channel.  Waiting
 * on a context is a recv case on its done channel, so a context joins any
 * select like any channel.
 *
 * References: a context holds one on its parent (values and deadlines are
 * read through it); a parent holds none on its children (a canceled or
 * dropped child is not kept alive), it only links the live ones so that a
 * cancel reaches them.  Deadlines are callback timers on the one timer heap.
 *
 * Causes and after-func items are opaque values the binding owns; the core
 * calls gc_ctx_value_hooks to retain and release them.  Every function here
 * may be called without the GIL.  release runs wherever the last reference
 * of a context that holds a cause is dropped, which may be the timer thread:
 * it is told the context's owner (an opaque tag the binding gives a root;
 * descendants inherit it) so that it can hand the value to a thread that
 * may release it.
 */
#ifndef GC_CTX_H
#define GC_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include "gc_chan.h"

typedef struct gc_ctx gc_ctx;

enum gc_ctx_err { GC_CTX_ALIVE = 0, GC_CTX_CANCELED = 1, GC_CTX_DEADLINE = 2 };

typedef struct gc_ctx_value_hooks {
    void (*retain)(void *value);
    void (*release)(void *value, void *owner);
    /* A context with a deadline pins itself while it has pending
       after-func items (see gc_ctx_after); pinned(owner, +1 / -1) reports
       each pin and unpin, outside every lock, on any thread.  The unpin of
       a context that became done comes after its items were sent.  May be
       NULL. */
    void (*pinned)(void *owner, int delta);
} gc_ctx_value_hooks;

/* Set once, before any context holds a cause or an after-func item. */
void gc_ctx_set_value_hooks(gc_ctx_value_hooks hooks);

/* A new cancelable context (one reference), child of parent (NULL: of the
   never-canceled background), with deadline_ns (GC_FOREVER for none; the
   parent's is kept if earlier).  A child of a done parent, or one whose
   deadline has passed, is born done.  NULL on ENOMEM. */
gc_ctx *gc_ctx_new(gc_ctx *parent, int64_t deadline_ns);

/* The same, with the cause to report when ctx expires by its own deadline
   (Go's WithDeadlineCause).  deadline_cause (may be NULL) is retained here,
   on the calling thread, and kept only if deadline_ns is earlier than the
   parent's (else ctx can only expire with its parent, whose cause it
   reports).  The deadline never copies it anywhere: gc_ctx_cause finds it
   by walking the parents when asked, so the timer thread never retains a
   value. */
gc_ctx *gc_ctx_new_with_deadline_cause(gc_ctx *parent, int64_t deadline_ns,
                                       void *deadline_cause);

/* Tag a new context (and the descendants made after this) with owner, which
   hooks.release receives.  Call before ctx is shared. */
void gc_ctx_set_owner(gc_ctx *ctx, void *owner);

void gc_ctx_retain(gc_ctx *ctx);
void gc_ctx_release(gc_ctx *ctx);

/* Make ctx done with err (GC_CTX_CANCELED or GC_CTX_DEADLINE) and cause (may
   be NULL; retained for ctx and each descendant it reaches).  Returns false
   if ctx was already done (then nothing changes: the first cancel wins). */
bool gc_ctx_cancel(gc_ctx *ctx, int err, void *cause);

/* enum gc_ctx_err.  Settled: once the done channel is closed (or a receive
   from it returned), this is not GC_CTX_ALIVE; may wait for a cancel in
   progress on another thread. */
int gc_ctx_err(gc_ctx *ctx);
/* The same without waiting, for fast checks: GC_CTX_ALIVE may mean "being
   canceled right now".  Not ALIVE implies done is closed. */
int gc_ctx_err_now(gc_ctx *ctx);
/* Why ctx is done, by Go's rule (borrowed; NULL while alive or when there
   is none): the cause given to the cancel that made it done; else, if it
   expired by its own deadline, its deadline cause; else (its deadline was
   its parent's) the parent's answer. */
void *gc_ctx_cause(gc_ctx *ctx);
int64_t gc_ctx_deadline(gc_ctx *ctx);   /* GC_FOREVER if none */
gc_chan *gc_ctx_done(gc_ctx *ctx);      /* owned by ctx; closed when done */

/* When ctx is done, send item (its reference moves) on queue, an unbounded
   channel that outlives every context.  Sent at once if ctx is done already.
   Returns an id for gc_ctx_after_stop, 0 when sent at once.  -1 on ENOMEM.
   A context with a deadline (its own or a parent's) is sure to become done:
   while it has pending items it holds a reference on itself (a pin), so
   that dropping every other reference does not drop the items; the pin
   goes when it is done or its last item is taken back. */
int64_t gc_ctx_after(gc_ctx *ctx, void *item, gc_chan *queue);

/* Take back a registration: true (and *item, whose reference the caller now
   owns) if it had not been sent yet. */
bool gc_ctx_after_stop(gc_ctx *ctx, int64_t id, void **item);

/* The values ctx holds (its cause, its deadline cause, the items of pending after-func
   registrations unless ctx is pinned: those are held by the pin), under its lock: visit(value, arg) for each, stopping at
   the first non-zero return.  visit must not block or take other locks. */
int gc_ctx_visit_values(gc_ctx *ctx, int (*visit)(void *value, void *arg),
                        void *arg);

/* Move out every value ctx holds (cause, deadline cause and pending
   after-func items unless ctx is pinned: the functions will never be sent): returns an array
   (free() it) of *count references the caller now owns, NULL if none (or on
   ENOMEM, when nothing changes).  For breaking reference cycles: ctx stays
   done or alive as it was, its own causes read as NULL afterwards. */
void **gc_ctx_take_values(gc_ctx *ctx, size_t *count);

/* Live contexts linked under ctx (for tests). */
size_t gc_ctx_children(gc_ctx *ctx);

#endif

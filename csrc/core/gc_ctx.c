/* gc_ctx: the cancellation tree.  See gc_ctx.h for the ownership rules. */
#include "gc_ctx.h"

#include "platform/gc_platform.h"
#include <stdatomic.h>
#include <stdlib.h>

#include "gc_fork.h"
#include "gc_park.h"
#include "gc_timer.h"

typedef struct after_item {
    struct after_item *next; /* guarded by the context's lock */
    int64_t id;
    void *item;              /* owned until sent or taken back */
    gc_chan *queue;
} after_item;

struct gc_ctx {
    _Atomic long refs;
    _Atomic int err;        /* written under lock, read without it */
    gc_mutex lock;   /* guards the fields below; held while closing
                               done (channel locks are leaves); never held
                               while taking a timer lock or another
                               context's lock, except a child taking its
                               parent's to link or unlink itself */
    void *cause;            /* owned (value hooks); set once, when done */
    void *deadline_cause;   /* owned (value hooks); set before the context
                               is linked or its timer armed, then only
                               taken (gc_ctx_take_values) */
    bool expired_itself;    /* done by its own deadline (its timer, or born
                               past it), not by a parent's cascade */
    gc_ctx *parent;         /* owned reference; immutable */
    bool linked;            /* in parent's children list: parent's lock */
    gc_ctx *first_child;    /* live children, not owned */
    gc_ctx *prev, *next;    /* siblings: guarded by parent's lock */
    gc_ctx *cancel_next;    /* the next context in a cancel's work list;
                               touched only by the cancel that unlinked this
                               context from its parent (so linked is false
                               and nobody else reaches it through the tree) */
    after_item *after;      /* owned */
    int64_t next_after_id;
    bool pinned;            /* holds a reference on itself for its after
                               items (gc_ctx_after): under lock */
    int64_t deadline;       /* immutable */
    gc_chan *done;          /* owned; closed when done */
    void *owner;            /* the binding's tag (gc_ctx_set_owner); set
                               before the context is shared */
    gc_fork_node fork_node; /* in the fork registry while the context lives */
    gc_timer *timer;        /* owned; armed when this context's own deadline
                               is earlier than its parent's */
};

static gc_ctx_value_hooks hooks;

static bool cancel_tree(gc_ctx *ctx, int err, void *cause, bool itself);

void gc_ctx_set_value_hooks(gc_ctx_value_hooks h)
{
    hooks = h;
}

static void retain_value(void *v)
{
    if (v && hooks.retain)
        hooks.retain(v);
}

static void release_value(gc_ctx *ctx, void *v)
{
    if (v && hooks.release)
        hooks.release(v, ctx->owner);
}

static void report_pin(gc_ctx *ctx, int delta)
{
    if (hooks.pinned)
        hooks.pinned(ctx->owner, delta);
}

void gc_ctx_set_owner(gc_ctx *ctx, void *owner)
{
    ctx->owner = owner;
}

void gc_ctx_retain(gc_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

/* Take a reference unless the count already reached zero (the context is
   being destroyed and must not be revived). */
static bool retain_if_alive(gc_ctx *ctx)
{
    long n = atomic_load_explicit(&ctx->refs, memory_order_relaxed);
    while (n > 0)
        if (atomic_compare_exchange_weak(&ctx->refs, &n, n + 1))
            return true;
    return false;
}

/* parent's lock held */
static void unlink_child(gc_ctx *parent, gc_ctx *child)
{
    if (child->prev)
        child->prev->next = child->next;
    else
        parent->first_child = child->next;
    if (child->next)
        child->next->prev = child->prev;
    child->prev = child->next = NULL;
    child->linked = false;
}

/* Free ctx (refs reached zero) and return its parent reference, which the
   caller releases: an iteration, not a recursion, for deep chains. */
static gc_ctx *destroy(gc_ctx *ctx)
{
    gc_timer_free(ctx->timer); /* stopped; waits for a firing callback */
    gc_ctx *parent = ctx->parent;
    if (parent) {
        gc_mutex_lock(&parent->lock);
        if (ctx->linked)
            unlink_child(parent, ctx);
        gc_mutex_unlock(&parent->lock);
    }
    for (after_item *a = ctx->after, *next; a; a = next) {
        next = a->next;
        release_value(ctx, a->item);
        free(a);
    }
    release_value(ctx, ctx->cause);
    release_value(ctx, ctx->deadline_cause);
    size_t n;
    free(gc_chan_take_buffer(ctx->done, &n)); /* unbuffered: always empty */
    gc_chan_free(ctx->done);
    gc_fork_unregister(&ctx->fork_node, GC_FORK_CTX);
    gc_mutex_destroy(&ctx->lock);
    free(ctx);
    return parent;
}

void gc_ctx_release(gc_ctx *ctx)
{
    while (ctx && atomic_fetch_sub_explicit(&ctx->refs, 1,
                                            memory_order_acq_rel) == 1)
        ctx = destroy(ctx);
}

static void on_deadline(void *arg)
{
    /* The cancel may drop every other reference (a child released by the
       cascade was the last holder of its parent), so the callback holds its
       own while it runs.  A context already being destroyed is skipped:
       destroy() waits for this call before freeing it. */
    gc_ctx *ctx = arg;
    if (!retain_if_alive(ctx))
        return;
    cancel_tree(ctx, GC_CTX_DEADLINE, NULL, true);
    gc_ctx_release(ctx);
}

gc_ctx *gc_ctx_new(gc_ctx *parent, int64_t deadline_ns)
{
    return gc_ctx_new_with_deadline_cause(parent, deadline_ns, NULL);
}

gc_ctx *gc_ctx_new_with_deadline_cause(gc_ctx *parent, int64_t deadline_ns,
                                       void *deadline_cause)
{
    gc_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->refs = 1;
    ctx->done = gc_chan_new(0);
    if (!ctx->done || gc_mutex_init(&ctx->lock) != 0) {
        gc_chan_free(ctx->done);
        free(ctx);
        return NULL;
    }
    if (!gc_fork_register(&ctx->fork_node, GC_FORK_CTX, &ctx->lock, ctx)) {
        gc_mutex_destroy(&ctx->lock);
        gc_chan_free(ctx->done);
        free(ctx);
        return NULL;
    }
    int64_t parent_deadline = parent ? parent->deadline : GC_FOREVER;
    ctx->deadline = deadline_ns < parent_deadline ? deadline_ns : parent_deadline;
    bool own_deadline = deadline_ns < parent_deadline;
    if (own_deadline && deadline_cause) {
        retain_value(deadline_cause);
        ctx->deadline_cause = deadline_cause;
    }
    if (own_deadline) {
        ctx->timer = gc_timer_new_callback(on_deadline, ctx);
        if (!ctx->timer) {
            gc_ctx_release(ctx);
            return NULL;
        }
    }
    if (parent) {
        gc_ctx_retain(parent);
        ctx->parent = parent;
        ctx->owner = parent->owner;
        gc_mutex_lock(&parent->lock);
        bool parent_done = atomic_load(&parent->err) != GC_CTX_ALIVE;
        if (!parent_done) {
            ctx->next = parent->first_child;
            if (ctx->next)
                ctx->next->prev = ctx;
            parent->first_child = ctx;
            ctx->linked = true;
        }
        gc_mutex_unlock(&parent->lock);
        if (parent_done) {
            /* err and cause are fixed once done: read them unlocked */
            gc_ctx_cancel(ctx, atomic_load(&parent->err), parent->cause);
            return ctx;
        }
    }
    if (own_deadline) {
        bool was_active;
        if (deadline_ns <= gc_now_ns())
            cancel_tree(ctx, GC_CTX_DEADLINE, NULL, true);
        else if (gc_timer_reset(ctx->timer, deadline_ns, 0, &was_active) != GC_OK) {
            gc_ctx_release(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* Cancel one context; its live children are appended (retained) to the
   work list through their cancel_next links, at *tail, which then points
   at the last link.  The list needs no memory of its own, so a cancel never
   fails half way.  Returns false if it was done already. */
static bool cancel_one(gc_ctx *ctx, int err, void *cause, bool itself,
                       gc_ctx ***tail)
{
    gc_mutex_lock(&ctx->lock);
    if (atomic_load(&ctx->err) != GC_CTX_ALIVE) {
        gc_mutex_unlock(&ctx->lock);
        return false;
    }
    retain_value(cause);
    ctx->cause = cause;
    ctx->expired_itself = itself;
    /* done closes before err is published, so err() != ALIVE implies a
       closed done channel for every reader (channel locks are leaves, so
       closing under the context lock is in order). */
    gc_chan_close(ctx->done);
    atomic_store(&ctx->err, err);
    for (gc_ctx *child = ctx->first_child, *next; child; child = next) {
        next = child->next;
        child->prev = child->next = NULL;
        child->linked = false;
        if (!retain_if_alive(child))
            continue; /* being destroyed: nobody can observe it */
        child->cancel_next = NULL;
        **tail = child;
        *tail = &child->cancel_next;
    }
    ctx->first_child = NULL;
    after_item *after = ctx->after;
    ctx->after = NULL;
    bool unpin = ctx->pinned;
    ctx->pinned = false;
    gc_mutex_unlock(&ctx->lock);

    for (after_item *a = after, *next; a; a = next) {
        next = a->next;
        if (gc_chan_try_send(a->queue, a->item) != GC_OK)
            release_value(ctx, a->item); /* the queue is unbounded: ENOMEM only */
        free(a);
    }
    if (ctx->timer)
        gc_timer_stop(ctx->timer);
    if (unpin) {
        /* after the sends: whoever sees the pin gone sees the items queued.
           Never the last reference: the caller holds one. */
        report_pin(ctx, -1);
        gc_ctx_release(ctx);
    }
    return true;
}

/* itself: ctx expires by its own deadline (its descendants do not). */
static bool cancel_tree(gc_ctx *ctx, int err, void *cause, bool itself)
{
    /* A fork() must see the cascade whole or not at all. */
    gc_fork_gate_enter();
    gc_ctx *work = NULL, **tail = &work;
    bool canceled = cancel_one(ctx, err, cause, itself, &tail);
    if (canceled && ctx->parent) {
        /* A done child no longer needs its parent's cancel: unlink it, so
           a long-lived parent does not collect canceled children. */
        gc_mutex_lock(&ctx->parent->lock);
        if (ctx->linked)
            unlink_child(ctx->parent, ctx);
        gc_mutex_unlock(&ctx->parent->lock);
    }
    /* Descendants, breadth first, without recursion: trees may be deep. */
    while (work) {
        gc_ctx *next_ctx = work;
        cancel_one(next_ctx, err, cause, false, &tail);
        work = next_ctx->cancel_next;
        if (!work)
            tail = &work;
        gc_ctx_release(next_ctx);
    }
    gc_fork_gate_leave();
    return canceled;
}

bool gc_ctx_cancel(gc_ctx *ctx, int err, void *cause)
{
    return cancel_tree(ctx, err, cause, false);
}

int gc_ctx_err_now(gc_ctx *ctx)
{
    return atomic_load(&ctx->err);
}

int gc_ctx_err(gc_ctx *ctx)
{
    int err = atomic_load(&ctx->err);
    if (err == GC_CTX_ALIVE) {
        /* A cancel may be between closing done and publishing err, both
           under the lock: wait it out, so that a closed done channel always
           comes with an error. */
        gc_mutex_lock(&ctx->lock);
        err = atomic_load(&ctx->err);
        gc_mutex_unlock(&ctx->lock);
    }
    return err;
}

void *gc_ctx_cause(gc_ctx *ctx)
{
    /* Go copies the cause down the tree when a deadline fires; here that
       copy would retain a value on the timer thread, so the cascade copies
       nothing for a deadline and the reader walks up to the context that
       expired.  One lock at a time: the walk only goes up. */
    for (gc_ctx *c = ctx; c; c = c->parent) {
        gc_mutex_lock(&c->lock);
        int err = atomic_load(&c->err);
        void *cause = c->cause;
        void *deadline_cause = c->deadline_cause;
        bool itself = c->expired_itself;
        gc_mutex_unlock(&c->lock);
        if (err == GC_CTX_ALIVE || cause || err != GC_CTX_DEADLINE)
            return err == GC_CTX_ALIVE ? NULL : cause;
        if (itself)
            return deadline_cause;
    }
    return NULL;
}

int64_t gc_ctx_deadline(gc_ctx *ctx)
{
    return ctx->deadline;
}

gc_chan *gc_ctx_done(gc_ctx *ctx)
{
    return ctx->done;
}

int64_t gc_ctx_after(gc_ctx *ctx, void *item, gc_chan *queue)
{
    after_item *a = malloc(sizeof(*a));
    if (!a)
        return -1;
    gc_mutex_lock(&ctx->lock);
    if (atomic_load(&ctx->err) != GC_CTX_ALIVE) {
        gc_mutex_unlock(&ctx->lock);
        free(a);
        if (gc_chan_try_send(queue, item) != GC_OK)
            return -1;
        return 0;
    }
    a->id = ++ctx->next_after_id;
    a->item = item;
    a->queue = queue;
    a->next = ctx->after;
    ctx->after = a;
    bool pin = !ctx->pinned && ctx->deadline != GC_FOREVER;
    if (pin) {
        ctx->pinned = true;
        gc_ctx_retain(ctx);
    }
    int64_t id = a->id;
    gc_mutex_unlock(&ctx->lock);
    if (pin)
        report_pin(ctx, +1);
    return id;
}

bool gc_ctx_after_stop(gc_ctx *ctx, int64_t id, void **item)
{
    after_item *found = NULL;
    gc_mutex_lock(&ctx->lock);
    for (after_item **p = &ctx->after; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            found = *p;
            *p = found->next;
            break;
        }
    }
    bool unpin = ctx->pinned && !ctx->after;
    if (unpin)
        ctx->pinned = false;
    gc_mutex_unlock(&ctx->lock);
    if (unpin) {
        report_pin(ctx, -1);
        gc_ctx_release(ctx); /* never the last: the caller holds one */
    }
    if (!found)
        return false;
    *item = found->item;
    free(found);
    return true;
}

int gc_ctx_visit_values(gc_ctx *ctx, int (*visit)(void *value, void *arg),
                        void *arg)
{
    int rc = 0;
    gc_mutex_lock(&ctx->lock);
    if (ctx->cause)
        rc = visit(ctx->cause, arg);
    if (ctx->deadline_cause && rc == 0)
        rc = visit(ctx->deadline_cause, arg);
    for (after_item *a = ctx->pinned ? NULL : ctx->after; a && rc == 0; a = a->next)
        rc = visit(a->item, arg);
    gc_mutex_unlock(&ctx->lock);
    return rc;
}

void **gc_ctx_take_values(gc_ctx *ctx, size_t *count)
{
    *count = 0;
    gc_mutex_lock(&ctx->lock);
    size_t n = (ctx->cause ? 1 : 0) + (ctx->deadline_cause ? 1 : 0);
    /* pinned items are the pin's, not the caller's to take */
    after_item *after = ctx->pinned ? NULL : ctx->after;
    for (after_item *a = after; a; a = a->next)
        n++;
    void **values = n ? malloc(n * sizeof(*values)) : NULL;
    if (values) {
        if (ctx->cause)
            values[(*count)++] = ctx->cause;
        ctx->cause = NULL;
        if (ctx->deadline_cause)
            values[(*count)++] = ctx->deadline_cause;
        ctx->deadline_cause = NULL;
        for (after_item *a = after, *next; a; a = next) {
            next = a->next;
            values[(*count)++] = a->item;
            free(a);
        }
        if (after)
            ctx->after = NULL;
    }
    gc_mutex_unlock(&ctx->lock);
    return values;
}

size_t gc_ctx_children(gc_ctx *ctx)
{
    size_t n = 0;
    gc_mutex_lock(&ctx->lock);
    for (gc_ctx *c = ctx->first_child; c; c = c->next)
        n++;
    gc_mutex_unlock(&ctx->lock);
    return n;
}

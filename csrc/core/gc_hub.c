/* gc_hub: a Treiber stack of completed waiters plus a wake-up descriptor.
   See gc_hub.h for the contract. */
#include "gc_hub.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "platform/gc_platform.h"

struct gc_hub {
    /* Completed waiters, newest first.  Pushed by posters (CAS), emptied
       by the drainer (exchange); a waiter's hub_next is written only by the
       poster that pushes it, before the push publishes it. */
    _Atomic(gc_waiter *) ready;
    _Atomic uint32_t refs;
    /* Written once at creation (and set to -1 in a fork child). */
    _Atomic int read_fd, write_fd; /* the same eventfd, or a pipe's ends */
    _Atomic uint64_t posts, signals, takes;
};

gc_hub *gc_hub_new(void)
{
    gc_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    int r, w;
    if (gc_wake_open(&r, &w) < 0) {
        int saved = errno;
        free(h);
        errno = saved;
        return NULL;
    }
    atomic_init(&h->read_fd, r);
    atomic_init(&h->write_fd, w);
    atomic_init(&h->ready, NULL);
    atomic_init(&h->refs, 1);
    return h;
}

void gc_hub_retain(gc_hub *h)
{
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

void gc_hub_release(gc_hub *h)
{
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    gc_wake_close(atomic_load_explicit(&h->read_fd, memory_order_relaxed),
                  atomic_load_explicit(&h->write_fd, memory_order_relaxed));
    free(h);
}

int gc_hub_fd(const gc_hub *h)
{
    return atomic_load_explicit(&((gc_hub *)h)->read_fd, memory_order_relaxed);
}

static void signal_fd(gc_hub *h)
{
    int fd = atomic_load_explicit(&h->write_fd, memory_order_relaxed);
    if (fd < 0)
        return;
    atomic_fetch_add_explicit(&h->signals, 1, memory_order_relaxed);
    gc_wake_signal(fd);
}

void gc_hub_post(gc_hub *h, gc_waiter *w)
{
    gc_hub_retain(h); /* the drainer may drop the last other reference */
    atomic_fetch_add_explicit(&h->posts, 1, memory_order_relaxed);
    /* Push while still CLAIMED, then publish DONE: an owner that sees DONE
       knows its waiter is already on the stack, so a take it runs next
       hands it back.  A drainer that meets a waiter not yet DONE waits the
       few instructions until it is. */
    gc_waiter *old = atomic_load_explicit(&h->ready, memory_order_relaxed);
    do {
        w->hub_next = old;
    } while (!atomic_compare_exchange_weak_explicit(
        &h->ready, &old, w, memory_order_release, memory_order_relaxed));
    uint32_t s =
        atomic_exchange_explicit(&w->state, GC_W_DONE, memory_order_acq_rel);
    if (s & GC_W_SLEEPING)
        gc_unpark(&w->state); /* an owner waiting out our claim */
    /* From here w may be freed.  Only the push that found the stack empty
       starts a burst; the drainer reads the descriptor before it empties
       the stack, so a push after the take finds it empty and signals
       again: no wake-up is lost, at worst one is spurious. */
    if (old == NULL)
        signal_fd(h);
    gc_hub_release(h);
}

static void drain_fd(gc_hub *h)
{
    int fd = atomic_load_explicit(&h->read_fd, memory_order_relaxed);
    if (fd < 0)
        return;
    gc_wake_drain(fd);
}

gc_waiter *gc_hub_take(gc_hub *h)
{
    drain_fd(h);
    gc_waiter *w =
        atomic_exchange_explicit(&h->ready, NULL, memory_order_acquire);
    if (!w)
        return NULL;
    atomic_fetch_add_explicit(&h->takes, 1, memory_order_relaxed);
    /* Newest first on the stack: reverse into completion order. */
    gc_waiter *fifo = NULL;
    while (w) {
        gc_waiter *next = w->hub_next;
        w->hub_next = fifo;
        fifo = w;
        w = next;
    }
    for (w = fifo; w; w = w->hub_next)
        gc_waiter_wait_done(w); /* its poster is between push and DONE */
    return fifo;
}

bool gc_hub_pending(gc_hub *h)
{
    return atomic_load_explicit(&h->ready, memory_order_relaxed) != NULL;
}

bool gc_hub_wait(gc_hub *h, int timeout_ms)
{
    int fd = atomic_load_explicit(&h->read_fd, memory_order_relaxed);
    if (gc_wake_wait(fd, timeout_ms)) /* fd -1, a fork child's hub: a sleep */
        drain_fd(h);
    /* After the read: a post whose signal it consumed is on the stack. */
    return atomic_load_explicit(&h->ready, memory_order_seq_cst) != NULL;
}

void gc_hub_get_stats(gc_hub *h, gc_hub_stats *out)
{
    out->posts = atomic_load_explicit(&h->posts, memory_order_relaxed);
    out->signals = atomic_load_explicit(&h->signals, memory_order_relaxed);
    out->takes = atomic_load_explicit(&h->takes, memory_order_relaxed);
}

void gc_hub_forget_fd_after_fork(gc_hub *h)
{
    int r = atomic_exchange_explicit(&h->read_fd, -1, memory_order_relaxed);
    int w = atomic_exchange_explicit(&h->write_fd, -1, memory_order_relaxed);
    gc_wake_close(r, w);
}

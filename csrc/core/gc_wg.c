/* gc_wg: the WaitGroup counter and its generations of zero channels. */
#include "gc_wg.h"

#include "platform/gc_platform.h"
#include <stdatomic.h>
#include <stdlib.h>

#include "gc_fork.h"

struct gc_wg_gen {
    gc_chan *zero;       /* owned; closed when its generation reaches zero */
    atomic_long refs;    /* the group's (while current) + each waiter's */
};

struct gc_wg {
    gc_mutex lock;
    /* Guarded by lock.  current is NULL exactly when count == 0; the group
       holds one reference on it, dropped when count returns to zero. */
    int64_t count;
    gc_wg_gen *current;
    gc_fork_node fork_node;
};

static gc_wg_gen *gen_new(void)
{
    gc_wg_gen *gen = malloc(sizeof(*gen));
    if (!gen)
        return NULL;
    gen->zero = gc_chan_new(0);
    if (!gen->zero) {
        free(gen);
        return NULL;
    }
    atomic_init(&gen->refs, 1);
    return gen;
}

void gc_wg_gen_release(gc_wg_gen *gen)
{
    if (gen && atomic_fetch_sub(&gen->refs, 1) == 1) {
        gc_chan_free(gen->zero);
        free(gen);
    }
}

gc_chan *gc_wg_gen_chan(gc_wg_gen *gen)
{
    return gen->zero;
}

gc_wg *gc_wg_new(void)
{
    gc_wg *wg = calloc(1, sizeof(*wg));
    if (wg && gc_mutex_init(&wg->lock) != 0) {
        free(wg);
        return NULL;
    }
    if (wg && !gc_fork_register(&wg->fork_node, GC_FORK_WG, &wg->lock, wg)) {
        gc_mutex_destroy(&wg->lock);
        free(wg);
        return NULL;
    }
    return wg;
}

void gc_wg_free(gc_wg *wg)
{
    if (!wg)
        return;
    if (wg->current) {
        gc_chan_close(wg->current->zero);
        gc_wg_gen_release(wg->current);
    }
    gc_fork_unregister(&wg->fork_node, GC_FORK_WG);
    gc_mutex_destroy(&wg->lock);
    free(wg);
}

enum gc_status gc_wg_add(gc_wg *wg, int64_t delta)
{
    /* Allocate outside the lock in case this add leaves zero. */
    gc_wg_gen *fresh = NULL, *finished = NULL;
    if (delta > 0) {
        gc_mutex_lock(&wg->lock);
        bool leaving_zero = wg->count == 0;
        gc_mutex_unlock(&wg->lock);
        if (leaving_zero && !(fresh = gen_new()))
            return GC_NOMEM;
    }
    gc_mutex_lock(&wg->lock);
    /* count >= 0: INT64_MAX - count cannot overflow, and a sum past it
       is refused like a negative one */
    int64_t next = delta > INT64_MAX - wg->count ? -1 : wg->count + delta;
    if (next < 0) {
        gc_mutex_unlock(&wg->lock);
        gc_wg_gen_release(fresh);
        return GC_CLOSED;
    }
    if (wg->count == 0 && next > 0) {
        if (!fresh) { /* another add raced us past zero and back */
            gc_mutex_unlock(&wg->lock);
            return gc_wg_add(wg, delta);
        }
        wg->current = fresh;
        fresh = NULL;
    } else if (wg->count > 0 && next == 0) {
        finished = wg->current;
        wg->current = NULL;
    }
    wg->count = next;
    gc_mutex_unlock(&wg->lock);
    gc_wg_gen_release(fresh);
    if (finished) {
        gc_chan_close(finished->zero);
        gc_wg_gen_release(finished);
    }
    return GC_OK;
}

int64_t gc_wg_count(gc_wg *wg)
{
    gc_mutex_lock(&wg->lock);
    int64_t n = wg->count;
    gc_mutex_unlock(&wg->lock);
    return n;
}

gc_wg_gen *gc_wg_acquire_gen(gc_wg *wg)
{
    gc_mutex_lock(&wg->lock);
    gc_wg_gen *gen = wg->current;
    if (gen)
        atomic_fetch_add(&gen->refs, 1);
    gc_mutex_unlock(&wg->lock);
    return gen;
}

/* gc_fork: the registry of locks and the at-fork handlers.  See gc_fork.h. */
#include "gc_fork.h"

#include <stdint.h>
#include <stdlib.h>

#include "gc_chan.h"
#include "gc_trace.h"
#include "platform/gc_platform.h"

static pthread_rwlock_t gate = PTHREAD_RWLOCK_INITIALIZER;
static _Thread_local int gate_depth;

static struct {
    pthread_mutex_t lock;
    /* Guarded by lock.  nodes[kind] holds len[kind] registered nodes (not
       owned: each object unregisters before it is freed); scratch has the
       same capacity as the channel array, so that the prepare handler can
       sort channels without allocating. */
    gc_fork_node **nodes[GC_FORK_KINDS];
    size_t len[GC_FORK_KINDS], cap[GC_FORK_KINDS];
    gc_fork_node **scratch;
    size_t sorted; /* channel locks taken by prepare, in scratch */
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int by_object(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(gc_fork_node *const *)a)->object;
    uintptr_t y = (uintptr_t)(*(gc_fork_node *const *)b)->object;
    return x < y ? -1 : x > y;
}

static void prepare(void)
{
    pthread_rwlock_wrlock(&gate);
    gc_timer_fork_prepare();
    pthread_mutex_lock(&reg.lock);
    for (int k = 0; k < GC_FORK_CHAN; k++)
        for (size_t i = 0; i < reg.len[k]; i++)
            pthread_mutex_lock(reg.nodes[k][i]->lock);
    size_t n = reg.len[GC_FORK_CHAN];
    for (size_t i = 0; i < n; i++)
        reg.scratch[i] = reg.nodes[GC_FORK_CHAN][i];
    qsort(reg.scratch, n, sizeof(*reg.scratch), by_object);
    for (size_t i = 0; i < n; i++)
        pthread_mutex_lock(reg.scratch[i]->lock);
    reg.sorted = n;
}

static void release_all(void)
{
    for (size_t i = reg.sorted; i-- > 0;)
        pthread_mutex_unlock(reg.scratch[i]->lock);
    for (int k = GC_FORK_CHAN - 1; k >= 0; k--)
        for (size_t i = reg.len[k]; i-- > 0;)
            pthread_mutex_unlock(reg.nodes[k][i]->lock);
    pthread_mutex_unlock(&reg.lock);
}

static void in_parent(void)
{
    release_all();
    gc_timer_fork_parent();
    pthread_rwlock_unlock(&gate);
}

static void in_child(void)
{
    for (size_t i = 0; i < reg.sorted; i++)
        gc_chan_forget_waiters_locked(reg.scratch[i]->object);
    release_all();
    gc_timer_fork_child();
    gc_trace_fork_child();
    /* Made anew, not unlocked: readers of threads that are gone may be
       counted in it (a write unlock hands the lock to waiting readers). */
    pthread_rwlock_init(&gate, NULL);
}

static void install(void)
{
    gc_atfork(prepare, in_parent, in_child);
}

static bool grow(gc_fork_node ***array, size_t cap)
{
    gc_fork_node **grown = realloc(*array, cap * sizeof(**array));
    if (!grown)
        return false;
    *array = grown;
    return true;
}

bool gc_fork_register(gc_fork_node *node, enum gc_fork_kind kind,
                      pthread_mutex_t *lock, void *object)
{
    pthread_once(&atfork_once, install);
    node->lock = lock;
    node->object = object;
    pthread_mutex_lock(&reg.lock);
    if (reg.len[kind] == reg.cap[kind]) {
        size_t cap = reg.cap[kind] ? reg.cap[kind] * 2 : 64;
        if (!grow(&reg.nodes[kind], cap) ||
            (kind == GC_FORK_CHAN && !grow(&reg.scratch, cap))) {
            pthread_mutex_unlock(&reg.lock);
            return false;
        }
        reg.cap[kind] = cap;
    }
    node->index = reg.len[kind]++;
    reg.nodes[kind][node->index] = node;
    pthread_mutex_unlock(&reg.lock);
    return true;
}

void gc_fork_unregister(gc_fork_node *node, enum gc_fork_kind kind)
{
    pthread_mutex_lock(&reg.lock);
    gc_fork_node *last = reg.nodes[kind][--reg.len[kind]];
    reg.nodes[kind][node->index] = last;
    last->index = node->index;
    pthread_mutex_unlock(&reg.lock);
}

void gc_fork_gate_enter(void)
{
    if (gate_depth++ == 0)
        pthread_rwlock_rdlock(&gate);
}

void gc_fork_gate_leave(void)
{
    if (--gate_depth == 0)
        pthread_rwlock_unlock(&gate);
}

size_t gc_fork_registered(enum gc_fork_kind kind)
{
    pthread_mutex_lock(&reg.lock);
    size_t n = reg.len[kind];
    pthread_mutex_unlock(&reg.lock);
    return n;
}

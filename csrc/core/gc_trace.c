/* gc_trace: the recorder's ring buffer.  See gc_trace.h. */
#include "gc_trace.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

_Atomic int gc_trace_flag;

/* Guarded by lock: the ring (owned; NULL while not recording), its
   capacity, the index of the next slot written, how many events it holds
   and how many it dropped, and the thread-id function. */
static struct {
    pthread_mutex_t lock;
    gc_trace_event *ring;
    size_t capacity, next, count;
    uint64_t dropped;
    uint64_t session; /* counts recordings started */
    uint64_t (*thread_id)(void);
} rec = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, 0, NULL};

/* The calling thread's last recorded receive (its own thread only). */
#if defined(__GNUC__)
static _Thread_local struct {
    uint64_t session, chan, seq;
} last_recv __attribute__((tls_model("initial-exec")));
#else
static _Thread_local struct {
    uint64_t session, chan, seq;
} last_recv;
#endif

int gc_trace_start(size_t capacity, uint64_t (*thread_id)(void))
{
    if (capacity == 0 || capacity > SIZE_MAX / sizeof(gc_trace_event))
        return -1;
    gc_trace_event *ring = malloc(capacity * sizeof *ring);
    if (!ring)
        return -1;
    pthread_mutex_lock(&rec.lock);
    if (rec.ring) {
        pthread_mutex_unlock(&rec.lock);
        free(ring);
        return 1;
    }
    rec.ring = ring;
    rec.capacity = capacity;
    rec.next = rec.count = 0;
    rec.dropped = 0;
    rec.session++;
    rec.thread_id = thread_id;
    atomic_store_explicit(&gc_trace_flag, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rec.lock);
    return 0;
}

gc_trace_event *gc_trace_stop(size_t *count, uint64_t *dropped)
{
    pthread_mutex_lock(&rec.lock);
    atomic_store_explicit(&gc_trace_flag, 0, memory_order_relaxed);
    gc_trace_event *ring = rec.ring;
    size_t n = rec.count, cap = rec.capacity, next = rec.next;
    *dropped = rec.dropped;
    rec.ring = NULL;
    rec.count = rec.next = rec.capacity = 0;
    pthread_mutex_unlock(&rec.lock);
    *count = n;
    if (!ring || n == 0) {
        free(ring);
        return NULL;
    }
    if (n == cap && next != 0) {
        /* Wrapped: rotate so the oldest (at next) comes first.  In place,
           by three reversals, so stopping never needs memory. */
        gc_trace_event t;
        for (size_t i = 0, j = next - 1; i < j; i++, j--) {
            t = ring[i]; ring[i] = ring[j]; ring[j] = t;
        }
        for (size_t i = next, j = cap - 1; i < j; i++, j--) {
            t = ring[i]; ring[i] = ring[j]; ring[j] = t;
        }
        for (size_t i = 0, j = cap - 1; i < j; i++, j--) {
            t = ring[i]; ring[i] = ring[j]; ring[j] = t;
        }
    }
    return ring;
}

void gc_trace_record(enum gc_trace_kind kind, uint64_t chan, uint64_t seq,
                     int64_t ts_ns)
{
    pthread_mutex_lock(&rec.lock);
    if (rec.ring) {
        if (kind == GC_TRACE_RECV) {
            last_recv.session = rec.session;
            last_recv.chan = chan;
            last_recv.seq = seq;
        }
        gc_trace_event *e = &rec.ring[rec.next];
        e->ts_ns = ts_ns;
        e->thread = rec.thread_id ? rec.thread_id() : 0;
        e->chan = chan;
        e->seq = seq;
        e->kind = (uint32_t)kind;
        if (++rec.next == rec.capacity)
            rec.next = 0;
        if (rec.count < rec.capacity)
            rec.count++;
        else
            rec.dropped++;
    }
    pthread_mutex_unlock(&rec.lock);
}

uint64_t gc_trace_last_received(uint64_t chan)
{
    /* Within one recording every receive is recorded, so a match of this
       recording is this thread's last receive from chan. */
    pthread_mutex_lock(&rec.lock);
    bool current = rec.ring && last_recv.session == rec.session;
    pthread_mutex_unlock(&rec.lock);
    return current && last_recv.chan == chan ? last_recv.seq : 0;
}

void gc_trace_fork_child(void)
{
    /* Another thread may have held the lock at the fork: a new one.  The
       ring is left to the parent's copy of the memory (not freed: the
       allocator's own state is not ours to trust here). */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&rec.lock, &fresh, sizeof fresh);
    atomic_store_explicit(&gc_trace_flag, 0, memory_order_relaxed);
    rec.ring = NULL;
    rec.count = rec.next = rec.capacity = 0;
}

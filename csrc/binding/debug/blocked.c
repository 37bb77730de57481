/* Who waits on what, and Go's "all goroutines are asleep - deadlock!".

   Every wait that parks (the slow path of pyg_wait_with, which every
   thread's blocking select goes through, idle pool workers' included;
   fast paths never come here) marks its thread's record parked, with what it waits on, for
   as long as it parks.  blocked() reads the records; the main thread's
   waits use them to detect a deadlock.

   Each thread has its own record (per interpreter) written as a seqlock,
   so parking takes no lock and touches no memory another running thread
   writes (but for kick_seq, which the exit hook writes to end the waits of
   a deadlocked program, see below).  all_lock (a leaf) guards the list of records and their
   prev/next/st; it is taken to read the records and when a thread's
   first wait makes its record or the thread exits.  A record is freed
   when its thread exits (the key's destructor); records of a freed module
   stay listed, orphaned, so a daemon thread parked at exit never touches
   freed memory. */
#include "debug/blocked.h"
#include "args.h"
#include "channel.h"

#include "platform/gc_platform.h"
#include <stdlib.h>
#include <time.h>

#include "gc_ctx.h"
#include "gc_park.h"
#include "gc_timer.h"

static gc_mutex all_lock = GC_MUTEX_INIT;
static pyg_blocked *all_head; /* guarded by all_lock */

/* all_lock held */
static void unlink_record(pyg_blocked *rec)
{
    if (rec->prev)
        rec->prev->next = rec->next;
    else
        all_head = rec->next;
    if (rec->next)
        rec->next->prev = rec->prev;
    rec->prev = rec->next = NULL;
}

/* The thread exits: it is parked nowhere. */
static void free_record(void *p)
{
    pyg_blocked *rec = p;
    gc_mutex_lock(&all_lock);
    unlink_record(rec);
    gc_mutex_unlock(&all_lock);
    free(rec);
}

pyg_blocked *pyg_blocked_self(pyg_state *st)
{
    pyg_blocked *rec = gc_tls_get(st->blocked_key);
    if (rec)
        return rec;
    rec = calloc(1, sizeof(*rec));
    if (!rec)
        return NULL;
    rec->st = st;
    rec->thread_ident = PyThread_get_thread_ident();
    gc_mutex_lock(&all_lock);
    rec->next = all_head;
    if (rec->next)
        rec->next->prev = rec;
    all_head = rec;
    gc_mutex_unlock(&all_lock);
    if (gc_tls_set(st->blocked_key, rec) != 0) {
        free_record(rec);
        return NULL;
    }
    return rec;
}

/* "Since when" needs no precision: the coarse clock costs a few ns. */
static int64_t coarse_now_ns(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
    return gc_real_now_ns();
}

/* GCC refuses fences under ThreadSanitizer, which does not model them.  The
   fields are atomics, so it sees no race either way; there an acq_rel
   read-modify-write of the sequence word (adding 0) orders the accesses
   instead. */
#if defined(__SANITIZE_THREAD__)
#define SEQLOCK_FENCE(rec, order) \
    ((void)atomic_fetch_add_explicit(&(rec)->seq, 0, memory_order_acq_rel))
#else
#define SEQLOCK_FENCE(rec, order) atomic_thread_fence(order)
#endif

/* Seqlock writes, by the record's own thread only. */
static uint64_t begin_write(pyg_blocked *rec)
{
    uint64_t seq = atomic_load_explicit(&rec->seq, memory_order_relaxed);
    atomic_store_explicit(&rec->seq, seq + 1, memory_order_relaxed);
    SEQLOCK_FENCE(rec, memory_order_release);
    return seq;
}

static void end_write(pyg_blocked *rec, uint64_t seq)
{
    atomic_store_explicit(&rec->seq, seq + 2, memory_order_release);
}

uint64_t pyg_blocked_park(pyg_blocked *rec, const char *op, PyObject *const *objects,
                          Py_ssize_t nobjects, PyObject *ctx, bool timed,
                          _Atomic uint32_t *word)
{
    int64_t now = coarse_now_ns();
    uint64_t seq = begin_write(rec);
    atomic_store_explicit(&rec->op, op, memory_order_relaxed);
    atomic_store_explicit(&rec->objects, objects, memory_order_relaxed);
    atomic_store_explicit(&rec->nobjects, nobjects, memory_order_relaxed);
    atomic_store_explicit(&rec->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&rec->since_ns, now, memory_order_relaxed);
    atomic_store_explicit(&rec->timed, timed, memory_order_relaxed);
    atomic_store_explicit(&rec->word, word, memory_order_relaxed);
    atomic_store_explicit(&rec->parked, true, memory_order_relaxed);
    end_write(rec, seq);
    return seq + 2;
}

void pyg_blocked_unpark(pyg_blocked *rec)
{
    uint64_t seq = begin_write(rec);
    atomic_store_explicit(&rec->parked, false, memory_order_relaxed);
    end_write(rec, seq);
}

typedef struct {
    uint64_t seq;
    bool parked, timed;
    const char *op;
    PyObject *const *objects;
    Py_ssize_t nobjects;
    PyObject *ctx;
    int64_t since_ns;
    _Atomic uint32_t *word;
} record_view;

/* A consistent copy of a record's fields (all_lock held, so it is not
   freed meanwhile). */
static void read_record(pyg_blocked *rec, record_view *v)
{
    for (;;) {
        uint64_t seq = atomic_load_explicit(&rec->seq, memory_order_acquire);
        if (seq & 1) {
            gc_yield(); /* its thread is between a few stores */
            continue;
        }
        v->parked = atomic_load_explicit(&rec->parked, memory_order_relaxed);
        v->timed = atomic_load_explicit(&rec->timed, memory_order_relaxed);
        v->op = atomic_load_explicit(&rec->op, memory_order_relaxed);
        v->objects = atomic_load_explicit(&rec->objects, memory_order_relaxed);
        v->nobjects = atomic_load_explicit(&rec->nobjects, memory_order_relaxed);
        v->ctx = atomic_load_explicit(&rec->ctx, memory_order_relaxed);
        v->since_ns = atomic_load_explicit(&rec->since_ns, memory_order_relaxed);
        v->word = atomic_load_explicit(&rec->word, memory_order_relaxed);
        SEQLOCK_FENCE(rec, memory_order_acquire);
        if (atomic_load_explicit(&rec->seq, memory_order_relaxed) == seq) {
            v->seq = seq;
            return;
        }
    }
}

typedef struct {
    unsigned long thread_ident;
    const char *op;
    size_t first_ref; /* its objects are refs[first_ref:next one's] */
    PyObject *ctx;    /* a reference, or NULL */
    int64_t since_ns;
    bool timed;
} snapshot;

/* _blocked(): [(thread ident, operation, (objects...), since, timed), ...]
   with since on the time.monotonic() clock; _blocked(True) adds a sixth
   item, the wait's ctx= Context or None (pygochan.testing.leaked).
   Called with the GIL held: a
   parked call cannot release its objects before it gets the GIL back, so
   taking references to them is safe while its record still says parked
   (checked again after).  Without a GIL that does not hold, and the
   objects (and the ctx) are left out. */
static PyObject *module_blocked(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "_blocked(with_ctx=False)");
        return NULL;
    }
    int with_ctx = nargs == 1 ? PyObject_IsTrue(args[0]) : 0;
    if (with_ctx < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    size_t n = 0;
    gc_mutex_lock(&all_lock);
    for (pyg_blocked *r = all_head; r; r = r->next)
        n += r->st == st;
    gc_mutex_unlock(&all_lock);
    /* Records made meanwhile are left out: they were not parked yet. */
    snapshot *snaps = PyMem_Calloc(n + 1, sizeof(snapshot));
    size_t nrefs = 0, cap = 16;
    PyObject **refs = malloc(cap * sizeof(PyObject *));
    if (!snaps || !refs) {
        PyMem_Free(snaps);
        free(refs);
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    size_t got = 0;
    bool nomem = false;
    gc_mutex_lock(&all_lock);
    for (pyg_blocked *r = all_head; r && got < n && !nomem; r = r->next) {
        if (r->st != st)
            continue;
        record_view v;
        read_record(r, &v);
        if (!v.parked)
            continue;
        Py_ssize_t nobjects = 0;
        PyObject *ctx = NULL;
#ifndef Py_GIL_DISABLED
        nobjects = v.nobjects;
        ctx = v.ctx;
#endif
        if (nrefs + (size_t)nobjects > cap) {
            size_t newcap = 2 * cap + (size_t)nobjects;
            PyObject **grown = realloc(refs, newcap * sizeof(PyObject *));
            if (!grown) {
                nomem = true;
                break;
            }
            refs = grown;
            cap = newcap;
        }
        size_t first = nrefs;
        for (Py_ssize_t i = 0; i < nobjects; i++)
            refs[nrefs++] = Py_NewRef(v.objects[i]);
        Py_XINCREF(ctx);
        if (atomic_load_explicit(&r->seq, memory_order_acquire) != v.seq) {
            /* it unparked while we looked: leave it out */
            while (nrefs > first)
                Py_DECREF(refs[--nrefs]);
            Py_XDECREF(ctx);
            continue;
        }
        snaps[got++] = (snapshot){r->thread_ident, v.op, first, ctx, v.since_ns, v.timed};
    }
    gc_mutex_unlock(&all_lock);
    for (size_t i = 0; i < got && list && !nomem; i++) {
        size_t first = snaps[i].first_ref;
        size_t last = i + 1 < got ? snaps[i + 1].first_ref : nrefs;
        PyObject *objs = PyTuple_New((Py_ssize_t)(last - first));
        if (objs)
            for (size_t k = first; k < last; k++)
                PyTuple_SET_ITEM(objs, (Py_ssize_t)(k - first), Py_NewRef(refs[k]));
        double since = (double)snaps[i].since_ns / 1e9;
        PyObject *timed = snaps[i].timed ? Py_True : Py_False;
        PyObject *ctx = snaps[i].ctx ? snaps[i].ctx : Py_None;
        PyObject *item = !objs ? NULL
                         : with_ctx ? Py_BuildValue("(ksNOdO)", snaps[i].thread_ident, snaps[i].op,
                                                    objs, ctx, since, timed)
                                    : Py_BuildValue("(ksNdO)", snaps[i].thread_ident, snaps[i].op,
                                                    objs, since, timed);
        if (!item || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
    }
    for (size_t i = 0; i < got; i++)
        Py_XDECREF(snaps[i].ctx);
    for (size_t k = 0; k < nrefs; k++)
        Py_DECREF(refs[k]);
    PyMem_Free(snaps);
    free(refs);
    if (nomem) {
        Py_XDECREF(list);
        return PyErr_NoMemory();
    }
    return list;
}

/* _wakes_by_itself(channel) -> bool: will something no Python object holds
   still deliver on channel?  A Timer's, Ticker's or after()'s channel
   whose timer is pending, a done channel whose context has a deadline.
   (A view answers for the channel it views.)  For leaked(): a wait on such
   a channel ends however unreachable the channel is. */
static PyObject *module_wakes_by_itself(PyObject *module, PyObject *obj)
{
    pyg_state *st = PyModule_GetState(module);
    if (!Py_IS_TYPE(obj, st->channel_type)) {
        PyErr_Format(PyExc_TypeError, "expected a Channel, not %.200s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    pyg_channel *ch = (pyg_channel *)obj;
    while ((ch->kind == PYG_CHAN_RECV_VIEW || ch->kind == PYG_CHAN_SEND_VIEW) && ch->view_of)
        ch = (pyg_channel *)ch->view_of;
    bool wakes = false;
    if (ch->kind == PYG_CHAN_TIMER && ch->timer)
        wakes = gc_timer_armed(ch->timer);
    else if (ch->kind == PYG_CHAN_DONE && ch->owner_ctx)
        wakes = gc_ctx_deadline(ch->owner_ctx) != GC_FOREVER;
    return PyBool_FromLong(wakes);
}

/* ---- deadlock detection ------------------------------------------------- */

#ifndef Py_GIL_DISABLED
/* st->deadlock_ignored holds the unique ids (PyThreadState_GetID) of the
   thread states of the ignored threads: unlike a thread's ident, which the
   next thread often reuses (also in a fork() child, whose new threads get
   the stacks of the parent's other threads), an id is never given twice in
   an interpreter, so a thread is forgotten once it ends. */
static bool is_ignored(pyg_state *st, PyThreadState *t)
{
    /* the ids were made by _set_deadlock_ignored, as ints that fit */
    Py_ssize_t n = st->deadlock_ignored ? PyTuple_GET_SIZE(st->deadlock_ignored) : 0;
    if (n == 0)
        return false;
    unsigned long long id = (unsigned long long)PyThreadState_GetID(t);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(st->deadlock_ignored, i)) == id)
            return true;
    return false;
}

/* The interpreter's Python threads as the detector sees them: every thread
   state, whatever it is doing (one in I/O, time.sleep, a C library or just
   created counts), less the ignored ones and, with skip_self, the caller.
   Walked with the GIL held, as faulthandler does; only on builds with a
   GIL (see pyg_deadlock_check). */
typedef struct {
    size_t counted;              /* thread states that count */
    unsigned long *skip;         /* idents of those that do not */
    size_t nskip;
} thread_census;

static int take_census(pyg_state *st, bool skip_self, thread_census *c)
{
    PyThreadState *self = PyThreadState_Get();
    size_t cap = (st->deadlock_ignored ? (size_t)PyTuple_GET_SIZE(st->deadlock_ignored) : 0) + 1;
    c->counted = c->nskip = 0;
    c->skip = PyMem_Malloc(cap * sizeof(unsigned long));
    if (!c->skip)
        return -1;
    PyInterpreterState *interp = PyThreadState_GetInterpreter(self);
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t;
         t = PyThreadState_Next(t)) {
        bool skip = (skip_self && t == self) || is_ignored(st, t);
        if (skip && c->nskip < cap)
            c->skip[c->nskip++] = t->thread_id;
        else if (!skip)
            c->counted++;
    }
    return 0;
}

static bool census_skips(const thread_census *c, unsigned long ident)
{
    for (size_t i = 0; i < c->nskip; i++)
        if (c->skip[i] == ident)
            return true;
    return false;
}

/* Is every thread that counts parked, untimed, in pygochan, with no timer
   pending?  *changes: a sum that moves whenever a wait begins or ends. */
static int all_parked_for_good(pyg_state *st, bool skip_self, bool *stuck,
                               uint64_t *changes)
{
    thread_census census;
    if (take_census(st, skip_self, &census) < 0)
        return -1;
    size_t untimed = 0;
    *changes = 0;
    gc_mutex_lock(&all_lock);
    for (pyg_blocked *r = all_head; r; r = r->next) {
        if (r->st != st)
            continue;
        record_view v;
        read_record(r, &v);
        *changes += v.seq;
        /* no Python code runs under the leaf lock */
        untimed += v.parked && !v.timed && !census_skips(&census, r->thread_ident);
    }
    gc_mutex_unlock(&all_lock);
    PyMem_Free(census.skip);
    /* Anything that could still wake a waiter is progress: a thread not
       parked in pygochan, a park with a deadline, any pending timer
       (Timer, Ticker, after, a context deadline, after_func). */
    *stuck = untimed >= census.counted && gc_timer_pending() == 0;
    return 0;
}
#endif

int pyg_deadlock_check(pyg_state *st, pyg_deadlock_watch *watch, PyObject **message)
{
    *message = NULL;
#ifdef Py_GIL_DISABLED
    /* Thread states cannot be walked safely without the GIL: never guess. */
    (void)st;
    (void)watch;
    return 0;
#else
    if (!st->deadlock_detection || !st->deadlock_reporter)
        return 0;
    bool stuck;
    uint64_t changes;
    if (all_parked_for_good(st, false, &stuck, &changes) < 0) {
        PyErr_Clear(); /* out of memory: never guess */
        return 0;
    }
    if (!stuck) {
        watch->quiet_since_ns = 0;
        return 0;
    }
    int64_t now = gc_real_now_ns();
    if (watch->quiet_since_ns == 0 || changes != watch->quiet_changes) {
        /* Every wait that begins or ends restarts the grace period. */
        watch->quiet_since_ns = now;
        watch->quiet_changes = changes;
        return 0;
    }
    if (now - watch->quiet_since_ns < st->deadlock_grace_ns)
        return 0;
    /* The reporter (pygochan._debug) makes the last checks that need
       Python (signal handlers) and returns the message, or None. */
    PyObject *msg = PyObject_CallNoArgs(st->deadlock_reporter);
    if (!msg)
        return -1;
    if (msg == Py_None) {
        Py_DECREF(msg);
        watch->quiet_since_ns = now; /* ask again after another grace period */
        return 0;
    }
    /* Running Python code, this thread also ran what was queued for it
       (Py_AddPendingCall, perhaps by a thread that has exited since): that
       may have started a thread or a timer, or ended a wait.  Look again;
       the caller retries its own wait. */
    if (all_parked_for_good(st, false, &stuck, &changes) < 0) {
        PyErr_Clear();
        stuck = false;
    }
    if (!stuck || changes != watch->quiet_changes) {
        Py_DECREF(msg);
        watch->quiet_since_ns = 0;
        return 0;
    }
    *message = msg;
    return 1;
#endif
}

/* ---- a deadlocked program exits --------------------------------------- */

/* In Go, a deadlock ends the program.  Here the main thread's wait raises
   Deadlock, and the interpreter's exit would then join the non-daemon
   threads still parked for good: forever.  pygochan._debug's exit hook
   (run by threading before that join) calls _end_deadlocked_waits: if the
   main thread raised Deadlock, and every other thread that counts is still
   parked, untimed, with no timer pending, unchanged for a grace period,
   the parked waits of the threads it names end with Deadlock (no effect,
   like a timeout), so that those threads unwind and the join returns. */

#ifndef Py_GIL_DISABLED
typedef struct {
    unsigned long ident;
    uint64_t seq;
} kicked_wait;

static bool names(const unsigned long *idents, Py_ssize_t n, unsigned long ident)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (idents[i] == ident)
            return true;
    return false;
}

/* Ask each wait to stop and wake it; kicks[] are the waits to end, found
   (first round: nkicks 0) among the parked untimed waits of idents.  A
   wait's wake-up is lost if it lands before that thread sleeps, so this is
   repeated until every one has ended.  Returns how many remain. */
static size_t kick(pyg_state *st, const unsigned long *idents, Py_ssize_t nidents,
                   kicked_wait *kicks, size_t *nkicks, bool first_round)
{
    unsigned long self = PyThread_get_thread_ident();
    size_t remaining = 0;
    gc_mutex_lock(&all_lock);
    for (pyg_blocked *r = all_head; r; r = r->next) {
        if (r->st != st || r->thread_ident == self)
            continue;
        record_view v;
        read_record(r, &v);
        if (!v.parked || v.timed || !v.word)
            continue;
        bool wanted;
        if (first_round) {
            wanted = names(idents, nidents, r->thread_ident) && *nkicks < (size_t)nidents;
            if (wanted)
                kicks[(*nkicks)++] = (kicked_wait){r->thread_ident, v.seq};
        } else {
            wanted = false;
            for (size_t i = 0; i < *nkicks && !wanted; i++)
                wanted = kicks[i].ident == r->thread_ident && kicks[i].seq == v.seq;
        }
        if (!wanted)
            continue;
        remaining++;
        atomic_store_explicit(&r->kick_seq, v.seq, memory_order_release);
        /* The word may be stale (its wait ended meanwhile): waking a word
           nobody sleeps on does nothing, and sleepers on a reused one
           treat it as a spurious wake-up. */
        gc_unpark(v.word);
    }
    gc_mutex_unlock(&all_lock);
    return remaining;
}

/* Sleep about ns (a signal may end it sooner), then run signal handlers. */
static int pause_briefly(int64_t ns)
{
    _Atomic uint32_t never_woken = 0;
    Py_BEGIN_ALLOW_THREADS
    gc_park(&never_woken, 0, gc_real_now_ns() + ns);
    Py_END_ALLOW_THREADS
    return PyErr_CheckSignals();
}
#endif

/* _end_deadlocked_waits(idents) -> how many waits it ended (0: the program
   is not deadlocked, or the main thread never raised Deadlock). */
static PyObject *module_end_deadlocked_waits(PyObject *module, PyObject *idents)
{
    pyg_state *st = PyModule_GetState(module);
    if (!PyTuple_Check(idents)) {
        PyErr_SetString(PyExc_TypeError, "_end_deadlocked_waits() needs a tuple of idents");
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    (void)st;
    return PyLong_FromLong(0); /* the detector is off: never guess */
#else
    Py_ssize_t n = PyTuple_GET_SIZE(idents);
    if (!st->deadlock_raised || !st->deadlock_detection || n == 0)
        return PyLong_FromLong(0);
    unsigned long *wanted = PyMem_Malloc((size_t)n * sizeof(unsigned long));
    kicked_wait *kicks = PyMem_Malloc((size_t)n * sizeof(kicked_wait));
    if (!wanted || !kicks) {
        PyMem_Free(wanted);
        PyMem_Free(kicks);
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        wanted[i] = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(idents, i));
        if (wanted[i] == (unsigned long)-1 && PyErr_Occurred())
            goto done;
    }
    /* Still deadlocked, and unchanged for the grace period?  (The calling
       thread, exiting, is not parked and does not count.) */
    pyg_deadlock_watch watch = {0, 0};
    for (;;) {
        bool stuck;
        uint64_t changes;
        if (all_parked_for_good(st, true, &stuck, &changes) < 0)
            goto done;
        if (!stuck) {
            result = PyLong_FromLong(0);
            goto done;
        }
        int64_t now = gc_real_now_ns();
        if (watch.quiet_since_ns == 0 || changes != watch.quiet_changes) {
            watch.quiet_since_ns = now;
            watch.quiet_changes = changes;
        } else if (now - watch.quiet_since_ns >= st->deadlock_grace_ns) {
            break;
        }
        if (pause_briefly(10 * 1000 * 1000) < 0)
            goto done;
    }
    size_t nkicks = 0;
    kick(st, wanted, n, kicks, &nkicks, true);
    while (kick(st, wanted, n, kicks, &nkicks, false) > 0)
        if (pause_briefly(1000 * 1000) < 0)
            goto done;
    result = PyLong_FromSize_t(nkicks);
done:
    PyMem_Free(wanted);
    PyMem_Free(kicks);
    return result;
#endif
}

static PyObject *module_set_deadlock_detection(PyObject *module, PyObject *const *args,
                                               Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_set_deadlock_detection(enabled, grace)");
        return NULL;
    }
    int enabled = PyObject_IsTrue(args[0]);
    if (enabled < 0)
        return NULL;
    double grace;
    if (pyg_parse_seconds(args[1], "grace", true, &grace) < 0)
        return NULL;
    st->deadlock_detection = enabled;
    st->deadlock_grace_ns = grace > 1e9 ? INT64_MAX / 2 : (int64_t)(grace * 1e9);
    Py_RETURN_NONE;
}

static PyObject *module_deadlock_detection(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    pyg_state *st = PyModule_GetState(module);
    return Py_BuildValue("(Od)", st->deadlock_detection ? Py_True : Py_False,
                         (double)st->deadlock_grace_ns / 1e9);
}

/* _set_deadlock_ignored(idents): threads that never wake a wait, by the
   idents of running threads; each is remembered as its thread state's
   unique id (see is_ignored), an ident no thread has right now is
   dropped.  The caller checks, after this, that the threads are still
   alive: then these thread states are theirs. */
static PyObject *module_set_deadlock_ignored(PyObject *module, PyObject *idents)
{
    pyg_state *st = PyModule_GetState(module);
    if (!PyTuple_Check(idents)) {
        PyErr_SetString(PyExc_TypeError, "_set_deadlock_ignored() needs a tuple of idents");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(idents);
    unsigned long *wanted = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(unsigned long));
    if (!wanted)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ident = PyTuple_GET_ITEM(idents, i);
        if (PyLong_Check(ident))
            wanted[i] = PyLong_AsUnsignedLong(ident);
        if (!PyLong_Check(ident) || (wanted[i] == (unsigned long)-1 && PyErr_Occurred())) {
            PyErr_Clear();
            PyMem_Free(wanted);
            PyErr_SetString(PyExc_TypeError, "thread idents must be ints");
            return NULL;
        }
    }
    PyObject *ids = PyList_New(0);
#ifndef Py_GIL_DISABLED
    /* (without a GIL the detector is off, and nothing is remembered) */
    PyInterpreterState *interp = PyThreadState_GetInterpreter(PyThreadState_Get());
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t && ids;
         t = PyThreadState_Next(t)) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (wanted[i] != t->thread_id)
                continue;
            PyObject *id = PyLong_FromUnsignedLongLong(
                (unsigned long long)PyThreadState_GetID(t));
            if (!id || PyList_Append(ids, id) < 0)
                Py_CLEAR(ids);
            Py_XDECREF(id);
            break;
        }
    }
#endif
    PyMem_Free(wanted);
    if (!ids)
        return NULL;
    PyObject *tuple = PyList_AsTuple(ids);
    Py_DECREF(ids);
    if (!tuple)
        return NULL;
    Py_XSETREF(st->deadlock_ignored, tuple);
    Py_RETURN_NONE;
}

static PyObject *module_set_deadlock_reporter(PyObject *module, PyObject *fn)
{
    pyg_state *st = PyModule_GetState(module);
    Py_XSETREF(st->deadlock_reporter, Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* After fork() only the forking thread exists, and it was not waiting;
   a lock may have been held by a thread now gone. */
void pyg_blocked_after_fork(pyg_state *st)
{
    st->deadlock_raised = false; /* the child is a program of its own */
    gc_mutex_init(&all_lock);
    unsigned long self = PyThread_get_thread_ident();
    for (pyg_blocked *r = all_head, *next; r; r = next) {
        next = r->next;
        atomic_store(&r->parked, false);
        atomic_store(&r->seq, (atomic_load(&r->seq) | 1) + 1);
        if (r->thread_ident != self) {
            unlink_record(r);
            free(r);
        }
    }
}

static PyMethodDef blocked_functions[] = {
    {"_blocked", (PyCFunction)(void (*)(void))module_blocked, METH_FASTCALL,
     "_blocked(with_ctx=False): the parked waits, as (ident, op, objects, since, timed);\n"
     "with_ctx: (ident, op, objects, ctx, since, timed)."},
    {"_wakes_by_itself", module_wakes_by_itself, METH_O,
     "_wakes_by_itself(channel): a timer or a deadline will still send on or close it."},
    {"_set_deadlock_detection", (PyCFunction)(void (*)(void))module_set_deadlock_detection,
     METH_FASTCALL, "_set_deadlock_detection(enabled, grace)"},
    {"_deadlock_detection", module_deadlock_detection, METH_NOARGS,
     "_deadlock_detection() -> (enabled, grace)"},
    {"_set_deadlock_ignored", module_set_deadlock_ignored, METH_O,
     "_set_deadlock_ignored(idents): running threads that never wake a wait."},
    {"_end_deadlocked_waits", module_end_deadlocked_waits, METH_O,
     "_end_deadlocked_waits(idents): at exit, end the hopeless waits of these threads."},
    {"_set_deadlock_reporter", module_set_deadlock_reporter, METH_O,
     "Register the callable that builds a Deadlock message (or None)."},
    {NULL, NULL, 0, NULL}};

int pyg_blocked_init(PyObject *module, pyg_state *st)
{
    if (gc_tls_create(&st->blocked_key, free_record) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create a thread-local key");
        return -1;
    }
    st->blocked_key_ready = true;
    st->deadlock_detection = true;
    st->deadlock_grace_ns = 1000 * 1000 * 1000;
    st->deadlock = PyErr_NewExceptionWithDoc(
        "pygochan.Deadlock",
        "Every thread is blocked in pygochan and nothing can wake any of them\n"
        "(Go's \"all goroutines are asleep - deadlock!\"); raised in the main\n"
        "thread's wait.  See set_deadlock_detection().",
        PyExc_RuntimeError, NULL);
    if (!st->deadlock || PyModule_AddObject(module, "Deadlock", Py_NewRef(st->deadlock)) < 0)
        return -1;
    return PyModule_AddFunctions(module, blocked_functions);
}

void pyg_blocked_free(pyg_state *st)
{
    if (!st->blocked_key_ready)
        return;
    st->blocked_key_ready = false;
    /* Orphan this module's records: a thread still parked (a daemon at
       exit) may unpark later and must find its record alive. */
    gc_mutex_lock(&all_lock);
    for (pyg_blocked *r = all_head; r; r = r->next)
        if (r->st == st)
            r->st = NULL;
    gc_mutex_unlock(&all_lock);
    gc_tls_delete(st->blocked_key);
}

/* Blocking with the GIL released, timeouts, signals and argument parsing:
   the common rules every blocking call of pygochan follows. */
#include "op/thread.h"
#include "channel.h"
#include "select.h"
#include "debug/blocked.h"
#include "deferred.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gc_bubble.h"
#include "gc_park.h"

/* How long the main thread sleeps at most before it runs signal handlers,
   so that Ctrl-C is answered within this even when SIGINT was delivered to
   another thread (and so did not interrupt the main thread's sleep).
   The same PyErr_CheckSignals() call runs a pending PEP 768 remote script
   on CPython 3.14+ (sys.remote_exec targets the main thread, and CPython
   runs it from there as well as from the eval loop): this wake-up is what
   lets `python -m pygochan ps` reach a program whose main thread is parked
   in pygochan (tests/debug/test_ps.py). */
#define MAIN_THREAD_SLICE_NS (50 * 1000 * 1000)





void pyg_raise_bubble_deadlock(pyg_state *st, struct gc_bubble *bubble, const char *op,
                               PyObject *const *objects, Py_ssize_t nobjects)
{
    char *report = gc_bubble_deadlock_report(bubble);
    PyObject *message = PyUnicode_FromFormat(
        "%s\nThis thread waits in %s", report ? report : "all threads in the bubble are blocked - deadlock!",
        op);
    free(report);
    for (Py_ssize_t i = 0; message && i < nobjects; i++) {
        PyObject *line = PyUnicode_FromFormat("%U%s %R", message, i == 0 ? " on" : ",",
                                              objects[i]);
        Py_SETREF(message, line);
    }
    if (!message)
        return;
    PyErr_SetObject(st->deadlock, message);
    Py_DECREF(message);
}

enum gc_status pyg_wait_with(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                             gc_select_result *res, const pyg_wait_how *how)
{
    const char *op = how->op;
    bool on_main = PyThread_get_thread_ident() == st->main_thread_ident;
    int64_t slice_ns = on_main ? MAIN_THREAD_SLICE_NS : 0;
    if (how->on_slice && how->slice_ns > 0 && (slice_ns == 0 || how->slice_ns < slice_ns))
        slice_ns = how->slice_ns;
    pyg_drain_deferred(st);
    /* A Ctrl-C that arrived while this thread was busy (say, draining a
       channel from C code, where no bytecode boundary runs handlers) is
       answered before sleeping: a stream of short waits must not hide it. */
    if (on_main && PyErr_CheckSignals() < 0)
        return GC_INTERRUPTED;
    pyg_blocked *rec = pyg_blocked_self(st);
    bool timed = deadline_ns != GC_FOREVER;
    uint64_t parked_seq = 0;
    sel->stop_word = NULL;
    if (rec) {
        parked_seq = pyg_blocked_park(rec, op, how->objects, how->nobjects, how->ctx,
                                      timed, &sel->waiter.state);
        /* the exit hook may end this wait (pyg_blocked.kick_seq) */
        sel->stop_word = &rec->kick_seq;
        sel->stop_value = parked_seq;
    }
    /* In a testing bubble the deadline is on its virtual clock: the real
       sleep has none, and the bubble ends it when its clock gets there
       (or when nothing can ever end it), through the stop word. */
    gc_bubble_member *bubbled = GC_UNLIKELY(gc_bubble_tls != NULL) ? gc_bubble_self() : NULL;
    int64_t real_deadline_ns = deadline_ns;
    if (bubbled) {
        /* gc_select_wait parks it with the bubble once its cases are
           queued (and this unparks it after every return). */
        sel->bubble = bubbled;
        sel->bubble_op = op;
        sel->bubble_deadline = deadline_ns;
        real_deadline_ns = GC_FOREVER;
        if (!rec) {
            sel->stop_word = gc_bubble_stop_word(bubbled);
            sel->stop_value = atomic_load(sel->stop_word) + 1;
        }
    }
    pyg_deadlock_watch watch = {0, 0};
    for (;;) {
        enum gc_status status;
        bool kicked = false;
        enum gc_bubble_wake bubble_woke = GC_BUBBLE_NOT_WOKEN;
        if (how->on_slice && how->on_slice(how->on_slice_arg) < 0) {
            if (rec)
                pyg_blocked_unpark(rec);
            return GC_INTERRUPTED;
        }
        Py_BEGIN_ALLOW_THREADS
        status = gc_select_wait(sel, real_deadline_ns, slice_ns, res);
        if (bubbled)
            bubble_woke = gc_bubble_unpark(bubbled);
        kicked = status == GC_INTERRUPTED && rec &&
                 atomic_load_explicit(&rec->kick_seq, memory_order_acquire) == parked_seq;
        /* Woken: unpark before queueing for the GIL, so that a thread about
           to run is never counted as parked. */
        if ((status != GC_INTERRUPTED || kicked || bubble_woke) && rec)
            pyg_blocked_unpark(rec);
        Py_END_ALLOW_THREADS
        if (status != GC_INTERRUPTED)
            return status;
        if (bubble_woke == GC_BUBBLE_TIMEOUT)
            return GC_TIMEOUT;
        if (bubble_woke == GC_BUBBLE_DEADLOCK) {
            pyg_raise_bubble_deadlock(st, gc_bubble_of(bubbled), op, how->objects,
                                      how->nobjects);
            return GC_INTERRUPTED;
        }
        if (kicked) {
            /* The program is exiting, deadlocked (see debug/blocked.c): this
               wait, which had no effect, ends so that its thread can. */
            PyErr_Format(st->deadlock,
                         "all threads are asleep - deadlock! The main thread has "
                         "ended and nothing can complete this %s: it ends so "
                         "that the program can exit.", op);
            return GC_INTERRUPTED;
        }
        /* Nothing happened yet; the wait is unregistered.  Let the signal
           handlers run: one that raises (KeyboardInterrupt) ends the call
           with no effect, otherwise wait again. */
        int deadlocked = 0;
        PyObject *message = NULL;
        if (PyErr_CheckSignals() < 0 ||
            (on_main && !timed && rec && !bubbled &&
             (deadlocked = pyg_deadlock_check(st, &watch, &message)) < 0)) {
            if (rec)
                pyg_blocked_unpark(rec);
            return GC_INTERRUPTED;
        }
        if (deadlocked) {
            /* The reporter ran Python code, and whatever ran with it may
               have completed this very wait (a pending call that closed the
               channel): try it once more before giving up. */
            status = gc_select_try(sel, res);
            pyg_blocked_unpark(rec);
            if (status != GC_NOT_READY) {
                Py_DECREF(message);
                return status;
            }
            PyErr_SetObject(st->deadlock, message);
            Py_DECREF(message);
            st->deadlock_raised = true;
            return GC_INTERRUPTED;
        }
    }
}

enum gc_status pyg_wait_for(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                            gc_select_result *res, const char *op,
                            PyObject *const *objects, Py_ssize_t nobjects)
{
    pyg_wait_how how = {op, objects, nobjects, NULL, NULL, 0, NULL};
    return pyg_wait_with(st, sel, deadline_ns, res, &how);
}

enum gc_status pyg_wait(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                        gc_select_result *res)
{
    return pyg_wait_for(st, sel, deadline_ns, res, "wait", NULL, 0);
}

void pyg_give_back(gc_chan *chan, void *value)
{
    if (gc_chan_give_back(chan, value) == GC_OK)
        return;
    /* Out of memory for one more buffer slot: the value cannot go back.
       Release its reference; the exception already set propagates. */
    if (!gc_is_timer_value(value))
        Py_XDECREF((PyObject *)value); /* (X: gcc -O3 cannot tell it is set) */
}

PyObject *pyg_recv_result(pyg_state *st, gc_chan *chan, void *value,
                          enum pyg_recv_form form, int index)
{
    PyObject *obj = pyg_value_out(value); /* an object: the channel's reference */
    if (!obj) {
        pyg_give_back(chan, value);
        return NULL;
    }
    /* A reference of our own until the check: if the receive is undone, it
       is the one that goes back to the channel with the value. */
    Py_INCREF(obj);
    PyObject *result;
    switch (form) {
    case PYG_RECV_VALUE:
        result = obj;
        break;
    case PYG_RECV_PAIR:
        result = PyTuple_New(2);
        if (result) {
            PyTuple_SET_ITEM(result, 0, obj);
            PyTuple_SET_ITEM(result, 1, Py_NewRef(Py_True));
        } else {
            Py_DECREF(obj);
        }
        break;
    default:
        result = pyg_select_result(st, index, obj, true); /* takes obj over */
        break;
    }
    if (result && PyErr_CheckSignals() == 0) {
        Py_DECREF(obj);
        return result;
    }
    /* Releasing the result runs no code of the program's: obj, which it
       holds, stays alive through our reference. */
    Py_XDECREF(result);
    if (gc_is_timer_value(value))
        Py_DECREF(obj); /* the float; the timer value carries no reference */
    pyg_give_back(chan, value);
    return NULL;
}

void pyg_raise_status(pyg_state *st, enum gc_status status, const char *op)
{
    switch (status) {
    case GC_CLOSED: /* Go's wording: "send on closed channel", "close of closed channel" */
        PyErr_Format(st->channel_closed, "%s %s closed channel", op,
                     strcmp(op, "close") == 0 ? "of" : "on");
        break;
    case GC_TIMEOUT:
    case GC_NOT_READY:
        PyErr_Format(PyExc_TimeoutError, "%s timed out", op);
        break;
    case GC_NOMEM:
        PyErr_NoMemory();
        break;
    default:
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_SystemError, "%s: unexpected status %d", op,
                         (int)status);
    }
}

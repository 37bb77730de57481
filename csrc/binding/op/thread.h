/* The thread driver of operations: waiting with the GIL released, and
   what every receive and every failed operation ends with. */
#ifndef PYG_OP_THREAD_H
#define PYG_OP_THREAD_H

#include "state.h"

/* What a receive returns: the value, (value, True), or
   SelectResult(index, value, True). */
enum pyg_recv_form { PYG_RECV_VALUE, PYG_RECV_PAIR, PYG_RECV_SELECT };

/* How a thread waits, beyond its select and deadline: what blocked()
   shows (op, and objects: borrowed, alive during the call), and, if
   on_slice is set, Python code to run while it waits: on_slice(arg) is
   called with the GIL held before the wait first sleeps and then at least
   every slice_ns while it sleeps (> 0), the wait staying recorded as
   parked meanwhile (so it must not wait itself); 0 to go on waiting, -1
   with an exception set to end the wait with no effect.  ctx: the
   Context passed as ctx= (borrowed, alive during the call) or NULL; not
   shown by blocked(), recorded for pygochan.testing.leaked(). */
typedef struct {
    const char *op;
    PyObject *const *objects;
    Py_ssize_t nobjects;
    int (*on_slice)(void *arg);
    void *on_slice_arg;
    int64_t slice_ns;
    PyObject *ctx;
} pyg_wait_how;

/* Finish a select whose gc_select_try found nothing ready: block with the
   GIL released until it commits, times out or a signal handler raises.
   Every blocking wait of the binding comes here: it records the thread
   for blocked() and the deadlock detector (debug/blocked.c), and on the main
   thread runs signal handlers and the deadlock check between slices.
   Returns the core status; on GC_INTERRUPTED a Python exception is set
   (on the main thread that may be Deadlock, and on any thread when the
   exit of a deadlocked program ends the wait).  pyg_wait_for is
   pyg_wait_with with no on_slice; pyg_wait is pyg_wait_for with op "wait"
   and no objects. */
enum gc_status pyg_wait_with(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                             gc_select_result *res, const pyg_wait_how *how);
enum gc_status pyg_wait_for(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                            gc_select_result *res, const char *op,
                            PyObject *const *objects, Py_ssize_t nobjects);
/* Raise Deadlock for a wait (op, on objects) that a testing bubble ended
   because nothing could ever complete it: the bubble's report of who waits
   on what, and this wait's objects. */
struct gc_bubble;
void pyg_raise_bubble_deadlock(pyg_state *st, struct gc_bubble *bubble, const char *op,
                               PyObject *const *objects, Py_ssize_t nobjects);

enum gc_status pyg_wait(pyg_state *st, gc_select *sel, int64_t deadline_ns,
                        gc_select_result *res);

/* The return value of a receive that committed value (the core's pointer,
   not yet a Python object; its reference is the caller's) from chan, case
   index of a select.  The result is built in full first, then the signal
   handlers pending on the main thread run: if one raises, or building
   failed, the receive is undone (the value goes back to the head of chan)
   and NULL is returned with the exception set, so the call had no effect.
   Without the check the interpreter would run the same handler right after
   the call returned and drop the value.  Building first leaves as the only
   window the few instructions between this check and the interpreter's:
   an allocation after the check (which may run a collection, even
   finalizers) would widen it many times.  Every receive form ends here. */
PyObject *pyg_recv_result(pyg_state *st, gc_chan *chan, void *value,
                          enum pyg_recv_form form, int index);

/* Undo a committed receive whose result could not be built: the value
   goes back to the head of chan.  Call with the exception set. */
void pyg_give_back(gc_chan *chan, void *value);

/* Set the exception for a status other than GC_OK / GC_INTERRUPTED. */
void pyg_raise_status(pyg_state *st, enum gc_status status, const char *op);

#endif

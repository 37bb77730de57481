/* Starting a thread together with the books kept for it.
 *
 * WaitGroup.go, ErrGroup.go/try_go and a Pool's new workers count a thread
 * (a WaitGroup counter, an ErrGroup slot, a pool's worker count, the set of
 * live workers) before it runs, and the thread gives the count back when
 * it ends.  A signal handler runs wherever the interpreter checks for
 * signals: right after any call returns into Python code, or inside
 * threading's own Python code.  Done in Python, the steps "take the count",
 * "start the thread" and "give it back if start() raised" had such points
 * between them, and a KeyboardInterrupt landing there left a count that no
 * thread would ever give back (wait() hung forever).
 *
 * Here the whole sequence is one C call.  Only the Python code it calls
 * (threading.Thread(...), Thread.start()) can raise, and each such failure
 * is followed, in C, by the undo.  Thread.start() can raise after the new
 * thread exists (Ctrl-C lands in its wait for the thread to begin): then
 * the starter and the thread race to claim the runner, and only the winner
 * acts.  The thread, winning, runs its target and gives the count back when
 * it ends; the starter, winning, gives it back at once and the thread
 * returns having run nothing.  Either way the books agree with the threads.
 */
#include "threads.h"
#include "args.h"
#include "channel.h"
#include "waitgroup.h"

#include "gc_wg.h"

#include <signal.h>

typedef struct {
    PyObject_HEAD
    atomic_int claimed; /* set by the first of the thread and the undo */
    PyObject *target;   /* target(*args) runs on the new thread */
    PyObject *args;
    PyObject *wg;       /* a WaitGroup counting the thread, or NULL */
    PyObject *slots;    /* a Channel holding a value for the thread, or NULL */
    PyObject *threads;  /* a set holding the thread while it lives, or NULL */
    PyObject *thread;   /* the Thread, until its books are settled */
} pyg_runner;

static void give_back_slot(PyObject *slots)
{
    void *slot;
    bool ok;
    if (gc_chan_try_recv(((pyg_channel *)slots)->chan, &slot, &ok) == GC_OK && slot)
        Py_DECREF((PyObject *)slot);
}

/* Give back what books counts (thread: the one to leave books->threads,
   or NULL); keeps a pending exception. */
static void settle_books(const pyg_thread_books *books, PyObject *thread)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (books->slots)
        give_back_slot(books->slots);
    if (books->wg)
        (void)pyg_wait_group_add(books->wg, -1);
    if (books->threads && thread && PySet_Discard(books->threads, thread) < 0)
        PyErr_WriteUnraisable(books->threads);
    PyErr_Restore(type, value, tb);
}

/* Give back what was counted for the thread and drop the references.
   Called once, by whoever claimed; keeps a pending exception. */
static void settle(pyg_runner *self)
{
    pyg_thread_books books = {
        .wg = self->wg, .slots = self->slots, .threads = self->threads};
    settle_books(&books, self->thread);
    Py_CLEAR(self->target);
    Py_CLEAR(self->args);
    Py_CLEAR(self->wg);
    Py_CLEAR(self->slots);
    Py_CLEAR(self->threads);
    Py_CLEAR(self->thread);
}

static bool claim(pyg_runner *self)
{
    return atomic_exchange(&self->claimed, 1) == 0;
}

/* The thread's target: run, unless the starter took the books back. */
static PyObject *runner_call(pyg_runner *self, PyObject *args, PyObject *kwargs)
{
    if ((args && PyTuple_GET_SIZE(args)) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "a thread runner takes no arguments");
        return NULL;
    }
    if (!claim(self))
        Py_RETURN_NONE;
    PyObject *r = PyObject_Call(self->target, self->args, NULL);
    settle(self);
    return r;
}

static int runner_traverse(pyg_runner *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->target);
    Py_VISIT(self->args);
    Py_VISIT(self->wg);
    Py_VISIT(self->slots);
    Py_VISIT(self->threads);
    Py_VISIT(self->thread);
    return 0;
}

static int runner_clear(pyg_runner *self)
{
    Py_CLEAR(self->target);
    Py_CLEAR(self->args);
    Py_CLEAR(self->wg);
    Py_CLEAR(self->slots);
    Py_CLEAR(self->threads);
    Py_CLEAR(self->thread);
    return 0;
}

static void runner_dealloc(pyg_runner *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    runner_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot runner_slots[] = {
    {Py_tp_doc, (void *)"What a thread started with its books runs."},
    {Py_tp_call, runner_call},
    {Py_tp_dealloc, runner_dealloc},
    {Py_tp_traverse, runner_traverse},
    {Py_tp_clear, runner_clear},
    {0, NULL}};

static PyType_Spec runner_spec = {
    .name = "pygochan._core._ThreadRunner",
    .basicsize = sizeof(pyg_runner),
    .flags = PYG_INTERNAL_GC_TYPE_FLAGS,
    .slots = runner_slots,
};

/* ---- SIGINT held off while threading starts a thread ---------------------

   threading's own Python code is not safe against a KeyboardInterrupt: one
   landing in Thread.start()'s wait for the thread to begin (inside
   Condition.wait, or right after Condition.__enter__ took its lock) leaves
   the Event's lock released or taken for good: start() raises
   "RuntimeError: release unlocked lock", or the new thread blocks forever
   setting its started flag.  So while the main thread starts a thread,
   SIGINT's Python handler is replaced by one that only notes the signal;
   when the start is over the original is put back and, if a SIGINT came,
   the signal is raised again, for the original handler to run at the next
   check: after the call that started the thread returned. */

static PyObject *note_sigint(PyObject *module, PyObject *Py_UNUSED(args))
{
    pyg_state *st = PyModule_GetState(module);
    atomic_store(&st->sigint_held_off, 1);
    Py_RETURN_NONE;
}

static PyMethodDef note_sigint_def = {
    "_note_sigint", note_sigint, METH_VARARGS,
    "SIGINT's handler while a thread starts: the signal is raised again after."};

/* Nothing swapped when this is not the main thread, SIGINT has no Python
   handler, or it is already held off.  -1 with an exception set (a signal
   handler that ran first raised): nothing swapped. */
int pyg_hold_off_sigint(pyg_state *st, pyg_held_sigint *held, bool must_run)
{
    held->signal_module = held->handler = held->raised = NULL;
    if (PyThread_get_thread_ident() != atomic_load(&st->main_thread_ident) ||
        !st->sigint_noter)
        return 0;
    PyObject *signal_module = PyImport_ImportModule("_signal") /* C: no Python code runs */;
    if (!signal_module)
        return -1;
    PyObject *old = PyObject_CallMethod(signal_module, "getsignal", "i", SIGINT);
    if (!old) {
        Py_DECREF(signal_module);
        return -1;
    }
    if (!PyCallable_Check(old) || old == st->sigint_noter) {
        Py_DECREF(old);
        Py_DECREF(signal_module);
        return 0;
    }
    atomic_store(&st->sigint_held_off, 0);
    for (int attempt = 0;; attempt++) {
        PyObject *r = PyObject_CallMethod(signal_module, "signal", "iO", SIGINT,
                                          st->sigint_noter);
        if (r) {
            Py_DECREF(r);
            held->signal_module = signal_module;
            held->handler = old;
            return 0;
        }
        /* signals cannot be handled here (a subinterpreter), or a pending
           signal's handler raised (signal() runs them first) */
        bool cannot = PyErr_ExceptionMatches(PyExc_ValueError);
        if (cannot || !must_run) {
            Py_DECREF(old);
            Py_DECREF(signal_module);
            if (!cannot)
                return -1;
            PyErr_Clear();
            return 0;
        }
        /* the caller's code runs all the same; the exception is raised
           after it, by pyg_let_sigint_in */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (value && tb)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        if (!held->raised)
            held->raised = value;
        else
            Py_XDECREF(value);
        if (attempt == 100) { /* a storm of handlers that raise: give up */
            Py_DECREF(old);
            Py_DECREF(signal_module);
            return 0;
        }
    }
}

/* Put the handler back (unless another was set meanwhile) and raise again
   a SIGINT that came meanwhile; keeps a pending exception (else raises one
   held->raised kept). */
void pyg_let_sigint_in(pyg_state *st, pyg_held_sigint *held)
{
    if (held->raised) {
        if (!PyErr_Occurred())
            PyErr_SetObject((PyObject *)Py_TYPE(held->raised), held->raised);
        Py_CLEAR(held->raised);
    }
    if (!held->handler)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    /* Code that ran meanwhile (a pending call, another signal's handler)
       may have set a handler of its own: that one stays. */
    PyObject *now = PyObject_CallMethod(held->signal_module, "getsignal", "i", SIGINT);
    if (now == st->sigint_noter) {
        PyObject *r = PyObject_CallMethod(held->signal_module, "signal", "iO", SIGINT,
                                          held->handler);
        if (r)
            Py_DECREF(r);
        else
            PyErr_WriteUnraisable(held->handler);
    } else if (!now) {
        PyErr_WriteUnraisable(held->handler);
    }
    Py_XDECREF(now);
    if (atomic_exchange(&st->sigint_held_off, 0)) {
#if PY_VERSION_HEX >= 0x030A0000
        (void)PyErr_SetInterruptEx(SIGINT);
#else
        PyErr_SetInterrupt();
#endif
    }
    Py_CLEAR(held->handler);
    Py_CLEAR(held->signal_module);
    PyErr_Restore(type, value, tb);
}

int pyg_start_thread(pyg_state *st, const pyg_thread_books *books,
                     PyObject *target, PyObject *args, PyObject *name,
                     PyObject *daemon, PyObject **thread_out)
{
    if (thread_out)
        *thread_out = NULL;
    pyg_runner *runner = PyObject_GC_New(pyg_runner, st->thread_runner_type);
    if (!runner) {
        settle_books(books, NULL);
        if (books->undo)
            books->undo(books->undo_arg);
        return -1;
    }
    atomic_init(&runner->claimed, 0);
    runner->target = Py_NewRef(target);
    runner->args = Py_NewRef(args);
    runner->wg = books->wg ? Py_NewRef(books->wg) : NULL;
    runner->slots = books->slots ? Py_NewRef(books->slots) : NULL;
    runner->threads = books->threads ? Py_NewRef(books->threads) : NULL;
    runner->thread = NULL;
    PyObject_GC_Track(runner);

    PyObject *thread = NULL, *threading = NULL, *kwargs = NULL;
    int started = -1;
    pyg_held_sigint held;
    if (pyg_hold_off_sigint(st, &held, false) < 0)
        goto undo;
    if (!(threading = PyImport_ImportModule("threading")) ||
        !(kwargs = Py_BuildValue("{sOsOsO}", "target", runner, "name", name,
                                 "daemon", daemon)))
        goto undo;
    PyObject *thread_type = PyObject_GetAttrString(threading, "Thread");
    if (!thread_type)
        goto undo;
    PyObject *no_args = PyTuple_New(0);
    if (no_args)
        thread = PyObject_Call(thread_type, no_args, kwargs);
    Py_XDECREF(no_args);
    Py_DECREF(thread_type);
    if (!thread)
        goto undo;
    runner->thread = Py_NewRef(thread);
    if (runner->threads && PySet_Add(runner->threads, thread) < 0)
        goto undo;
    PyObject *r = PyObject_CallMethod(thread, "start", NULL);
    if (r) {
        Py_DECREF(r);
        started = 0;
    } else if (!claim(runner)) {
        started = 1; /* the thread runs and settles; the exception stays */
    } else {
        settle(runner);
        goto fail;
    }
    pyg_let_sigint_in(st, &held);
    Py_DECREF(threading);
    Py_DECREF(kwargs);
    Py_DECREF(runner);
    if (thread_out)
        *thread_out = thread;
    else
        Py_DECREF(thread);
    return started;

undo:
    if (claim(runner))
        settle(runner);
fail:
    pyg_let_sigint_in(st, &held);
    if (books->undo)
        books->undo(books->undo_arg);
    Py_XDECREF(threading);
    Py_XDECREF(kwargs);
    Py_XDECREF(thread);
    Py_DECREF(runner);
    return -1;
}

/* Take a slot: send None to slots, waiting for room if block.  1: taken;
   0: none free (not block); -1: an exception (a Ctrl-C while waiting),
   nothing taken.  The channel's own send: it waits with the GIL released,
   answers Ctrl-C and, when it raises, has sent nothing. */
static int take_slot(PyObject *slots, int block)
{
    PyObject *r;
    if (block) {
        r = PyObject_CallMethod(slots, "send", "(O)", Py_None);
    } else {
        PyObject *send = PyObject_GetAttrString(slots, "send");
        PyObject *call_args = Py_BuildValue("(O)", Py_None);
        PyObject *call_kw = Py_BuildValue("{si}", "timeout", 0);
        r = send && call_args && call_kw ? PyObject_Call(send, call_args, call_kw)
                                         : NULL;
        Py_XDECREF(send);
        Py_XDECREF(call_args);
        Py_XDECREF(call_kw);
        if (!r && PyErr_ExceptionMatches(PyExc_TimeoutError)) {
            PyErr_Clear();
            return 0;
        }
    }
    if (!r)
        return -1;
    Py_DECREF(r);
    return 1;
}

/* _core._go(wg, target, name, daemon, slots=None, block=True) */
static PyObject *module_go(PyObject *module, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"slots", "block", NULL};
    pyg_state *st = PyModule_GetState(module);
    PyObject *argv[6];
    if (pyg_parse_args("_go", args, nargs, kwnames, 4, kwlist, argv) < 0)
        return NULL;
    PyObject *wg = argv[0], *target = argv[1], *name = argv[2], *daemon = argv[3];
    PyObject *slots = argv[4] == Py_None ? NULL : argv[4];
    int block = argv[5] ? PyObject_IsTrue(argv[5]) : 1;
    if (block < 0)
        return NULL;
    if (!PyObject_TypeCheck(wg, st->wait_group_type)) {
        PyErr_SetString(PyExc_TypeError, "_go() needs a WaitGroup");
        return NULL;
    }
    if (slots && !PyObject_TypeCheck(slots, st->channel_type)) {
        PyErr_SetString(PyExc_TypeError, "_go() slots must be a Channel");
        return NULL;
    }
    if (!PyCallable_Check(target)) {
        PyErr_SetString(PyExc_TypeError, "_go() needs a callable target");
        return NULL;
    }
    int taken = slots ? take_slot(slots, block) : 1;
    if (taken <= 0) {
        if (taken < 0)
            return NULL;
        Py_RETURN_NONE; /* no free slot */
    }
    PyObject *no_args = PyTuple_New(0);
    if (!no_args) {
        if (slots)
            give_back_slot(slots);
        return NULL;
    }
    /* From here on nothing runs Python code but the thread's start. */
    if (pyg_wait_group_add(wg, 1) != GC_OK) {
        if (slots)
            give_back_slot(slots);
        Py_DECREF(no_args);
        PyErr_SetString(PyExc_ValueError, "WaitGroup counter would be too large");
        return NULL;
    }
    pyg_thread_books books = {.wg = wg, .slots = slots};
    PyObject *thread;
    int started = pyg_start_thread(st, &books, target, no_args, name, daemon, &thread);
    Py_DECREF(no_args);
    if (started != 0) {
        Py_XDECREF(thread);
        return NULL; /* 1: the thread runs and counts, yet the call raises */
    }
    return thread;
}

/* _core._holding_sigint(fn, *args) */
PyObject *pyg_call_holding_sigint(pyg_state *st, bool must_run, PyObject *fn,
                                  PyObject *const *args, size_t nargs, bool *called)
{
    pyg_held_sigint held;
    if (called)
        *called = false;
    if (pyg_hold_off_sigint(st, &held, must_run) < 0)
        return NULL;
    if (called)
        *called = true;
    PyObject *r = PyObject_Vectorcall(fn, args, nargs, NULL);
    pyg_let_sigint_in(st, &held);
    if (r && PyErr_Occurred()) /* what a pending handler raised before fn ran */
        Py_CLEAR(r);
    return r;
}

static PyObject *module_holding_sigint(PyObject *module, PyObject *const *args,
                                       Py_ssize_t nargs)
{
    if (nargs < 1 || !PyCallable_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "_holding_sigint() needs a callable");
        return NULL;
    }
    return pyg_call_holding_sigint(PyModule_GetState(module), true, args[0], args + 1,
                                   (size_t)(nargs - 1), NULL);
}

/* _core._with_slot(slots, block, fn, *args) */
static PyObject *module_with_slot(PyObject *module, PyObject *const *args,
                                  Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs < 3 || !PyObject_TypeCheck(args[0], st->channel_type) ||
        !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "_with_slot(slots: Channel, block, fn, *args)");
        return NULL;
    }
    int block = PyObject_IsTrue(args[1]);
    if (block < 0)
        return NULL;
    int taken = take_slot(args[0], block);
    if (taken <= 0) {
        if (taken < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    /* No Python code ran since the slot was taken: fn owns it from here. */
    bool called;
    PyObject *r = pyg_call_holding_sigint(st, true, args[2], args + 3,
                                          (size_t)(nargs - 3), &called);
    if (!called) /* (no memory, no _signal) */
        give_back_slot(args[0]);
    return r;
}

static PyMethodDef start_functions[] = {
    {"_holding_sigint", (PyCFunction)(void (*)(void))module_holding_sigint,
     METH_FASTCALL,
     "_holding_sigint(fn, *args)\n--\n\n"
     "Call fn(*args) with SIGINT held off on the main thread: a SIGINT that\n"
     "comes meanwhile is raised again once fn returned, for its handler to\n"
     "run right after this call.  For short bookkeeping that must not be\n"
     "interrupted halfway; fn must not block."},
    {"_with_slot", (PyCFunction)(void (*)(void))module_with_slot, METH_FASTCALL,
     "_with_slot(slots, block, fn, *args)\n--\n\n"
     "Take a slot from slots (waiting if block, else returning None when\n"
     "none is free), then call fn(*args), which owns the slot, with SIGINT\n"
     "held off: no Ctrl-C lands between the two."},
    {"_go", (PyCFunction)(void (*)(void))module_go, METH_FASTCALL | METH_KEYWORDS,
     "_go(wg, target, name, daemon, slots=None, block=True)\n--\n\n"
     "Take a slot from slots (waiting if block, else returning None when\n"
     "none is free), add one to wg and start threading.Thread(target=...,\n"
     "name=name, daemon=daemon); the thread gives both back when target()\n"
     "returns.  The books are taken back whenever the thread will not run,\n"
     "wherever a signal handler raises."},
    {NULL, NULL, 0, NULL}};

int pyg_start_init(PyObject *module, pyg_state *st)
{
    st->thread_runner_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &runner_spec, NULL);
    if (!st->thread_runner_type ||
        !(st->sigint_noter = PyCFunction_New(&note_sigint_def, module)))
        return -1;
    return PyModule_AddFunctions(module, start_functions);
}

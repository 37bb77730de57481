/* gc.Context: the Python face of gc_ctx, plus values (kept here: they are
   plain Python objects looked up through the parent chain). */
#include "context.h"
#include "args.h"
#include "channel.h"
#include "deferred.h"
#include "threads.h"
#include "op/loop.h"
#include "op/op.h"

#include "gc_bubble.h"

#include "platform/gc_platform.h"

#include "structmember.h"

static pyg_state *state_of(PyObject *self)
{
    return pyg_state_of_type(Py_TYPE(self));
}

/* ---- value hooks: causes and after-func items are Python objects ------- */

static void retain_object(void *o)
{
    /* called from Python code, attached: a cancel's cause, a deadline
       cause when its context is made; a deadline firing on the timer
       thread retains nothing */
    Py_INCREF((PyObject *)o);
}

/* ---- the type ------------------------------------------------------------ */

static PyObject *new_context(pyg_state *st, PyObject *parent, gc_ctx *ctx,
                             PyObject *key, PyObject *value)
{
    /* ctx: a reference this function takes over (or NULL) */
    PyTypeObject *type = st->context_type;
    pyg_context *self = (pyg_context *)type->tp_alloc(type, 0);
    if (!self) {
        if (ctx)
            gc_ctx_release(ctx);
        return NULL;
    }
    self->ctx = ctx;
    self->holds_values = ctx && (!parent || ((pyg_context *)parent)->ctx != ctx);
    self->parent = parent ? Py_NewRef(parent) : NULL;
    self->key = key ? Py_NewRef(key) : NULL;
    self->value = value ? Py_NewRef(value) : NULL;
    return (PyObject *)self;
}

static int context_traverse(pyg_context *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->parent);
    Py_VISIT(self->key);
    Py_VISIT(self->value);
    Py_VISIT(self->done);
    if (self->holds_values) {
        /* the causes and pending after-func callables are references the C
           context holds; a cause's traceback or a closure often leads back
           here */
        pyg_visit_adapter a = {visit, arg};
        return gc_ctx_visit_values(self->ctx, pyg_visit_value, &a);
    }
    return 0;
}

static void clear_fields(pyg_context *self)
{
    Py_CLEAR(self->parent);
    Py_CLEAR(self->key);
    Py_CLEAR(self->value);
    Py_CLEAR(self->done);
}

static int context_clear(pyg_context *self)
{
    clear_fields(self);
    if (self->holds_values) {
        /* a cycle through a cause or an after-func: the context is
           garbage, its pending functions will never run */
        size_t n;
        void **values = gc_ctx_take_values(self->ctx, &n);
        for (size_t i = 0; i < n; i++)
            Py_DECREF((PyObject *)values[i]);
        free(values);
    }
    return 0;
}

static void context_dealloc(pyg_context *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    /* not context_clear: the C context may live on (a done channel, a
       child), and what it holds is released with it */
    clear_fields(self);
    if (self->ctx)
        gc_ctx_release(self->ctx);
    type->tp_free(self);
    Py_DECREF(type);
}

static int parent_arg(pyg_state *st, PyObject *parent)
{
    if (Py_IS_TYPE(parent, st->context_type))
        return 0;
    PyErr_Format(PyExc_TypeError,
                 "parent must be a Context (use background()), not %.200s",
                 Py_TYPE(parent)->tp_name);
    return -1;
}

static PyObject *context_done(pyg_context *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->ctx)
        Py_RETURN_NONE;
    /* Made once: two threads asking at once get the same channel. */
    PyObject *done;
    PYG_LOCK_OBJECT(self);
    if (!self->done)
        self->done = pyg_done_channel_new(state_of((PyObject *)self), self->ctx);
    done = self->done;
    Py_XINCREF(done);
    PYG_UNLOCK_OBJECT();
    return done;
}

static PyObject *context_err(pyg_context *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->ctx || gc_ctx_err(self->ctx) == GC_CTX_ALIVE)
        Py_RETURN_NONE;
    return pyg_ctx_error(state_of((PyObject *)self), self->ctx);
}

static PyObject *context_deadline(pyg_context *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->ctx || gc_ctx_deadline(self->ctx) == GC_FOREVER)
        Py_RETURN_NONE;
    return PyFloat_FromDouble((double)gc_ctx_deadline(self->ctx) / 1e9);
}

static PyObject *context_value(pyg_context *self, PyObject *key)
{
    for (pyg_context *c = self; c; c = (pyg_context *)c->parent) {
        if (!c->key)
            continue;
        int eq = PyObject_RichCompareBool(c->key, key, Py_EQ);
        if (eq < 0)
            return NULL;
        if (eq)
            return Py_NewRef(c->value);
    }
    Py_RETURN_NONE;
}

static PyObject *context_wait(pyg_context *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"timeout", "ctx", NULL};
    PyObject *argv[2];
    pyg_state *st = state_of((PyObject *)self);
    if (pyg_parse_args("wait", args, nargs, kwnames, 0, kwlist, argv) < 0)
        return NULL;
    /* Done already, also when a cancel on another thread is closing the
       done channel right now (gc_ctx_err waits for it). */
    bool done = self->ctx && gc_ctx_err(self->ctx) != GC_CTX_ALIVE;
    pyg_op op;
    if (pyg_op_closed(&op, st, self->ctx ? gc_ctx_done(self->ctx) : NULL, done,
                      "wait", NULL, (PyObject *)self, argv[0], argv[1]) < 0)
        return NULL;
    return pyg_op_run(&op);
}

static PyObject *context_adone(pyg_context *self, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"timeout", "ctx", NULL};
    PyObject *argv[2];
    pyg_state *st = state_of((PyObject *)self);
    if (pyg_parse_args("adone", args, nargs, kwnames, 0, kwlist, argv) < 0)
        return NULL;
    return pyg_awaitable_closed(st, (PyObject *)self,
                                self->ctx ? gc_ctx_done(self->ctx) : NULL,
                                false, "wait", NULL, argv[0], argv[1]);
}

/* Have the after_func runner thread running (it ends by itself once
   nothing is queued or pinned: see pygochan/_context.py).  -1 with an
   exception if starting it failed.  Starting it is threading's Python code,
   which a KeyboardInterrupt can leave with its locks in disorder: SIGINT is
   held off meanwhile.  must_run: what is queued already needs the runner,
   so a signal pending before the start is raised only after it. */
static int ensure_runner(pyg_state *st, bool must_run)
{
    pyg_mutex_lock(&st->after_func_lock);
    PyObject *runner = st->after_func_runner;
    Py_XINCREF(runner);
    pyg_mutex_unlock(&st->after_func_lock);
    if (!runner)
        return 0;
    PyObject *r = pyg_call_holding_sigint(st, must_run, runner, NULL, 0, NULL);
    Py_DECREF(runner);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static bool queue_empty(pyg_state *st)
{
    return gc_chan_len(((pyg_channel *)st->after_func_queue)->chan) == 0;
}

static PyObject *context_cancel(pyg_context *self, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    /* cancel(cause=None): the cause positionally or by keyword */
    PyObject *cause = nargs == 1 ? args[0] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 1 ||
        (nkw == 1 && PyUnicode_CompareWithASCIIString(
                         PyTuple_GET_ITEM(kwnames, 0), "cause") != 0)) {
        PyErr_SetString(PyExc_TypeError, "cancel() takes one optional argument, cause");
        return NULL;
    }
    if (nkw == 1)
        cause = args[nargs];
    if (cause == Py_None)
        cause = NULL;
    pyg_state *st = state_of((PyObject *)self);
    pyg_drain_deferred(st);
    /* The cancel may queue after-funcs (of this context or descendants):
       the runner runs them. */
    if (self->ctx && gc_ctx_cancel(self->ctx, GC_CTX_CANCELED, cause) &&
        !queue_empty(st) && ensure_runner(st, true) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* after_func's stop(): self is (context, id). */
static PyObject *after_stop(PyObject *pair, PyObject *Py_UNUSED(ignored))
{
    pyg_context *ctx = (pyg_context *)PyTuple_GET_ITEM(pair, 0);
    long long id = PyLong_AsLongLong(PyTuple_GET_ITEM(pair, 1));
    if (id <= 0 || !ctx->ctx)
        return PyBool_FromLong(id > 0); /* never-done contexts: never runs */
    void *item;
    bool stopped = gc_ctx_after_stop(ctx->ctx, id, &item);
    pyg_state *st = state_of((PyObject *)ctx);
    if (stopped && gc_ctx_deadline(ctx->ctx) != GC_FOREVER &&
        pyg_owner_pinned_count(st->owner) == 0) {
        /* That was a pinned context's, and the runner may be waiting for
           pinned contexts that are gone now: wake it (it ignores False) so
           that it can end.  after_func() made sure it runs, to drain this. */
        if (gc_chan_try_send(((pyg_channel *)st->after_func_queue)->chan,
                             Py_NewRef(Py_False)) != GC_OK)
            Py_DECREF(Py_False); /* out of memory: it waits on */
    }
    if (!stopped)
        Py_RETURN_FALSE;
    Py_DECREF((PyObject *)item);
    Py_RETURN_TRUE;
}

static PyMethodDef after_stop_def = {
    "stop", after_stop, METH_NOARGS,
    "stop()\n--\n\nUnregister the function: True if this prevented it "
    "from running."};

static PyObject *context_after_func(pyg_context *self, PyObject *fn)
{
    pyg_state *st = state_of((PyObject *)self);
    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "after_func() needs a callable, not %.200s",
                     Py_TYPE(fn)->tp_name);
        return NULL;
    }
    long long id = 1; /* never-done contexts: registered forever */
    pyg_drain_deferred(st);
    if (self->ctx) {
        Py_INCREF(fn); /* this reference travels to the runner */
        id = gc_ctx_after(self->ctx, fn,
                          ((pyg_channel *)st->after_func_queue)->chan);
        if (id < 0) {
            Py_DECREF(fn);
            return PyErr_NoMemory();
        }
        /* Queued at once, or pinned (a deadline will queue it from the
           timer thread): the runner must be there.  Otherwise only a
           cancel from Python can queue it, and that cancel starts it. */
        if ((id == 0 || gc_ctx_deadline(self->ctx) != GC_FOREVER) &&
            ensure_runner(st, false) < 0) {
            /* take a registration back; one queued at once stays there,
               for the next runner */
            void *item;
            if (id > 0 && gc_ctx_after_stop(self->ctx, id, &item))
                Py_DECREF((PyObject *)item);
            return NULL;
        }
    }
    PyObject *pair = Py_BuildValue("(OL)", self, id);
    if (!pair)
        return NULL;
    PyObject *stop = PyCFunction_New(&after_stop_def, pair);
    Py_DECREF(pair);
    return stop;
}

static PyObject *context_repr(pyg_context *self)
{
    const char *state = "never done";
    if (self->ctx) {
        int err = gc_ctx_err(self->ctx);
        state = err == GC_CTX_ALIVE      ? "active"
                : err == GC_CTX_CANCELED ? "canceled"
                                         : "deadline exceeded";
    }
    if (!self->parent)
        return PyUnicode_FromString("<pygochan.Context background>");
    if (self->ctx && gc_ctx_deadline(self->ctx) != GC_FOREVER) {
        double left = (double)(gc_ctx_deadline(self->ctx) - gc_now_ns()) / 1e9;
        PyObject *left_obj = PyFloat_FromDouble(left);
        if (!left_obj)
            return NULL;
        PyObject *r = PyUnicode_FromFormat("<pygochan.Context %s, deadline in %R s>",
                                           state, left_obj);
        Py_DECREF(left_obj);
        return r;
    }
    if (self->key)
        return PyUnicode_FromFormat("<pygochan.Context %s, value %R=%R>", state,
                                    self->key, self->value);
    return PyUnicode_FromFormat("<pygochan.Context %s>", state);
}

static PyObject *context_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError, "cannot pickle '%.200s' object",
                 Py_TYPE(self)->tp_name);
    return NULL;
}

static PyMethodDef context_methods[] = {
    {"adone", (PyCFunction)(void (*)(void))context_adone,
     METH_FASTCALL | METH_KEYWORDS,
     "adone($self, *, timeout=None, ctx=None)\n--\n\n"
     "Wait until the context is done, suspending the task; timeout= and\n"
     "ctx= bound the wait as for wait().\n\n"
     "    >>> await ctx.adone()             # then ctx.err() says why\n"},
    {"done", (PyCFunction)context_done, METH_NOARGS,
     "done($self)\n--\n\nA receive-only Channel closed when the context is done, or\n"
     "None if it can never be done.\n\n"
     "    >>> select(recv(jobs), recv(ctx.done()))\n"},
    {"err", (PyCFunction)context_err, METH_NOARGS,
     "err($self)\n--\n\nNone while active; then a Canceled or DeadlineExceeded.\n\n"
     "    >>> ctx, cancel = with_cancel(background()); cancel(); ctx.err()\n"
     "    Canceled('context canceled')\n"},
    {"deadline", (PyCFunction)context_deadline, METH_NOARGS,
     "deadline($self)\n--\n\nThe deadline on the time.monotonic() clock, or None.\n"},
    {"value", (PyCFunction)context_value, METH_O,
     "value($self, key)\n--\n\nThe value for key, looked up through the parents; None\n"
     "if absent.\n\n    >>> with_value(background(), 'user', 'ann').value('user')\n"
     "    'ann'\n"},
    {"wait", (PyCFunction)(void (*)(void))context_wait,
     METH_FASTCALL | METH_KEYWORDS,
     "wait($self, *, timeout=None, ctx=None)\n--\n\nBlock until the context is done.\n"
     "TimeoutError after timeout; the other ctx's error if it is done first.\n\n"
     "    >>> ctx, cancel = with_timeout(background(), 0.01); ctx.wait()\n"},
    {"after_func", (PyCFunction)context_after_func, METH_O,
     "after_func($self, fn)\n--\n\nRun fn() in its own thread once the context is done\n"
     "(at once if it is).  Returns stop(), True if it prevented fn from running.\n\n"
     "    >>> stop = ctx.after_func(lambda: print('done'))\n"},
    {"_cancel", (PyCFunction)(void (*)(void))context_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     "_cancel(cause=None): cancel, as the cancel function of with_cancel*()."},
    {"__reduce__", context_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMemberDef context_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_context, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyType_Slot context_slots[] = {
    {Py_tp_doc, (void *)"A Go context: cancellation, a deadline and values for a\n"
                        "tree of work.  Made by background(), with_cancel(),\n"
                        "with_timeout(), with_deadline(), with_value(), without_cancel()."},
    {Py_tp_dealloc, context_dealloc},
    {Py_tp_traverse, context_traverse},
    {Py_tp_clear, context_clear},
    {Py_tp_repr, context_repr},
    {Py_tp_methods, context_methods},
    {Py_tp_members, context_members},
    {0, NULL}};

static PyType_Spec context_spec = {
    .name = "pygochan.Context",
    .basicsize = sizeof(pyg_context),
    .flags = PYG_INTERNAL_GC_TYPE_FLAGS,
    .slots = context_slots,
};

/* ---- module functions -------------------------------------------------- */

static PyObject *module_background(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(((pyg_state *)PyModule_GetState(module))->background);
}

/* _new_context(parent, deadline, deadline_cause=None): a cancelable child;
   deadline is None or a time.monotonic() value. */
static PyObject *module_new_context(PyObject *module, PyObject *const *args,
                                    Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "_new_context(parent, deadline, deadline_cause=None)");
        return NULL;
    }
    if (parent_arg(st, args[0]) < 0)
        return NULL;
    int64_t deadline = GC_FOREVER;
    if (args[1] != Py_None) {
        if (PyBool_Check(args[1]) || !(PyLong_Check(args[1]) || PyFloat_Check(args[1]))) {
            PyErr_Format(PyExc_TypeError, "deadline must be a number, not %.200s",
                         Py_TYPE(args[1])->tp_name);
            return NULL;
        }
        double d = PyFloat_AsDouble(args[1]);
        if (d == -1.0 && PyErr_Occurred())
            return NULL;
        if (d != d) {
            PyErr_SetString(PyExc_ValueError, "deadline must not be NaN");
            return NULL;
        }
        deadline = d >= 9.0e9 ? GC_FOREVER : d <= 0 ? 0 : (int64_t)(d * 1e9);
    }
    pyg_drain_deferred(st);
    PyObject *deadline_cause = nargs == 3 && args[2] != Py_None ? args[2] : NULL;
    gc_ctx *parent_ctx = ((pyg_context *)args[0])->ctx;
    gc_ctx *ctx = gc_ctx_new_with_deadline_cause(parent_ctx, deadline, deadline_cause);
    if (!ctx)
        return PyErr_NoMemory();
    if (!parent_ctx)
        gc_ctx_set_owner(ctx, st->owner); /* a root: children inherit it */
    return new_context(st, args[0], ctx, NULL, NULL);
}

static PyObject *module_with_value(PyObject *module, PyObject *const *args,
                                   Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "with_value(parent, key, value)");
        return NULL;
    }
    if (parent_arg(st, args[0]) < 0)
        return NULL;
    gc_ctx *ctx = ((pyg_context *)args[0])->ctx;
    if (ctx)
        gc_ctx_retain(ctx);
    return new_context(st, args[0], ctx, args[1], args[2]);
}

static PyObject *module_without_cancel(PyObject *module, PyObject *parent)
{
    pyg_state *st = PyModule_GetState(module);
    if (parent_arg(st, parent) < 0)
        return NULL;
    return new_context(st, parent, NULL, NULL, NULL);
}

static PyObject *module_cause(PyObject *module, PyObject *ctx_obj)
{
    pyg_state *st = PyModule_GetState(module);
    if (parent_arg(st, ctx_obj) < 0)
        return NULL;
    gc_ctx *ctx = ((pyg_context *)ctx_obj)->ctx;
    if (!ctx || gc_ctx_err(ctx) == GC_CTX_ALIVE)
        Py_RETURN_NONE;
    PyObject *cause = gc_ctx_cause(ctx);
    if (cause)
        return Py_NewRef(cause);
    return pyg_ctx_error(st, ctx);
}

static PyObject *module_set_after_func_runner(PyObject *module, PyObject *fn)
{
    pyg_state *st = PyModule_GetState(module);
    Py_INCREF(fn);
    pyg_mutex_lock(&st->after_func_lock);
    PyObject *old = st->after_func_runner;
    st->after_func_runner = fn;
    pyg_mutex_unlock(&st->after_func_lock);
    Py_XDECREF(old); /* may run Python code: outside the lock */
    Py_RETURN_NONE;
}

static int run_on_main_thread(void *fn)
{
    PyObject *r = PyObject_CallNoArgs((PyObject *)fn);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable((PyObject *)fn);
    Py_DECREF((PyObject *)fn);
    return 0;
}

/* _call_on_main_thread(fn): run fn() on the main thread soon (Python's
   pending calls: at its next bytecode boundary).  For work only the main
   thread may do, such as restoring signal handlers. */
static PyObject *module_call_on_main_thread(PyObject *module, PyObject *fn)
{
    (void)module;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "_call_on_main_thread() needs a callable");
        return NULL;
    }
    Py_INCREF(fn);
    if (Py_AddPendingCall(run_on_main_thread, fn) < 0) {
        Py_DECREF(fn);
        PyErr_SetString(PyExc_RuntimeError, "the pending-call queue is full");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _after_funcs_pinned(): how many of this interpreter's contexts wait for
   their deadline with after-funcs registered (the runner waits for them). */
static PyObject *module_after_funcs_pinned(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(pyg_owner_pinned_count(((pyg_state *)PyModule_GetState(module))->owner));
}

static PyMethodDef context_functions[] = {
    {"_call_on_main_thread", module_call_on_main_thread, METH_O,
     "Run fn() on the main thread at its next bytecode boundary."},
    {"background", module_background, METH_NOARGS,
     "background()\n--\n\nThe root Context: never canceled, no deadline, no values.\n"},
    {"_new_context", (PyCFunction)(void (*)(void))module_new_context, METH_FASTCALL,
     "_new_context(parent, deadline): a cancelable child Context."},
    {"with_value", (PyCFunction)(void (*)(void))module_with_value, METH_FASTCALL,
     "with_value(parent, key, value)\n--\n\nA child Context carrying key=value.\n\n"
     "    >>> with_value(background(), 'id', 7).value('id')\n    7\n"},
    {"without_cancel", module_without_cancel, METH_O,
     "without_cancel(parent)\n--\n\nA Context with parent's values that is never done.\n"},
    {"cause", module_cause, METH_O,
     "cause(ctx)\n--\n\nWhy ctx is done: the cause given to cancel, else ctx.err();\n"
     "None while ctx is active.\n"},
    {"_set_after_func_runner", module_set_after_func_runner, METH_O,
     "Register the callable that starts the after_func runner thread."},
    {"_after_funcs_pinned", module_after_funcs_pinned, METH_NOARGS,
     "_after_funcs_pinned(): contexts whose deadline will queue after-funcs."},
    {NULL, NULL, 0, NULL}};

static void set_value_hooks(void)
{
    gc_ctx_set_value_hooks(
        (gc_ctx_value_hooks){retain_object, pyg_release_object, pyg_owner_pinned});
}


int pyg_context_init(PyObject *module, pyg_state *st)
{
    /* process-wide, and interpreters may import concurrently */
    static gc_once_flag hooks_once = GC_ONCE_INIT;
    gc_once(&hooks_once, set_value_hooks);
    st->context_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &context_spec, NULL);
    if (!st->context_type || PyModule_AddType(module, st->context_type) < 0)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->context_type->tp_new = NULL; /* made by background() and with_*() */
#endif
    /* The module and the subclasses' bases keep ContextError alive. */
    PyObject *context_error = PyErr_NewExceptionWithDoc(
        "pygochan.ContextError",
        "The context is done, whatever the reason: the base of Canceled and\n"
        "DeadlineExceeded.",
        PyExc_Exception, NULL);
    if (!context_error || PyModule_AddObject(module, "ContextError", context_error) < 0) {
        Py_XDECREF(context_error);
        return -1;
    }
    st->canceled = PyErr_NewExceptionWithDoc(
        "pygochan.Canceled", "The context was canceled (Go's context.Canceled).",
        context_error, NULL);
    if (!st->canceled || PyModule_AddObject(module, "Canceled", Py_NewRef(st->canceled)) < 0)
        return -1;
    PyObject *deadline_bases = PyTuple_Pack(2, context_error, PyExc_TimeoutError);
    if (!deadline_bases)
        return -1;
    st->deadline_exceeded = PyErr_NewExceptionWithDoc(
        "pygochan.DeadlineExceeded",
        "The context's deadline passed (Go's context.DeadlineExceeded).",
        deadline_bases, NULL);
    Py_DECREF(deadline_bases);
    if (!st->deadline_exceeded ||
        PyModule_AddObject(module, "DeadlineExceeded", Py_NewRef(st->deadline_exceeded)) < 0)
        return -1;
    st->background = new_context(st, NULL, NULL, NULL, NULL);
    if (!st->background)
        return -1;
    PyObject *args = Py_BuildValue("(i)", GC_UNBOUNDED);
    st->after_func_queue = args ? PyObject_Call((PyObject *)st->channel_type, args, NULL) : NULL;
    Py_XDECREF(args);
    if (st->after_func_queue) /* its runner serves bubbles too */
        gc_chan_set_bubble(((pyg_channel *)st->after_func_queue)->chan, GC_BUBBLE_ANY);
    if (!st->after_func_queue ||
        PyModule_AddObject(module, "_after_func_queue", Py_NewRef(st->after_func_queue)) < 0)
        return -1;
    return PyModule_AddFunctions(module, context_functions);
}

/* gc.after, gc.Timer and gc.Ticker: timers whose channel receives the fire
   time (time.monotonic() seconds).  The gc_timer belongs to its channel, so
   `after(d)` needs no other object and a dropped channel stops its timer. */
#include "timer.h"
#include "args.h"
#include "channel.h"

#include "structmember.h"

static gc_timer *timer_of(pyg_timer *self)
{
    return ((pyg_channel *)self->c)->timer;
}

/* A Ticker's interval is clamped to [MIN_TICK_S, MAX_TICK_S].  A shorter
   one would keep the timer thread firing ticks back to back, faster than
   any reader (a slow reader's ticks are dropped anyway); a longer one never
   ticks in practice, and its period in nanoseconds must fit an int64 with
   room for the next tick's time. */
#define MIN_TICK_S 100e-6
#define MAX_TICK_S 1e9

/* Arm ch's timer `seconds` from now (repeating if periodic). */
static int arm(PyObject *ch, double seconds, bool periodic, bool *was_active)
{
    int64_t deadline, period = 0;
    if (periodic && seconds > MAX_TICK_S) {
        deadline = GC_FOREVER;
        period = (int64_t)(MAX_TICK_S * 1e9);
    } else {
        if (periodic && seconds < MIN_TICK_S)
            seconds = MIN_TICK_S;
        deadline = gc_deadline_after(seconds);
        if (periodic)
            period = (int64_t)(seconds * 1e9);
    }
    bool ignored;
    if (gc_timer_reset(((pyg_channel *)ch)->timer, deadline, period,
                       was_active ? was_active : &ignored) != GC_OK) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static PyObject *new_timer(PyTypeObject *type, PyObject *args, PyObject *kwargs,
                           const char *argname, bool periodic)
{
    char *kwlist[] = {(char *)argname, NULL};
    PyObject *seconds_obj;
    double seconds;
    char format[32];
    snprintf(format, sizeof format, "O:%s", periodic ? "Ticker" : "Timer");
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, kwlist, &seconds_obj) ||
        pyg_parse_seconds(seconds_obj, argname, !periodic, &seconds) < 0)
        return NULL;
    pyg_state *st = pyg_state_of_type(type);
    pyg_timer *self = (pyg_timer *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->c = pyg_timer_channel_new(st);
    if (!self->c || arm(self->c, seconds, periodic, NULL) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *timer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return new_timer(type, args, kwargs, "seconds", false);
}

static PyObject *ticker_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return new_timer(type, args, kwargs, "interval", true);
}

static int timer_traverse(pyg_timer *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->c);
    return 0;
}

static int timer_clear(pyg_timer *self)
{
    Py_CLEAR(self->c);
    return 0;
}

static void timer_dealloc(pyg_timer *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    /* A Timer dropped unstopped stops: nobody can receive from it any more
       unless they kept its channel, which then keeps the timer. */
    timer_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyObject *timer_stop(pyg_timer *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(gc_timer_stop(timer_of(self)));
}

static PyObject *reset(pyg_timer *self, PyObject *seconds_obj, const char *what,
                       bool periodic)
{
    double seconds;
    bool was_active;
    if (pyg_parse_seconds(seconds_obj, what, !periodic, &seconds) < 0 ||
        arm(self->c, seconds, periodic, &was_active) < 0)
        return NULL;
    return PyBool_FromLong(was_active);
}

static PyObject *timer_reset(pyg_timer *self, PyObject *seconds)
{
    return reset(self, seconds, "seconds", false);
}

static PyObject *ticker_reset(pyg_timer *self, PyObject *interval)
{
    PyObject *r = reset(self, interval, "interval", true);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *ticker_stop(pyg_timer *self, PyObject *Py_UNUSED(ignored))
{
    gc_timer_stop(timer_of(self));
    Py_RETURN_NONE;
}

static PyObject *timer_repr(pyg_timer *self)
{
    return PyUnicode_FromFormat("<%s c=%R>", Py_TYPE(self)->tp_name, self->c);
}

static PyMemberDef timer_members[] = {
    {"c", T_OBJECT, offsetof(pyg_timer, c), READONLY,
     "The channel that receives the fire time (time.monotonic() seconds)."},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyg_timer, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyMethodDef timer_methods[] = {
    {"stop", (PyCFunction)timer_stop, METH_NOARGS,
     "stop($self)\n--\n\n"
     "Stop the timer.  True if this prevented a delivery: the timer had not\n"
     "fired, or its value had not been received.  After stop() returns, no\n"
     "stale value can be received from c.\n\n"
     "    >>> t = Timer(60); t.stop()\n    True\n"},
    {"reset", (PyCFunction)timer_reset, METH_O,
     "reset($self, seconds)\n--\n\n"
     "Re-arm the timer to fire `seconds` from now, discarding any pending or\n"
     "unreceived value; returns what stop() would have.\n\n"
     "    >>> t = Timer(60); t.reset(0.01); t.c.recv() > 0\n    True\n    True\n"},
    {NULL, NULL, 0, NULL}};

static PyMethodDef ticker_methods[] = {
    {"stop", (PyCFunction)ticker_stop, METH_NOARGS,
     "stop($self)\n--\n\n"
     "Stop the ticks; an unreceived tick is discarded.\n\n"
     "    >>> tk = Ticker(0.5); tk.stop()\n"},
    {"reset", (PyCFunction)ticker_reset, METH_O,
     "reset($self, interval)\n--\n\n"
     "Tick every `interval` seconds from now on; an unreceived tick is\n"
     "discarded.\n\n"
     "    >>> tk = Ticker(0.5); tk.reset(0.1); tk.stop()\n"},
    {NULL, NULL, 0, NULL}};

static PyType_Slot timer_slots[] = {
    {Py_tp_doc, (void *)"Timer(seconds)\n--\n\n"
                        "Go's time.Timer: c receives the fire time once, `seconds` from now\n"
                        "(Go 1.23 semantics: no stale value after stop() or reset()).\n\n"
                        "    >>> t = Timer(0.01)\n    >>> fired_at = t.c.recv()\n"},
    {Py_tp_new, timer_new},
    {Py_tp_dealloc, timer_dealloc},
    {Py_tp_traverse, timer_traverse},
    {Py_tp_clear, timer_clear},
    {Py_tp_repr, timer_repr},
    {Py_tp_members, timer_members},
    {Py_tp_methods, timer_methods},
    {0, NULL}};

static PyType_Slot ticker_slots[] = {
    {Py_tp_doc, (void *)"Ticker(interval)\n--\n\n"
                        "Go's time.Ticker: c receives the time every `interval` seconds.  c\n"
                        "holds one tick; a slow reader misses ticks rather than queueing them.\n"
                        "Intervals shorter than 100 us tick every 100 us; longer than 1e9 s,\n"
                        "never.\n\n"
                        "    >>> tk = Ticker(0.01)\n    >>> first = tk.c.recv(); tk.stop()\n"},
    {Py_tp_new, ticker_new},
    {Py_tp_dealloc, timer_dealloc},
    {Py_tp_traverse, timer_traverse},
    {Py_tp_clear, timer_clear},
    {Py_tp_repr, timer_repr},
    {Py_tp_members, timer_members},
    {Py_tp_methods, ticker_methods},
    {0, NULL}};

static PyType_Spec timer_spec = {
    .name = "pygochan.Timer",
    .basicsize = sizeof(pyg_timer),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = timer_slots,
};

static PyType_Spec ticker_spec = {
    .name = "pygochan.Ticker",
    .basicsize = sizeof(pyg_timer),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = ticker_slots,
};

static PyObject *module_after(PyObject *module, PyObject *seconds_obj)
{
    double seconds;
    if (pyg_parse_seconds(seconds_obj, "seconds", true, &seconds) < 0)
        return NULL;
    PyObject *ch = pyg_timer_channel_new(PyModule_GetState(module));
    if (ch && arm(ch, seconds, false, NULL) < 0)
        Py_CLEAR(ch);
    return ch;
}

static PyObject *module_resume_timers_after_fork(PyObject *module,
                                                 PyObject *Py_UNUSED(ignored))
{
    (void)module;
    gc_timer_resume_after_fork();
    Py_RETURN_NONE;
}

PyMethodDef pyg_timer_functions[] = {
    {"_resume_timers_after_fork", module_resume_timers_after_fork, METH_NOARGS,
     "Restart the timer thread in a forked child (os.register_at_fork)."},
    {"after", (PyCFunction)module_after, METH_O,
     "after(seconds)\n--\n\n"
     "Go's time.After: a channel that receives time.monotonic() once,\n"
     "`seconds` from now.  Dropping the channel cancels the timer.\n\n"
     "    >>> select(recv(results), recv(after(1.0)))\n"},
    {NULL, NULL, 0, NULL}};

int pyg_timer_init_types(PyObject *module, pyg_state *st)
{
    st->timer_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &timer_spec, NULL);
    if (!st->timer_type || PyModule_AddType(module, st->timer_type) < 0)
        return -1;
    st->ticker_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &ticker_spec, NULL);
    if (!st->ticker_type || PyModule_AddType(module, st->ticker_type) < 0)
        return -1;
    return PyModule_AddFunctions(module, pyg_timer_functions);
}

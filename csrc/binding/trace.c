/*
 * The recorder's Python side (pygochan/_trace.py builds gc.trace on it):
 *   _trace_start(capacity)  start recording into a ring of capacity events
 *   _trace_stop()           stop; ([(ts_ns, thread, channel, seq, kind)],
 *                           dropped), oldest first
 * The recorder itself (gc_trace.c) is process-wide and holds no Python
 * object; the events are plain numbers, turned into tuples here once the
 * recording has stopped.  No locks of the binding's own.
 */
#include "state.h"

#include "gc_trace.h"

/* A thread's id as Python's threading.get_ident() gives it (callable on
   any thread, without the GIL: it asks the system, nothing else). */
static uint64_t python_thread_id(void)
{
    return (uint64_t)PyThread_get_thread_ident();
}

static PyObject *trace_start(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "capacity must be an int, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_ssize_t capacity = PyLong_AsSsize_t(arg);
    if (capacity == -1 && PyErr_Occurred())
        return NULL;
    if (capacity < 1) {
        PyErr_SetString(PyExc_ValueError, "capacity must be at least 1");
        return NULL;
    }
    int rc = gc_trace_start((size_t)capacity, python_thread_id);
    if (rc < 0)
        return PyErr_NoMemory();
    if (rc > 0) {
        PyErr_SetString(PyExc_RuntimeError, "a trace is already recording");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *trace_stop(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    size_t count;
    uint64_t dropped;
    gc_trace_event *events = gc_trace_stop(&count, &dropped);
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list && i < count; i++) {
        const gc_trace_event *e = &events[i];
        PyObject *item = Py_BuildValue("(LKKKI)", (long long)e->ts_ns,
                                       (unsigned long long)e->thread,
                                       (unsigned long long)e->chan,
                                       (unsigned long long)e->seq,
                                       (unsigned int)e->kind);
        if (!item)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    free(events);
    if (!list)
        return NULL;
    return Py_BuildValue("(NK)", list, (unsigned long long)dropped);
}

static PyMethodDef trace_functions[] = {
    {"_trace_start", trace_start, METH_O,
     "_trace_start(capacity, /)\n--\n\nStart recording channel events into a "
     "ring of capacity events (RuntimeError if one records already)."},
    {"_trace_stop", trace_stop, METH_NOARGS,
     "_trace_stop()\n--\n\nStop recording: ([(ts_ns, thread, channel, seq, "
     "kind)], dropped), oldest first; ([], 0) when none ran."},
    {NULL, NULL, 0, NULL}};

int pyg_trace_init(PyObject *module, pyg_state *Py_UNUSED(st))
{
    if (PyModule_AddFunctions(module, trace_functions) < 0)
        return -1;
    return PyModule_AddIntConstant(module, "_TRACE_SEND", GC_TRACE_SEND) < 0 ||
                   PyModule_AddIntConstant(module, "_TRACE_RECV", GC_TRACE_RECV) < 0 ||
                   PyModule_AddIntConstant(module, "_TRACE_PARK", GC_TRACE_PARK) < 0 ||
                   PyModule_AddIntConstant(module, "_TRACE_WAKE", GC_TRACE_WAKE) < 0 ||
                   PyModule_AddIntConstant(module, "_TRACE_GIVE_BACK",
                                           GC_TRACE_GIVE_BACK) < 0
               ? -1
               : 0;
}

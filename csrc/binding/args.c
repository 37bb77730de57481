/* Argument conversion shared by every call (args.h). */
#include "args.h"
#include "context.h"

#include <math.h>

int pyg_parse_seconds(PyObject *obj, const char *what, bool allow_zero,
                      double *seconds)
{
    if (PyBool_Check(obj) || !(PyLong_Check(obj) || PyFloat_Check(obj))) {
        PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %.200s",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    *seconds = PyFloat_AsDouble(obj);
    if (*seconds == -1.0 && PyErr_Occurred()) {
        /* an int too large for a float: only its sign matters */
        if (!PyLong_Check(obj) || !PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        PyObject *zero = PyLong_FromLong(0);
        int negative = zero ? PyObject_RichCompareBool(obj, zero, Py_LT) : -1;
        Py_XDECREF(zero);
        if (negative < 0)
            return -1;
        *seconds = negative ? -1.0 : HUGE_VAL;
    }
    if (isnan(*seconds) || *seconds < 0 || (!allow_zero && *seconds == 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be a %s number of seconds", what,
                     allow_zero ? "non-negative" : "positive");
        return -1;
    }
    return 0;
}

int pyg_parse_timeout(PyObject *obj, pyg_timeout *out)
{
    out->blocking = true;
    out->deadline_ns = GC_FOREVER;
    out->seconds = -1.0;
    if (obj == NULL || obj == Py_None)
        return 0;
    double seconds;
    if (pyg_parse_seconds(obj, "timeout", true, &seconds) < 0)
        return -1;
    if (seconds == 0)
        out->blocking = false;
    out->seconds = seconds;
    out->deadline_ns = gc_deadline_after(seconds);
    return 0;
}

int pyg_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, Py_ssize_t npos, const char *const *kwlist,
                   PyObject **out)
{
    Py_ssize_t nkw_allowed = 0;
    while (kwlist[nkw_allowed])
        nkw_allowed++;
    if (nargs != npos) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes %zd positional argument%s but %zd %s given",
                     fname, npos, npos == 1 ? "" : "s", nargs,
                     nargs == 1 ? "was" : "were");
        return -1;
    }
    for (Py_ssize_t i = 0; i < npos; i++)
        out[i] = args[i];
    for (Py_ssize_t k = 0; k < nkw_allowed; k++)
        out[npos + k] = NULL;
    if (!kwnames)
        return 0;
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(kwnames); j++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, j);
        Py_ssize_t k = 0;
        for (; k < nkw_allowed; k++)
            if (PyUnicode_CompareWithASCIIString(name, kwlist[k]) == 0)
                break;
        if (k == nkw_allowed) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'", fname,
                         name);
            return -1;
        }
        out[npos + k] = args[nargs + j];
    }
    return 0;
}

/* ---- ctx= -------------------------------------------------------------- */

PyObject *pyg_ctx_error(pyg_state *st, gc_ctx *ctx)
{
    bool deadline = gc_ctx_err(ctx) == GC_CTX_DEADLINE;
    return PyObject_CallFunction(
        deadline ? st->deadline_exceeded : st->canceled, "s",
        deadline ? "context deadline exceeded" : "context canceled");
}

PyObject *pyg_raise_ctx_error(pyg_state *st, gc_ctx *ctx)
{
    PyObject *exc = pyg_ctx_error(st, ctx);
    if (!exc)
        return NULL;
    PyObject *cause = gc_ctx_cause(ctx);
    if (cause && PyExceptionInstance_Check(cause))
        PyException_SetCause(exc, Py_NewRef(cause));
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

int pyg_ctx_arg(pyg_state *st, PyObject *obj, gc_ctx **out)
{
    *out = NULL;
    if (!obj || obj == Py_None)
        return 0;
    if (!Py_IS_TYPE(obj, st->context_type)) {
        PyErr_Format(PyExc_TypeError, "ctx must be a Context or None, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = ((pyg_context *)obj)->ctx;
    return 0;
}

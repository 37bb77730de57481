/* Argument conversion shared by every call: timeout=, durations, keyword
   parsing of vectorcall methods, ctx=. */
#ifndef PYG_ARGS_H
#define PYG_ARGS_H

#include "state.h"

/* A parsed timeout= argument. */
typedef struct {
    bool blocking;       /* false for timeout=0: one attempt, then TimeoutError */
    int64_t deadline_ns; /* absolute monotonic; GC_FOREVER for None */
    double seconds;      /* as given (an awaitable's clock starts when it is
                            first awaited); < 0 for None */
} pyg_timeout;

/* timeout=None | int | float (not bool); negative or NaN is a ValueError. */
int pyg_parse_timeout(PyObject *obj, pyg_timeout *out);

/* A duration in seconds: int | float (not bool), not NaN, >= 0 (> 0 when
   !allow_zero); errors name `what`. */
int pyg_parse_seconds(PyObject *obj, const char *what, bool allow_zero,
                      double *seconds);

/* Parse `npos` positional arguments and the keywords named in `kwlist`
   (NULL-terminated) of a vectorcall method into `out` (positional first,
   unset keywords left NULL). */
int pyg_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, Py_ssize_t npos, const char *const *kwlist,
                   PyObject **out);

/* ctx= argument: None -> *out NULL; a Context -> its gc_ctx (NULL if it can
   never be done); anything else is a TypeError. */
int pyg_ctx_arg(pyg_state *st, PyObject *obj, gc_ctx **out);

/* The error of a done context (Canceled / DeadlineExceeded), a new
   exception object; NULL with an exception if it could not be made. */
PyObject *pyg_ctx_error(pyg_state *st, gc_ctx *ctx);

/* Raise the error of a done context (Canceled / DeadlineExceeded), chained
   to its cause when the cause is an exception.  Returns NULL. */
PyObject *pyg_raise_ctx_error(pyg_state *st, gc_ctx *ctx);

#endif

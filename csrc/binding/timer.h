/* Timer and Ticker. */
#ifndef PYG_TIMER_H
#define PYG_TIMER_H

#include "state.h"

/* Timer and Ticker: a timer firing into its channel c. */
typedef struct {
    PyObject_HEAD
    PyObject *c; /* the pyg_channel that owns the gc_timer (owned) */
    PyObject *weakreflist;
} pyg_timer;

extern PyMethodDef pyg_timer_functions[];

#endif

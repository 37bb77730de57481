/* select's cases and results. */
#ifndef PYG_SELECT_H
#define PYG_SELECT_H

#include "state.h"

/* gc.recv(ch) / gc.send(ch, v): immutable, so one case may serve many selects. */
typedef struct {
    PyObject_HEAD
    PyObject *channel; /* a Channel, or None for Go's nil channel (owned) */
    PyObject *value;   /* send cases: the value (owned); NULL for recv */
} pyg_case;

/* A SelectResult(index, value, ok); value: a reference taken over (NULL
   means None).  (select_result.c) */
PyObject *pyg_select_result(pyg_state *st, int index, PyObject *value,
                            bool ok);

extern PyMethodDef pyg_select_functions[];

#endif

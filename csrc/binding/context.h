/* Context. */
#ifndef PYG_CONTEXT_H
#define PYG_CONTEXT_H

#include "state.h"

/* A Context.  ctx is NULL for contexts that are never done (background,
   without_cancel and their value children). */
typedef struct {
    PyObject_HEAD
    gc_ctx *ctx;        /* owned reference, or NULL */
    PyObject *parent;   /* the parent Context (owned); NULL for background */
    PyObject *key;      /* with_value: the key and value (owned), else NULL */
    PyObject *value;
    PyObject *done;     /* the done Channel, made on first use (owned);
                           guarded by the context's critical section */
    PyObject *weakreflist;
    bool holds_values;  /* the one Context that shows ctx's causes and pending
                           after-func items to the GC: the one that made ctx
                           (with_value children share ctx but not this) */
} pyg_context;

#endif

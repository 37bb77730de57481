/* The loop driver of operations, as the calls that make awaitables use it. */
#ifndef PYG_OP_LOOP_H
#define PYG_OP_LOOP_H

#include "state.h"

/* The loop driver (op/loop.c).  pyg_awaitable_new: an awaitable (a coroutine
   object, _AsyncOp) whose op the caller then builds in place with one of
   op.h's builders (on failure, drop the awaitable); it keeps the holds
   (any may be NULL) alive for the op, which borrows them. */
struct pyg_op;
PyObject *pyg_awaitable_new(pyg_state *st, struct pyg_op **op, PyObject *hold0,
                            PyObject *hold1, PyObject *hold2, PyObject *hold3);
/* An awaitable pyg_op_closed on chan, keeping target alive. */
PyObject *pyg_awaitable_closed(pyg_state *st, PyObject *target, gc_chan *chan,
                               bool closed_already, const char *name,
                               PyObject *timeout_error, PyObject *timeout_obj,
                               PyObject *ctx_obj);

#endif

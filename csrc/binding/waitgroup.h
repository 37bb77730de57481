/* WaitGroup, as other parts use it. */
#ifndef PYG_WAITGROUP_H
#define PYG_WAITGROUP_H

#include "state.h"

/* Add delta to a WaitGroup's counter (waitgroup.c): GC_OK, or the status that
   refused it (nothing changed). */
enum gc_status pyg_wait_group_add(PyObject *wg, int64_t delta);
/* A WaitGroup's current generation (see gc_wg.h), NULL at zero. */
struct gc_wg_gen *pyg_wait_group_gen(PyObject *wg);

#endif

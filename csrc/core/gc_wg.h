/*
 * gc_wg: Go's sync.WaitGroup.
 *
 * A counter plus a "reached zero" channel: the channel is closed when the
 * counter returns to zero and a fresh one is made when it leaves zero, so a
 * wait is one recv case and joins a select with a context's done channel
 * like any other case.  Each channel generation is reference-counted because
 * a waiter may still be selecting on a closed generation after the counter
 * has left zero again.
 */
#ifndef GC_WG_H
#define GC_WG_H

#include <stdint.h>

#include "gc_chan.h"

typedef struct gc_wg gc_wg;
typedef struct gc_wg_gen gc_wg_gen;

gc_wg *gc_wg_new(void);          /* NULL on ENOMEM */
void gc_wg_free(gc_wg *wg);      /* nobody may be using it any more */

/* Add delta (may be negative).  GC_OK; GC_CLOSED when the counter would go
   below zero (nothing changed); GC_NOMEM. */
enum gc_status gc_wg_add(gc_wg *wg, int64_t delta);

int64_t gc_wg_count(gc_wg *wg);

/* NULL when the counter is zero (nothing to wait for).  Otherwise a
   reference to the current generation: wait on gc_wg_gen_chan (it is closed
   at zero), then gc_wg_gen_release. */
gc_wg_gen *gc_wg_acquire_gen(gc_wg *wg);
gc_chan *gc_wg_gen_chan(gc_wg_gen *gen);
void gc_wg_gen_release(gc_wg_gen *gen);

#endif

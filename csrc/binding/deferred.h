/* Releases owed to other interpreters. */
#ifndef PYG_DEFERRED_H
#define PYG_DEFERRED_H

#include "state.h"

/* Deferred releases (deferred.c).  pyg_release_object(obj, owner) is the
   core's release hook: it releases obj at once on a thread attached to the
   owner's interpreter, else queues it for that interpreter.  The
   interpreter calls pyg_drain_deferred at its next context operation or
   blocking wait (cheap when nothing is queued). */
pyg_owner *pyg_owner_new(void);
void pyg_owner_close(pyg_owner *owner);
void pyg_release_object(void *obj, void *owner);
void pyg_drain_deferred(pyg_state *st);
/* The count of this interpreter's contexts pinned by pending after-func
   items (gc_ctx_after): they will send their items from the timer thread,
   so the after_func runner must be there.  pyg_owner_pinned is the core's
   hook. */
void pyg_owner_pinned(void *owner, int delta);
long pyg_owner_pinned_count(pyg_owner *owner);

#endif

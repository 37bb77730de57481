/* No fork on Windows: nothing to prepare, no child to repair.  See
   gc_platform.h. */
#include "gc_platform.h"

void gc_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    (void)prepare;
    (void)parent;
    (void)child;
}

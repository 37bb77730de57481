/* fork handlers on POSIX systems.  See gc_platform.h. */
#include "gc_platform.h"

#include <pthread.h>

void gc_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    pthread_atfork(prepare, parent, child);
}

/* Threads on POSIX systems: pthreads.  The locks, once and thread-local keys
   are inline in gc_platform.h; this is the part worth a call. */
#include "gc_platform.h"

#include <pthread.h>

int gc_thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size)
{
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Below the system's minimum it fails, and the default stays. */
    pthread_attr_setstacksize(&attr, stack_size);
    int err = pthread_create(&thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return err;
}

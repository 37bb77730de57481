/*
 * gc_platform: what the core needs from the operating system, behind one
 * choice point.
 *
 * csrc/CMakeLists.txt picks one file per concern and compiles only that one:
 *
 *   park    (PYGOCHAN_PARK)  park_futex.c   Linux futex
 *                            park_cond.c    striped mutex+condvar (POSIX)
 *                            park_win32.c   WaitOnAddress (Windows 8+)
 *                            park_ulock.c   __ulock_wait (macOS; not auto)
 *                            park_umtx.c    _umtx_op (FreeBSD; not auto)
 *   wake-up (PYGOCHAN_WAKE)  wake_eventfd.c Linux eventfd
 *                            wake_pipe.c    a non-blocking pipe (POSIX)
 *                            wake_socketpair.c  loopback sockets (Windows)
 *                            + wake_poll.c  waiting and closing (POSIX)
 *   fork                     fork_posix.c   pthread_atfork
 *                            fork_none.c    Windows: no fork, nothing to do
 *   clock                    clock.c        the clock of time.monotonic()
 *
 * `auto` (the default of both options) takes the first that exists on the
 * target; a forced choice that the target lacks is a configure error.  No
 * other file of the core tests what system it is built for.  The build
 * defines GC_PLATFORM_PARK and GC_PLATFORM_WAKE to the names chosen (as
 * strings), which the core's tests print.
 *
 * The park API itself (gc_park, gc_unpark, gc_now_ns, gc_yield) is declared
 * in gc_park.h, which the rest of the core includes.
 */
#ifndef GC_PLATFORM_H
#define GC_PLATFORM_H

#include <stdbool.h>

/* The hub's wake-up descriptor: readable once signalled, until drained.
   read_fd and write_fd may be the same descriptor (eventfd).  Both are
   non-blocking and close-on-exec.  0, or -1 with errno set. */
int gc_wake_open(int *read_fd, int *write_fd);
/* Make the read end readable (a full counter or pipe already is). */
void gc_wake_signal(int write_fd);
/* Consume what gc_wake_signal wrote, without blocking. */
void gc_wake_drain(int read_fd);
/* Wait at most timeout_ms (-1: forever) until read_fd is readable; a
   read_fd of -1 (a fork child's hub) just sleeps.  True if readable. */
bool gc_wake_wait(int read_fd, int timeout_ms);
/* Close both ends (either may be -1). */
void gc_wake_close(int read_fd, int write_fd);

/* Handlers run around fork() (pthread_atfork); nothing where there is no
   fork. */
void gc_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

#endif

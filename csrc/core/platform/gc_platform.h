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
 *   threads                  threads_posix.c  pthreads (the rest inline below)
 *                            threads_win32.c  SRWLOCK, InitOnceExecuteOnce,
 *                                             FLS, _beginthreadex
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
 * The threads part is picked by the system alone (_WIN32 or not), here and
 * in the CMake file: the types and the POSIX functions are below, so that a
 * lock costs what pthread_mutex_lock costs; on Windows the functions live in
 * threads_win32.c, which keeps <windows.h> out of every other file.  No
 * file of the core or of the binding includes <pthread.h> but this one,
 * threads_posix.c, fork_posix.c and the cond park (pthread condvars are
 * what it is made of); the core's tests make their threads with pthreads.
 *
 * The park API itself (gc_park, gc_unpark, gc_now_ns, gc_yield) is declared
 * in gc_park.h, which the rest of the core includes.
 */
#ifndef GC_PLATFORM_H
#define GC_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

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

/* ---- threads ---------------------------------------------------------------
 *
 *   gc_mutex      a plain (not recursive) mutex; GC_MUTEX_INIT for statics.
 *                 gc_mutex_init returns 0, or an error number; destroy only
 *                 an unlocked mutex.
 *   gc_rwlock     a reader-writer lock; a read lock is released with
 *                 gc_rwlock_rdunlock, a write lock with gc_rwlock_wrunlock
 *                 (Windows' SRWLOCK needs to know which).
 *   gc_once_flag  gc_once(&flag, fn) runs fn exactly once per flag, the
 *                 other callers waiting until it has returned.
 *   gc_tls_key    a thread-local pointer, NULL in each new thread; when a
 *                 thread ends with a value that is not NULL, the key's
 *                 destructor runs on that thread with it.  gc_tls_delete
 *                 runs no destructor (as pthread_key_delete): the values
 *                 left are the caller's to reclaim.  gc_tls_create and
 *                 gc_tls_set return 0, or non-zero when out of keys or
 *                 memory.
 *   gc_thread_start_detached(fn, arg, stack_size)
 *                 runs fn(arg) on a new thread nobody joins, with at least
 *                 stack_size bytes of stack where the system allows that
 *                 little (else its minimum); 0, or non-zero if no thread
 *                 could be made.
 */
#ifdef _WIN32

/* Each is the size and layout of the Windows object it stands for (SRWLOCK,
   INIT_ONCE: one pointer, zero when initial); threads_win32.c checks that. */
typedef struct { void *opaque; } gc_mutex;
typedef struct { void *opaque; } gc_rwlock;
typedef struct { void *opaque; } gc_once_flag;
#define GC_MUTEX_INIT {0}
#define GC_RWLOCK_INIT {0}
#define GC_ONCE_INIT {0}
typedef struct gc_tls_slot *gc_tls_key;

int gc_mutex_init(gc_mutex *m);
void gc_mutex_destroy(gc_mutex *m);
void gc_mutex_lock(gc_mutex *m);
void gc_mutex_unlock(gc_mutex *m);
int gc_rwlock_init(gc_rwlock *rw);
void gc_rwlock_rdlock(gc_rwlock *rw);
void gc_rwlock_rdunlock(gc_rwlock *rw);
void gc_rwlock_wrlock(gc_rwlock *rw);
void gc_rwlock_wrunlock(gc_rwlock *rw);
void gc_once(gc_once_flag *flag, void (*fn)(void));
int gc_tls_create(gc_tls_key *key, void (*destructor)(void *));
void gc_tls_delete(gc_tls_key key);
void *gc_tls_get(gc_tls_key key);
int gc_tls_set(gc_tls_key key, void *value);

#else

#include <pthread.h>

typedef pthread_mutex_t gc_mutex;
typedef pthread_rwlock_t gc_rwlock;
typedef pthread_once_t gc_once_flag;
typedef pthread_key_t gc_tls_key;
#define GC_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define GC_RWLOCK_INIT PTHREAD_RWLOCK_INITIALIZER
#define GC_ONCE_INIT PTHREAD_ONCE_INIT

static inline int gc_mutex_init(gc_mutex *m) { return pthread_mutex_init(m, NULL); }
static inline void gc_mutex_destroy(gc_mutex *m) { pthread_mutex_destroy(m); }
static inline void gc_mutex_lock(gc_mutex *m) { pthread_mutex_lock(m); }
static inline void gc_mutex_unlock(gc_mutex *m) { pthread_mutex_unlock(m); }
static inline int gc_rwlock_init(gc_rwlock *rw) { return pthread_rwlock_init(rw, NULL); }
static inline void gc_rwlock_rdlock(gc_rwlock *rw) { pthread_rwlock_rdlock(rw); }
static inline void gc_rwlock_rdunlock(gc_rwlock *rw) { pthread_rwlock_unlock(rw); }
static inline void gc_rwlock_wrlock(gc_rwlock *rw) { pthread_rwlock_wrlock(rw); }
static inline void gc_rwlock_wrunlock(gc_rwlock *rw) { pthread_rwlock_unlock(rw); }
static inline void gc_once(gc_once_flag *flag, void (*fn)(void)) { pthread_once(flag, fn); }
static inline int gc_tls_create(gc_tls_key *key, void (*destructor)(void *))
{
    return pthread_key_create(key, destructor);
}
static inline void gc_tls_delete(gc_tls_key key) { pthread_key_delete(key); }
static inline void *gc_tls_get(gc_tls_key key) { return pthread_getspecific(key); }
static inline int gc_tls_set(gc_tls_key key, void *value)
{
    return pthread_setspecific(key, value);
}

#endif

int gc_thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size);

#endif

/* Threads on Windows (Vista and later): SRWLOCK for the mutex and the
   reader-writer lock, InitOnceExecuteOnce, fiber-local storage for the
   thread-local keys (FlsAlloc's callback is the documented way to run code
   with a value when its thread ends; TlsAlloc has none), _beginthreadex for
   threads (it sets up the C runtime for the new thread).  See
   gc_platform.h. */
#include "gc_platform.h"

#include <windows.h>

#include <assert.h>
#include <process.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static_assert(sizeof(gc_mutex) == sizeof(SRWLOCK), "gc_mutex is an SRWLOCK");
static_assert(sizeof(gc_rwlock) == sizeof(SRWLOCK), "gc_rwlock is an SRWLOCK");
static_assert(sizeof(gc_once_flag) == sizeof(INIT_ONCE), "gc_once_flag is an INIT_ONCE");

int gc_mutex_init(gc_mutex *m)
{
    InitializeSRWLock((PSRWLOCK)m);
    return 0;
}

void gc_mutex_destroy(gc_mutex *m)
{
    (void)m; /* an SRWLOCK holds no resources */
}

void gc_mutex_lock(gc_mutex *m) { AcquireSRWLockExclusive((PSRWLOCK)m); }
void gc_mutex_unlock(gc_mutex *m) { ReleaseSRWLockExclusive((PSRWLOCK)m); }

int gc_rwlock_init(gc_rwlock *rw)
{
    InitializeSRWLock((PSRWLOCK)rw);
    return 0;
}

void gc_rwlock_rdlock(gc_rwlock *rw) { AcquireSRWLockShared((PSRWLOCK)rw); }
void gc_rwlock_rdunlock(gc_rwlock *rw) { ReleaseSRWLockShared((PSRWLOCK)rw); }
void gc_rwlock_wrlock(gc_rwlock *rw) { AcquireSRWLockExclusive((PSRWLOCK)rw); }
void gc_rwlock_wrunlock(gc_rwlock *rw) { ReleaseSRWLockExclusive((PSRWLOCK)rw); }

static BOOL CALLBACK run_once(PINIT_ONCE once, PVOID fn, PVOID *context)
{
    (void)once;
    (void)context;
    (*(void (**)(void))fn)();
    return TRUE;
}

void gc_once(gc_once_flag *flag, void (*fn)(void))
{
    InitOnceExecuteOnce((PINIT_ONCE)flag, run_once, &fn, NULL);
}

/* ---- thread-local keys --------------------------------------------------
   An FLS callback gets the value alone, not its index, is a WINAPI function
   (a calling convention of its own on 32-bit x86), and runs for every
   thread's value when the index is freed, which pthread_key_delete does
   not.  So each thread's slot holds a box naming its key: one callback for
   every key calls the key's destructor unless the key was deleted. */
struct gc_tls_slot {
    DWORD index;
    void (*destructor)(void *);
    _Atomic bool deleted;
};

typedef struct {
    struct gc_tls_slot *key; /* not owned */
    void *value;
} tls_box;

static VOID WINAPI tls_box_free(PVOID p)
{
    tls_box *box = p;
    void *value = box->value;
    struct gc_tls_slot *key = box->key;
    free(box);
    if (value && key->destructor && !atomic_load(&key->deleted))
        key->destructor(value);
}

int gc_tls_create(gc_tls_key *key, void (*destructor)(void *))
{
    struct gc_tls_slot *slot = malloc(sizeof(*slot));
    if (!slot)
        return -1;
    slot->destructor = destructor;
    atomic_init(&slot->deleted, false);
    slot->index = FlsAlloc(tls_box_free);
    if (slot->index == FLS_OUT_OF_INDEXES) {
        free(slot);
        return -1;
    }
    *key = slot;
    return 0;
}

/* The slot itself stays allocated: a thread ending right now may still be
   reading it in tls_box_free. */
void gc_tls_delete(gc_tls_key key)
{
    atomic_store(&key->deleted, true);
    FlsFree(key->index); /* frees the boxes through tls_box_free */
}

void *gc_tls_get(gc_tls_key key)
{
    tls_box *box = FlsGetValue(key->index);
    return box ? box->value : NULL;
}

int gc_tls_set(gc_tls_key key, void *value)
{
    tls_box *box = FlsGetValue(key->index);
    if (!box) {
        if (!value)
            return 0;
        box = malloc(sizeof(*box));
        if (!box)
            return -1;
        box->key = key;
        if (!FlsSetValue(key->index, box)) {
            free(box);
            return -1;
        }
    }
    box->value = value;
    return 0;
}

/* ---- threads ------------------------------------------------------------ */

typedef struct {
    void *(*fn)(void *);
    void *arg;
} thread_start;

static unsigned __stdcall thread_main(void *p)
{
    thread_start start = *(thread_start *)p;
    free(p);
    start.fn(start.arg);
    return 0;
}

int gc_thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size)
{
    thread_start *start = malloc(sizeof(*start));
    if (!start)
        return -1;
    start->fn = fn;
    start->arg = arg;
    unsigned size = stack_size > UINT32_MAX ? 0 : (unsigned)stack_size;
    uintptr_t handle = _beginthreadex(NULL, size, thread_main, start,
                                      STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (!handle) {
        free(start);
        return -1;
    }
    CloseHandle((HANDLE)handle); /* detached: nobody waits for it */
    return 0;
}

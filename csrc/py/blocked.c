/* Who waits on what, and Go's "all goroutines are asleep - deadlock!".

   Every wait that parks (the slow path of pyg_wait_for; fast paths never
   come here) links a record that lives on the waiting thread's C stack
   into its interpreter's registry for as long as it parks.  blocked()
   reads the registry; the main thread's waits use it to detect a deadlock.

   Locking: st->blocked_lock (a pthread mutex, a leaf: nothing else is
   taken and no Python code runs while it is held) guards the list, the two
   counters and every linked record.  A record's objects are borrowed: the
   waiting call owns them for at least as long as the record is linked,
   and whoever reads them takes its own references before unlocking. */
#include "pygochan.h"

#include <pthread.h>

#include "gc_park.h"

void pyg_blocked_link(pyg_state *st, pyg_blocked *rec)
{
    rec->since_ns = gc_now_ns();
    pthread_mutex_lock(&st->blocked_lock);
    rec->prev = NULL;
    rec->next = st->blocked_head;
    if (rec->next)
        rec->next->prev = rec;
    st->blocked_head = rec;
    st->blocked_changes++;
    if (!rec->timed)
        st->blocked_untimed++;
    pthread_mutex_unlock(&st->blocked_lock);
}

void pyg_blocked_unlink(pyg_state *st, pyg_blocked *rec)
{
    pthread_mutex_lock(&st->blocked_lock);
    if (rec->prev)
        rec->prev->next = rec->next;
    else
        st->blocked_head = rec->next;
    if (rec->next)
        rec->next->prev = rec->prev;
    st->blocked_changes++;
    if (!rec->timed)
        st->blocked_untimed--;
    pthread_mutex_unlock(&st->blocked_lock);
}

/* _blocked(): [(thread ident, operation, (objects...), since, timed), ...]
   with since on the time.monotonic() clock. */
static PyObject *module_blocked(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    pyg_state *st = PyModule_GetState(module);
    /* Count, allocate outside the lock, then copy: records may come and go
       in between, so retry until the snapshot fits. */
    for (;;) {
        pthread_mutex_lock(&st->blocked_lock);
        size_t n = 0, nobjects = 0;
        for (pyg_blocked *r = st->blocked_head; r; r = r->next) {
            n++;
            nobjects += (size_t)r->nobjects;
        }
        pthread_mutex_unlock(&st->blocked_lock);

        PyObject *list = PyList_New(0);
        PyObject **objects = PyMem_Calloc(nobjects + 1, sizeof(PyObject *));
        pyg_blocked *copies = PyMem_Calloc(n + 1, sizeof(pyg_blocked));
        if (!list || !objects || !copies) {
            Py_XDECREF(list);
            PyMem_Free(objects);
            PyMem_Free(copies);
            return PyErr_NoMemory();
        }
        size_t got = 0, gotobjects = 0;
        bool fits = true;
        pthread_mutex_lock(&st->blocked_lock);
        for (pyg_blocked *r = st->blocked_head; r; r = r->next) {
            if (got == n || gotobjects + (size_t)r->nobjects > nobjects) {
                fits = false;
                break;
            }
            copies[got] = *r;
            copies[got].objects = objects + gotobjects;
            for (Py_ssize_t i = 0; i < r->nobjects; i++) {
                /* Py_INCREF runs no Python code: fine under a leaf lock */
                objects[gotobjects++] = Py_NewRef(r->objects[i]);
            }
            got++;
        }
        pthread_mutex_unlock(&st->blocked_lock);
        PyObject *result = list;
        for (size_t i = 0; i < got && result; i++) {
            pyg_blocked *r = &copies[i];
            PyObject *objs = PyTuple_New(r->nobjects);
            if (objs)
                for (Py_ssize_t k = 0; k < r->nobjects; k++)
                    PyTuple_SET_ITEM(objs, k, Py_NewRef(r->objects[k]));
            PyObject *item = objs ? Py_BuildValue(
                "(ksNdO)", r->thread_ident, r->op, objs,
                (double)r->since_ns / 1e9, r->timed ? Py_True : Py_False) : NULL;
            if (!item || PyList_Append(list, item) < 0)
                result = NULL;
            Py_XDECREF(item);
        }
        for (size_t i = 0; i < gotobjects; i++)
            Py_DECREF(objects[i]);
        PyMem_Free(objects);
        PyMem_Free(copies);
        if (!result || fits) {
            if (!result)
                Py_DECREF(list);
            return result;
        }
        Py_DECREF(list);
    }
}

/* ---- deadlock detection ------------------------------------------------- */

/* Python threads of this interpreter: every thread state, whatever it is
   doing (one in I/O, time.sleep, a C library or just created counts).
   Walked with the GIL held, as faulthandler does; only called on builds
   with a GIL (see pyg_deadlock_check). */
static size_t count_thread_states(void)
{
    size_t n = 0;
    PyInterpreterState *interp = PyThreadState_GetInterpreter(PyThreadState_Get());
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t;
         t = PyThreadState_Next(t))
        n++;
    return n;
}

int pyg_deadlock_check(pyg_state *st, pyg_blocked *rec)
{
#ifdef Py_GIL_DISABLED
    /* Thread states cannot be walked safely without the GIL: never guess. */
    (void)st;
    (void)rec;
    return 0;
#else
    if (!st->deadlock_detection || rec->timed || !st->deadlock_reporter)
        return 0;
    pthread_mutex_lock(&st->blocked_lock);
    size_t untimed = st->blocked_untimed;
    uint64_t changes = st->blocked_changes;
    pthread_mutex_unlock(&st->blocked_lock);
    /* Anything that could still wake a waiter is progress: a thread not
       parked in pygochan, a park with a deadline, any pending timer
       (Timer, Ticker, after, a context deadline, after_func). */
    if (untimed < count_thread_states() || gc_timer_pending() > 0) {
        rec->quiet_since_ns = 0;
        return 0;
    }
    int64_t now = gc_now_ns();
    if (rec->quiet_since_ns == 0 || changes != rec->quiet_changes) {
        /* Every wait that begins or ends restarts the grace period. */
        rec->quiet_since_ns = now;
        rec->quiet_changes = changes;
        return 0;
    }
    if (now - rec->quiet_since_ns < st->deadlock_grace_ns)
        return 0;
    /* The reporter (pygochan._debug) makes the last checks that need
       Python (signal handlers) and returns the message, or None. */
    PyObject *message = PyObject_CallNoArgs(st->deadlock_reporter);
    if (!message)
        return -1;
    if (message == Py_None) {
        Py_DECREF(message);
        rec->quiet_since_ns = now; /* ask again after another grace period */
        return 0;
    }
    PyErr_SetObject(st->deadlock, message);
    Py_DECREF(message);
    return -1;
#endif
}

static PyObject *module_set_deadlock_detection(PyObject *module, PyObject *const *args,
                                               Py_ssize_t nargs)
{
    pyg_state *st = PyModule_GetState(module);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_set_deadlock_detection(enabled, grace)");
        return NULL;
    }
    int enabled = PyObject_IsTrue(args[0]);
    if (enabled < 0)
        return NULL;
    double grace;
    if (pyg_parse_seconds(args[1], "grace", true, &grace) < 0)
        return NULL;
    st->deadlock_detection = enabled;
    st->deadlock_grace_ns = grace > 1e9 ? INT64_MAX / 2 : (int64_t)(grace * 1e9);
    Py_RETURN_NONE;
}

static PyObject *module_deadlock_detection(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    pyg_state *st = PyModule_GetState(module);
    return Py_BuildValue("(Od)", st->deadlock_detection ? Py_True : Py_False,
                         (double)st->deadlock_grace_ns / 1e9);
}

static PyObject *module_set_deadlock_reporter(PyObject *module, PyObject *fn)
{
    pyg_state *st = PyModule_GetState(module);
    Py_XSETREF(st->deadlock_reporter, Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* After fork() only the forking thread exists, and it was not waiting:
   nobody is linked, and the lock may have been held by a thread now gone. */
void pyg_blocked_after_fork(pyg_state *st)
{
    pthread_mutex_init(&st->blocked_lock, NULL);
    st->blocked_head = NULL;
    st->blocked_untimed = 0;
    st->blocked_changes++;
}

static PyMethodDef blocked_functions[] = {
    {"_blocked", module_blocked, METH_NOARGS,
     "_blocked(): the parked waits, as (ident, op, objects, since, timed)."},
    {"_set_deadlock_detection", (PyCFunction)(void (*)(void))module_set_deadlock_detection,
     METH_FASTCALL, "_set_deadlock_detection(enabled, grace)"},
    {"_deadlock_detection", module_deadlock_detection, METH_NOARGS,
     "_deadlock_detection() -> (enabled, grace)"},
    {"_set_deadlock_reporter", module_set_deadlock_reporter, METH_O,
     "Register the callable that builds a Deadlock message (or None)."},
    {NULL, NULL, 0, NULL}};

int pyg_blocked_init(PyObject *module, pyg_state *st)
{
    if (pthread_mutex_init(&st->blocked_lock, NULL) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create a lock");
        return -1;
    }
    st->blocked_lock_ready = true;
    st->deadlock_detection = true;
    st->deadlock_grace_ns = 1000 * 1000 * 1000;
    st->deadlock = PyErr_NewExceptionWithDoc(
        "pygochan.Deadlock",
        "Every thread is blocked in pygochan and nothing can wake any of them\n"
        "(Go's \"all goroutines are asleep - deadlock!\"); raised in the main\n"
        "thread's wait.  See set_deadlock_detection().",
        PyExc_RuntimeError, NULL);
    if (!st->deadlock || PyModule_AddObject(module, "Deadlock", Py_NewRef(st->deadlock)) < 0)
        return -1;
    return PyModule_AddFunctions(module, blocked_functions);
}

void pyg_blocked_free(pyg_state *st)
{
    if (st->blocked_lock_ready) {
        pthread_mutex_destroy(&st->blocked_lock);
        st->blocked_lock_ready = false;
    }
}

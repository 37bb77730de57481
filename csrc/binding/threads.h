/* Starting threads and holding SIGINT off while Python code must not be
   interrupted. */
#ifndef PYG_THREADS_H
#define PYG_THREADS_H

#include "state.h"

/* The books kept for a thread (threads.c): each is counted by the caller
   before pyg_start_thread and given back when the thread ends, or by
   pyg_start_thread when the thread will not run.  wg: one unit of a
   WaitGroup's counter; slots: one value in a Channel; threads: a set the
   thread is added to (by pyg_start_thread) while it lives; undo(undo_arg):
   the caller's own count, given back only if the thread will not run (the
   thread's target gives it back otherwise). */
typedef struct {
    PyObject *wg, *slots, *threads;
    void (*undo)(void *);
    void *undo_arg;
} pyg_thread_books;

/* SIGINT held off on the main thread while Python code that must not be
   interrupted runs (threading's Thread.start() in particular): its Python
   handler is swapped for one that only notes the signal, and put back by
   pyg_let_sigint_in, which raises the signal again if one came, for the
   handler to run at the next check.  Elsewhere, or when SIGINT has no
   Python handler, nothing is swapped.  A signal already pending runs its
   handler first: if that raises, pyg_hold_off_sigint returns -1 with the
   exception set and nothing swapped, unless must_run: then the exception
   is kept for pyg_let_sigint_in to raise (the caller's code runs all the
   same, for bookkeeping that must happen).  pyg_let_sigint_in keeps a
   pending exception. */
typedef struct {
    PyObject *signal_module;
    PyObject *handler; /* the one held off, or NULL: nothing swapped */
    PyObject *raised;  /* must_run: what a pending handler raised, or NULL */
} pyg_held_sigint;
int pyg_hold_off_sigint(pyg_state *st, pyg_held_sigint *held, bool must_run);
void pyg_let_sigint_in(pyg_state *st, pyg_held_sigint *held);
/* fn(*args) between the two above; NULL with an exception if either fn or
   a handler pending before it raised.  called (unless NULL): fn ran. */
PyObject *pyg_call_holding_sigint(pyg_state *st, bool must_run, PyObject *fn,
                                  PyObject *const *args, size_t nargs, bool *called);

/* Start threading.Thread(target=<runner>, name=name, daemon=daemon) whose
   runner calls target(*args) and then gives back books.  No signal handler
   can leave the books half-kept: 0, started; -1, not started, the books
   given back, exception set; 1, started but Thread.start() raised after
   the thread began (Ctrl-C): the thread runs and settles, the exception is
   set for the caller to propagate.  *thread_out (if not NULL) gets the
   Thread on 0 and 1. */
int pyg_start_thread(pyg_state *st, const pyg_thread_books *books,
                     PyObject *target, PyObject *args, PyObject *name,
                     PyObject *daemon, PyObject **thread_out);

#endif

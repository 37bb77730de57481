/* pygochan._core: module state and multi-phase initialisation. */
#include "select.h"
#include "future.h"
#include "debug/blocked.h"
#include "deferred.h"

static int read_main_thread_ident(pyg_state *st)
{
    /* Signal handlers run only on the main thread; only there do waits
       come back in slices to run them.  The module may be imported from any
       thread, so ask threading which one is main. */
    PyObject *threading = PyImport_ImportModule("threading");
    if (!threading)
        return -1;
    PyObject *main_thread = PyObject_CallMethod(threading, "main_thread", NULL);
    Py_DECREF(threading);
    if (!main_thread)
        return -1;
    PyObject *ident = PyObject_GetAttrString(main_thread, "ident");
    Py_DECREF(main_thread);
    if (!ident)
        return -1;
    st->main_thread_ident = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    return PyErr_Occurred() ? -1 : 0;
}

/* After fork() the forking thread is the child's main thread. */
static PyObject *module_refresh_main_thread(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    pyg_blocked_after_fork(PyModule_GetState(module));
    if (read_main_thread_ident(PyModule_GetState(module)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef module_functions[] = {
    {"_refresh_main_thread", module_refresh_main_thread, METH_NOARGS,
     "Re-read which thread is main (after fork, in the child)."},
    {NULL, NULL, 0, NULL}};

static int module_exec(PyObject *module)
{
    pyg_state *st = PyModule_GetState(module);
    if (read_main_thread_ident(st) < 0 || !(st->owner = pyg_owner_new()))
        return -1;
    st->channel_closed = PyErr_NewExceptionWithDoc(
        "pygochan.ChannelClosed",
        "Raised by a send on a closed channel, a second close, and a recv on\n"
        "a closed and drained channel (like Go's panics and `ok == false`).",
        PyExc_Exception, NULL);
    if (!st->channel_closed)
        return -1;
    Py_INCREF(st->channel_closed);
    if (PyModule_AddObject(module, "ChannelClosed", st->channel_closed) < 0) {
        Py_DECREF(st->channel_closed);
        return -1;
    }
    if (PyModule_AddIntConstant(module, "UNBOUNDED", GC_UNBOUNDED) < 0)
        return -1;
    /* Threads of a subinterpreter must end with it (Py_EndInterpreter
       refuses to finish while any runs): the Python layer starts them
       non-daemon there, and stops its own at exit. */
    if (PyModule_AddIntConstant(module, "_IN_MAIN_INTERPRETER",
                                PyInterpreterState_Get() ==
                                    PyInterpreterState_Main()) < 0)
        return -1;
    if (PyModule_AddFunctions(module, module_functions) < 0)
        return -1;
    if (pyg_channel_init_type(module, st) < 0 ||
        pyg_select_init_types(module, st) < 0 ||
        pyg_select_result_init(module, st) < 0 ||
        pyg_stats_init(module, st) < 0 || pyg_trace_init(module, st) < 0 ||
        pyg_timer_init_types(module, st) < 0 ||
        pyg_context_init(module, st) < 0 || pyg_sync_init(module, st) < 0 ||
        pyg_future_init(module, st) < 0 ||
        pyg_future_cf_init(st, st->future_base_type) < 0 ||
        pyg_pool_init(module, st) < 0 ||
        pyg_views_init(module, st) < 0 || pyg_blocked_init(module, st) < 0 ||
        pyg_aio_init(module, st) < 0 || pyg_start_init(module, st) < 0 ||
        pyg_semaphore_init(module, st) < 0 || pyg_bubble_init(module, st) < 0)
        return -1;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    pyg_state *st = PyModule_GetState(module);
    Py_VISIT(st->channel_type);
    Py_VISIT(st->recv_case_type);
    Py_VISIT(st->send_case_type);
    Py_VISIT(st->select_result_type);
    Py_VISIT(st->channel_stats_type);
    Py_VISIT(st->timer_type);
    Py_VISIT(st->ticker_type);
    Py_VISIT(st->context_type);
    Py_VISIT(st->canceled);
    Py_VISIT(st->deadline_exceeded);
    Py_VISIT(st->background);
    Py_VISIT(st->after_func_queue);
    Py_VISIT(st->after_func_runner);
    Py_VISIT(st->channel_closed);
    Py_VISIT(st->channel_iter_type);
    Py_VISIT(st->thread_runner_type);
    Py_VISIT(st->sigint_noter);
    Py_VISIT(st->semaphore_base_type);
    Py_VISIT(st->deadlock);
    Py_VISIT(st->deadlock_reporter);
    Py_VISIT(st->deadlock_ignored);
    Py_VISIT(st->hub_type);
    Py_VISIT(st->aop_type);
    Py_VISIT(st->channel_aiter_type);
    Py_VISIT(st->bubble_type);
    Py_VISIT(st->bubble_member_type);
    int r = pyg_aio_traverse(st, visit, arg);
    if (r)
        return r;
    return pyg_sync_traverse(st, visit, arg);
}

static int module_clear(PyObject *module)
{
    pyg_state *st = PyModule_GetState(module);
    Py_CLEAR(st->channel_type);
    Py_CLEAR(st->recv_case_type);
    Py_CLEAR(st->send_case_type);
    Py_CLEAR(st->select_result_type);
    Py_CLEAR(st->channel_stats_type);
    Py_CLEAR(st->timer_type);
    Py_CLEAR(st->ticker_type);
    Py_CLEAR(st->context_type);
    Py_CLEAR(st->canceled);
    Py_CLEAR(st->deadline_exceeded);
    Py_CLEAR(st->background);
    Py_CLEAR(st->after_func_queue);
    Py_CLEAR(st->after_func_runner);
    Py_CLEAR(st->channel_closed);
    Py_CLEAR(st->channel_iter_type);
    Py_CLEAR(st->thread_runner_type);
    Py_CLEAR(st->sigint_noter);
    Py_CLEAR(st->semaphore_base_type);
    Py_CLEAR(st->deadlock);
    Py_CLEAR(st->deadlock_reporter);
    Py_CLEAR(st->deadlock_ignored);
    Py_CLEAR(st->hub_type);
    Py_CLEAR(st->aop_type);
    Py_CLEAR(st->channel_aiter_type);
    Py_CLEAR(st->bubble_type);
    Py_CLEAR(st->bubble_member_type);
    pyg_aio_clear(st);
    pyg_sync_clear(st);
    return 0;
}

static void module_free(void *module)
{
    pyg_state *st = PyModule_GetState((PyObject *)module);
    module_clear((PyObject *)module);
    if (st) {
        pyg_blocked_free(st);
        pyg_owner_close(st->owner);
        st->owner = NULL;
    }
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* Every binding object guards its own state (see pygochan.h), so a
       free-threaded interpreter keeps the GIL off when importing this. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};

PyDoc_STRVAR(module_doc,
"The C core of pygochan: channels and select.  Import pygochan instead.");

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pygochan._core",
    .m_doc = module_doc,
    .m_size = sizeof(pyg_state),
    .m_methods = pyg_select_functions,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}

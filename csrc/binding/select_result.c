/*
 * SelectResult: what select() returns, (index, value, ok) with named
 * fields.  A struct sequence (PyStructSequence_NewType), like
 * os.stat_result: a tuple subclass whose fields are read-only members, so
 * unpacking, indexing, ==, hashing, pickling (its __reduce__ gives
 * (SelectResult, ((index, value, ok), {})), found again as
 * pygochan.SelectResult) and SelectResult((index, value, ok)) are the
 * tuple's and the struct sequence's.  Added to the type here: _fields,
 * __match_args__ (3.9's struct sequences have none), a repr without the
 * module's name, SelectResult(index=0, value=1, ok=True), and (3.10 on)
 * immutability.
 *
 * select() returns one on its fast path: pyg_select_result allocates it
 * (PyStructSequence_New from 3.14 on, see there) and stores the items
 * directly; no Python code runs.
 *
 * No locks: a SelectResult is immutable once built, and it is built in
 * full before anyone else can see it.  Ownership: st->select_result_type
 * is owned by the module state (made here, released by module_clear); each
 * SelectResult owns its three items, released by the struct sequence's
 * dealloc.
 */
#include "select.h"

static PyStructSequence_Field select_result_fields[] = {
    {"index", "Position of the chosen case, or -1 when default=True found none ready."},
    {"value", "The received value; None for a send case or a closed channel."},
    {"ok", "False when a recv case found its channel closed and drained."},
    {NULL, NULL}};

static PyStructSequence_Desc select_result_desc = {
    .name = "pygochan.SelectResult",
    .doc = "SelectResult(index, value, ok): what select() chose.\n\n"
           "    >>> index, value, ok = select(recv(ch), default=True)\n",
    .fields = select_result_fields,
    .n_in_sequence = 3, /* every field; no hidden ones */
};

/* Before 3.14 a struct sequence whose fields are all in the sequence is
   laid out exactly as a tuple (pyg_select_result_init checks), and
   PyStructSequence_New only allocates one: tp_alloc makes the same object
   without the two lookups in the type's dict PyStructSequence_New pays
   for, which measured 20 to 35 ns a select() on 3.9 to 3.13.  From 3.14 on
   a tuple also carries a hash cache, which PyStructSequence_New sets up
   and a zeroed tp_alloc object would leave at 0 (every result would hash
   to 0, unlike the equal tuple): there the API's way, about 11 ns a
   select() dearer than tp_alloc.  (Up to 3.11 the struct sequence's
   dealloc looks its size up in the dict too: select_result_dealloc
   replaces it there.) */
#if PY_VERSION_HEX >= 0x030E0000
#define NEW_SELECT_RESULT(type) PyStructSequence_New(type)
#else
#define NEW_SELECT_RESULT(type) ((type)->tp_alloc((type), 3))
#endif

/* value: a reference this function takes over (NULL means None). */
PyObject *pyg_select_result(pyg_state *st, int index, PyObject *value,
                            bool ok)
{
    PyObject *result = NEW_SELECT_RESULT(st->select_result_type);
    PyObject *index_obj = PyLong_FromLong(index);
    if (!result || !index_obj) {
        Py_XDECREF(result); /* its items are NULL: nothing to release */
        Py_XDECREF(index_obj);
        Py_XDECREF(value);
        return NULL;
    }
    /* PyStructSequence_SET_ITEM is this very store, but a function call
       from 3.13 on. */
    PyTuple_SET_ITEM(result, 0, index_obj);
    PyTuple_SET_ITEM(result, 1, value ? value : Py_NewRef(Py_None));
    PyTuple_SET_ITEM(result, 2, Py_NewRef(ok ? Py_True : Py_False));
    /* PyStructSequence_New leaves the object untracked by the collector
       (structseq's own constructor tracks it once filled in): untracked, a
       value that refers back to its SelectResult would never be
       collected.  tp_alloc tracks it already. */
    if (!PyObject_GC_IsTracked(result))
        PyObject_GC_Track(result);
    return result;
}

#if PY_VERSION_HEX < 0x030C0000
/* Up to 3.11 the struct sequence's dealloc looks the object's size up in
   the type's dict; a SelectResult's size is always its three items (every
   field is in the sequence), so its own dealloc releases them as a
   tuple's does: about 20 ns less per select(). */
static void select_result_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    for (Py_ssize_t i = 0; i < Py_SIZE(self); i++)
        Py_XDECREF(PyTuple_GET_ITEM(self, i));
    PyObject_GC_Del(self);
    Py_DECREF(type);
}
#endif

/* SelectResult(index=0, value=1, ok=True): the struct sequence's repr
   would start with tp_name, pygochan.SelectResult. */
static PyObject *select_result_repr(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromFormat("SelectResult(index=%R, value=%R, ok=%R)",
                                PyTuple_GET_ITEM(self, 0),
                                PyTuple_GET_ITEM(self, 1),
                                PyTuple_GET_ITEM(self, 2));
}

static PyMethodDef select_result_repr_def = {
    "__repr__", select_result_repr, METH_NOARGS, "Return repr(self)."};

/* type.name = value (a new reference, or NULL). */
static int set_type_attr(PyTypeObject *type, const char *name, PyObject *value)
{
    int rc = value ? PyObject_SetAttrString((PyObject *)type, name, value) : -1;
    Py_XDECREF(value);
    return rc;
}

int pyg_select_result_init(PyObject *module, pyg_state *st)
{
    PyTypeObject *type = PyStructSequence_NewType(&select_result_desc);
    if (!type)
        return -1;
    st->select_result_type = type;
#if PY_VERSION_HEX < 0x030E0000
    if (type->tp_basicsize != PyTuple_Type.tp_basicsize ||
        type->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyErr_SetString(PyExc_SystemError,
                        "pygochan.SelectResult is not laid out as a tuple");
        return -1;
    }
#endif
#if PY_VERSION_HEX < 0x030C0000
    type->tp_dealloc = select_result_dealloc; /* before any instance exists */
#endif
    /* Setting __repr__ points tp_repr at a lookup of it: repr() and
       SelectResult.__repr__ agree. */
    if (set_type_attr(type, "__repr__",
                      PyDescr_NewMethod(type, &select_result_repr_def)) < 0 ||
        set_type_attr(type, "_fields",
                      Py_BuildValue("(sss)", "index", "value", "ok")) < 0 ||
        set_type_attr(type, "__match_args__",
                      Py_BuildValue("(sss)", "index", "value", "ok")) < 0)
        return -1;
#ifdef Py_TPFLAGS_IMMUTABLETYPE
    /* Its n_fields and n_sequence_fields size instances (in
       PyStructSequence_New, and before 3.12 in the dealloc): an assignment
       to them would corrupt memory.  (3.9 has no immutable heap types.) */
    type->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
    PyType_Modified(type);
#endif
    return PyModule_AddType(module, type);
}

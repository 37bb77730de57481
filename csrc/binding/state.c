/* What the binding's files share of the module state (state.h). */
#include "state.h"

pyg_state *pyg_state_of_type(PyTypeObject *type)
{
    /* Python subclasses (Future, Pool) have no module of their own: find
       the base this module defined. */
    while (type->tp_base &&
           (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) ||
            ((PyHeapTypeObject *)type)->ht_module == NULL))
        type = type->tp_base;
    return (pyg_state *)PyType_GetModuleState(type);
}

/*
 * ChannelStats: what Channel.stats() returns.  A struct sequence
 * (PyStructSequence_NewType), like os.stat_result: a read-only tuple
 * subclass whose fields are also attributes.  Built from a gc_chan_stats
 * snapshot (gc_chan.h says what each count means and which lock guards it).
 *
 * No locks: a ChannelStats is immutable once built, and it is built in full
 * before anyone else can see it.  Ownership: st->channel_stats_type is
 * owned by the module state (made here, released by module_clear).
 */
#include "stats.h"

static PyStructSequence_Field channel_stats_fields[] = {
    {"sends", "Values that entered the channel by a successful send."},
    {"receives", "Values taken by a successful receive (not the closed-and-"
                 "empty answer; a value given back un-counts its receive)."},
    {"send_blocked_seconds",
     "Total seconds senders spent parked on this channel, whether their send "
     "completed, timed out or was interrupted; a select parked on several "
     "channels counts on each."},
    {"recv_blocked_seconds", "The same for receivers."},
    {"max_fill", "Highest number of values ever buffered (0 for unbuffered)."},
    {"senders_waiting", "Blocked send cases queued on the channel now."},
    {"receivers_waiting", "Blocked receive cases queued on the channel now."},
    {"capacity", "The buffer size: 0, n or UNBOUNDED (-1)."},
    {"length", "Values buffered now."},
    {"closed", "True once close() has been called."},
    {NULL, NULL}};

static PyStructSequence_Desc channel_stats_desc = {
    .name = "pygochan.ChannelStats",
    .doc = "ChannelStats: counters of one channel, from Channel.stats().\n\n"
           "    >>> s = ch.stats()\n"
           "    >>> s.sends - s.receives == s.length\n"
           "    True\n",
    .fields = channel_stats_fields,
    .n_in_sequence = 10, /* every field; no hidden ones */
};

PyObject *pyg_channel_stats_object(pyg_state *st, const gc_chan_stats *s,
                                   int64_t capacity)
{
    PyObject *result = PyStructSequence_New(st->channel_stats_type);
    if (!result)
        return NULL;
    PyObject *items[] = {
        PyLong_FromUnsignedLongLong(s->sends),
        PyLong_FromUnsignedLongLong(s->receives),
        PyFloat_FromDouble((double)s->send_blocked_ns / 1e9),
        PyFloat_FromDouble((double)s->recv_blocked_ns / 1e9),
        PyLong_FromSize_t(s->max_fill),
        PyLong_FromSize_t(s->senders_waiting),
        PyLong_FromSize_t(s->receivers_waiting),
        PyLong_FromLongLong(capacity),
        PyLong_FromSize_t(s->length),
        PyBool_FromLong(s->closed),
    };
    int failed = 0;
    for (Py_ssize_t i = 0; i < (Py_ssize_t)(sizeof items / sizeof *items); i++) {
        if (!items[i])
            failed = 1;
        /* Every slot filled (NULL included) so the dealloc releases all. */
        PyStructSequence_SetItem(result, i, items[i]);
    }
    if (failed) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

int pyg_stats_init(PyObject *module, pyg_state *st)
{
    PyTypeObject *type = PyStructSequence_NewType(&channel_stats_desc);
    if (!type)
        return -1;
    st->channel_stats_type = type;
#ifdef Py_TPFLAGS_IMMUTABLETYPE
    /* Its n_fields sizes instances: an assignment would corrupt memory. */
    type->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
    PyType_Modified(type);
#endif
    return PyModule_AddType(module, type);
}

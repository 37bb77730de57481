/* ChannelStats (stats.c): the struct sequence Channel.stats() returns. */
#ifndef PYG_STATS_H
#define PYG_STATS_H

#include "state.h"

/* A new ChannelStats from a snapshot, or NULL with an exception set. */
PyObject *pyg_channel_stats_object(pyg_state *st, const gc_chan_stats *s,
                                   int64_t capacity);

#endif

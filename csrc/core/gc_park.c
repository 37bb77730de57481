/* gc_park: what every platform shares (deadlines, the pre-sleep spin).  The
   park itself, the clock and gc_yield are in platform/: see gc_platform.h. */
#include "gc_park.h"

#include <math.h>

int64_t gc_deadline_after(double seconds)
{
    if (!(seconds < 9.0e9)) /* also catches +inf and NaN */
        return GC_FOREVER;
    int64_t now = gc_now_ns();
    if (seconds <= 0)
        return now; /* keeps the conversion below in range */
    double ns = ceil(seconds * 1e9);
    if (ns >= (double)(GC_FOREVER - now))
        return GC_FOREVER;
    return now + (int64_t)ns;
}

bool gc_spin_once(gc_spin *s)
{
    if (s->yields_left <= 0)
        return false;
    s->yields_left--;
    gc_yield();
    if ((s->now_ns = gc_real_now_ns()) >= s->until_ns)
        s->yields_left = 0; /* the caller checks once more, then sleeps */
    return true;
}

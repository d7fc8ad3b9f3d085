/* Counter updates: one reason per packet, no timestamps, no allocation. */
#ifndef QS_STATS_H
#define QS_STATS_H

#include "maps.h"

static __always_inline void count_reason(enum qs_reason reason, __u64 bytes)
{
	struct qs_counter *c = bpf_map_lookup_elem(&qs_stats, &reason);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

#endif /* QS_STATS_H */

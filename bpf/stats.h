/* Counter updates: one reason per packet, per-owner counters for steered packets; no timestamps, no allocation. */
#ifndef QS_STATS_H
#define QS_STATS_H

#include "maps.h"

static __always_inline void count(struct qs_counter *c, __u64 bytes)
{
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline void count_reason(enum qs_reason reason, __u64 bytes)
{
	__u32 key = reason;

	count(bpf_map_lookup_elem(&qs_stats, &key), bytes);
}

static __always_inline void count_server(__u32 slot, __u64 bytes)
{
	count(bpf_map_lookup_elem(&qs_server_stats, &slot), bytes);
}

#ifndef QS_NO_GQUIC
static __always_inline void count_gquic(__u32 form, enum qs_reason reason, __u64 bytes)
{
	__u32 key = form * QS_GQUIC_REASON_SLOTS + reason;

	count(bpf_map_lookup_elem(&qs_gquic_stats, &key), bytes);
}
#endif

#endif /* QS_STATS_H */

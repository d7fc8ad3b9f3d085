/* Benchmark floors (make bench): the least any XDP program and any steering program cost, from the project's own parsers. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "parsing.h"

// Frames the sink received, per CPU: the delivered rate of a live-frames run into a veth.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_rx SEC(".maps");

// The cheapest possible program.
SEC("xdp")
int floor_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

// The least steering does: parse Ethernet/IPv4/UDP, rewrite both MACs, XDP_TX (no lookups, no counters).
SEC("xdp")
int floor_tx(struct xdp_md *ctx)
{
	static const __u8 owner[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0xa2 };
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor nh = { .pos = (void *)(long)ctx->data };
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;

	if (parse_ethhdr(&nh, data_end, &eth) != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (parse_iphdr(&nh, data_end, &ip) != IPPROTO_UDP)
		return XDP_PASS;
	if (parse_udphdr(&nh, data_end, &udp) == QS_PARSE_TRUNCATED)
		return XDP_PASS;
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, owner, ETH_ALEN);
	return XDP_TX;
}

// On the receiving veth of a live-frames run: counts every frame and drops it (NAPI must run there).
SEC("xdp")
int floor_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&floor_rx, &zero);

	if (n)
		(*n)++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

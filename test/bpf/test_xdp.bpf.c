/* Test-only XDP programs: a MAC-swapping reflector (XDP_TX), a receive counter for the peer, a pass-only floor. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>

// Test frames carry the IEEE "local experimental" EtherType, so stray traffic (IPv6 ND) is not counted.
#define TEST_ETH_P 0x88B5

// Test frames seen by test_count; one slot, read by the tests.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} test_rx SEC(".maps");

// A plain hash map for the generic map API tests (typed access, batches, update modes).
struct test_key {
	__u32 id;
	__u16 port;
	__u8 family;
	__u8 pad;
};

struct test_value {
	__u64 count;
	__u8 mac[6];
	__u16 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct test_key);
	__type(value, struct test_value);
} test_hash SEC(".maps");

SEC("xdp")
int test_reflect(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

SEC("xdp")
int test_count(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	__u32 key = 0;
	__u64 *n;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(TEST_ETH_P))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&test_rx, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_DROP;
}

// The floor for steering: parse Ethernet/IPv4/UDP, rewrite both MACs, XDP_TX; the least any steering costs.
SEC("xdp")
int test_floor_tx(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;
	static const unsigned char owner[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0xa2 };

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, owner, ETH_ALEN);
	return XDP_TX;
}

// The cheapest possible program: the floor benchmarks report ratios against.
SEC("xdp")
int test_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Test-only XDP programs: a MAC-swapping reflector (XDP_TX), a receive counter for the peer, a pass-only program. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

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

// Returns XDP_PASS only (e.g. on a veth peer, so NAPI runs there and XDP_TX frames get delivered).
SEC("xdp")
int test_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

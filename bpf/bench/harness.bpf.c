/*
 * make bench's restoring harness: BPF_PROG_TEST_RUN with `repeat` runs one buffer again and again, so
 * a program that rewrites the frame would see its own output from the 2nd run on (a steered frame's
 * new source MAC is a peer's: the loop guard fires). This program puts the Ethernet addresses the
 * row's frame had back, then tail-calls the program under test (bench_progs[0]); its own cost is
 * measured in the same run (tail-calling floor_pass) and subtracted.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

// The frame's destination and source MACs, as the row's fixture has them.
struct bench_eth {
	__u8 addrs[2 * ETH_ALEN];
	__u8 pad[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_eth);
} bench_eth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} bench_progs SEC(".maps");

SEC("xdp")
int bench_restore(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	const struct bench_eth *e = bpf_map_lookup_elem(&bench_eth, &zero);

	if (!e || data + 2 * ETH_ALEN > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, e->addrs, 2 * ETH_ALEN);
	bpf_tail_call(ctx, &bench_progs, 0);
	return XDP_ABORTED;   /* no program in the slot */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

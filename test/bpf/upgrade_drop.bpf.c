/*
 * The upgrade test's broken build: named like the shipped program, so `quicsteer attach` swaps it in,
 * and it drops every frame. Swapped in for a moment under a stream, it must show up as lost frames.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int quicsteer_xdp(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

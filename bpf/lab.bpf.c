/*
 * The lab's helper (quicsteer demo, end-to-end tests): an XDP program that passes every frame.
 * Frames sent with XDP_TX or redirected into a veth are delivered only when the peer device runs
 * NAPI, which an attached XDP program turns on; on a bridge's veth ports this one does just that.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int lab_napi_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

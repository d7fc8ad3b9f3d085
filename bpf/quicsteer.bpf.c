/* XDP entry point: parse to UDP, match a VIP, account every packet under one reason. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parsing.h"
#include "stats.h"

static __always_inline enum qs_reason classify(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor nh = { .pos = (void *)(long)ctx->data };
	struct qs_vip_key vk = {};
	struct ethhdr *eth;
	struct iphdr *ip;
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	int proto;

	proto = parse_ethhdr(&nh, data_end, &eth);
	if (proto == QS_PARSE_TRUNCATED)
		return QS_R_MALFORMED;

	if (proto == bpf_htons(ETH_P_IP)) {
		proto = parse_iphdr(&nh, data_end, &ip);
		if (proto == QS_PARSE_TRUNCATED)
			return QS_R_MALFORMED;
		if (proto != IPPROTO_UDP)
			return QS_R_NOT_VIP;
		if (ipv4_is_fragment(ip))
			return QS_R_FRAGMENT;
		vk.family = QS_FAMILY_IPV4;
		__builtin_memcpy(vk.addr, &ip->daddr, sizeof(ip->daddr));
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ip6hdr(&nh, data_end, &ip6);
		if (proto == QS_PARSE_TRUNCATED)
			return QS_R_MALFORMED;
		if (proto == IPPROTO_FRAGMENT)
			return QS_R_FRAGMENT;
		if (proto == IPPROTO_HOPOPTS || proto == IPPROTO_ROUTING || proto == IPPROTO_DSTOPTS ||
		    proto == IPPROTO_AH || proto == IPPROTO_MH)
			return QS_R_IPV6_EXT;
		if (proto != IPPROTO_UDP)
			return QS_R_NOT_VIP;
		vk.family = QS_FAMILY_IPV6;
		__builtin_memcpy(vk.addr, &ip6->daddr, sizeof(ip6->daddr));
	} else {
		return QS_R_NOT_VIP;
	}

	if (parse_udphdr(&nh, data_end, &udp) == QS_PARSE_TRUNCATED)
		return QS_R_MALFORMED;
	vk.port = udp->dest;
	if (!bpf_map_lookup_elem(&qs_vips, &vk))
		return QS_R_NOT_VIP;
	return QS_R_VIP;
}

SEC("xdp")
int quicsteer_xdp(struct xdp_md *ctx)
{
	enum qs_reason reason = classify(ctx);

	count_reason(reason, ctx->data_end - ctx->data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Cursor-based header parsers for Ethernet (+ up to two VLAN tags), IPv4, IPv6 and UDP. */
#ifndef QS_PARSING_H
#define QS_PARSING_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// 802.1Q and 802.1ad stacked tags the parser walks through (QinQ).
#ifndef QS_MAX_VLAN_DEPTH
#define QS_MAX_VLAN_DEPTH 2
#endif

// IPv4 "more fragments" flag and offset mask (network order applied at use).
#define QS_IP_MF 0x2000
#define QS_IP_OFFSET 0x1FFF

// Parse result that is not a protocol number: the header is cut short.
#define QS_PARSE_TRUNCATED (-1)

/* Where parsing stands in the packet: every parser advances pos past the header it read. */
struct hdr_cursor {
	void *pos;
};

struct qs_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Ethernet and up to QS_MAX_VLAN_DEPTH VLAN tags: returns the inner EtherType (network order)
 * or QS_PARSE_TRUNCATED; *eth points at the Ethernet header.
 */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end, struct ethhdr **eth)
{
	struct ethhdr *e = nh->pos;
	struct qs_vlan_hdr *vlh;
	__u16 h_proto;
	int i;

	if ((void *)(e + 1) > data_end)
		return QS_PARSE_TRUNCATED;
	nh->pos = e + 1;
	*eth = e;
	h_proto = e->h_proto;

#pragma unroll
	for (i = 0; i < QS_MAX_VLAN_DEPTH; i++) {
		if (!proto_is_vlan(h_proto))
			break;
		vlh = nh->pos;
		if ((void *)(vlh + 1) > data_end)
			return QS_PARSE_TRUNCATED;
		h_proto = vlh->encap_proto;
		nh->pos = vlh + 1;
	}
	return h_proto;
}

/* IPv4 with any IHL: returns the L4 protocol or QS_PARSE_TRUNCATED (also for IHL < 5). */
static __always_inline int parse_iphdr(struct hdr_cursor *nh, void *data_end, struct iphdr **iph)
{
	struct iphdr *ip = nh->pos;
	int hdrsize;

	if ((void *)(ip + 1) > data_end)
		return QS_PARSE_TRUNCATED;
	hdrsize = ip->ihl * 4;
	if (hdrsize < (int)sizeof(*ip))
		return QS_PARSE_TRUNCATED;
	if (nh->pos + hdrsize > data_end)
		return QS_PARSE_TRUNCATED;
	nh->pos += hdrsize;
	*iph = ip;
	return ip->protocol;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(QS_IP_MF | QS_IP_OFFSET)) != 0;
}

/* IPv6 fixed header: returns nexthdr (extension headers are the caller's call) or QS_PARSE_TRUNCATED. */
static __always_inline int parse_ip6hdr(struct hdr_cursor *nh, void *data_end, struct ipv6hdr **ip6h)
{
	struct ipv6hdr *ip6 = nh->pos;

	if ((void *)(ip6 + 1) > data_end)
		return QS_PARSE_TRUNCATED;
	nh->pos = ip6 + 1;
	*ip6h = ip6;
	return ip6->nexthdr;
}

/* UDP: returns the UDP length claimed by the header, or QS_PARSE_TRUNCATED. */
static __always_inline int parse_udphdr(struct hdr_cursor *nh, void *data_end, struct udphdr **udph)
{
	struct udphdr *h = nh->pos;

	if ((void *)(h + 1) > data_end)
		return QS_PARSE_TRUNCATED;
	nh->pos = h + 1;
	*udph = h;
	return bpf_ntohs(h->len);
}

#endif /* QS_PARSING_H */

/* XDP entry point: parse to a VIP's QUIC packet, read the server ID from its DCID, steer it to the owner. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parsing.h"
#include "quic.h"
#include "cid.h"
#include "stats.h"
#include "table.h"

/*
 * make bench's cost breakdown builds this file with -DQS_BENCH_STOP=N (1..7): a packet's work ends
 * after stage N (1 parse, 2 VIP lookup, 3 QUIC header, 4 server ID, 5 owner lookup, 6 loop guard,
 * 7 MAC rewrite) with XDP_TX, and nothing is counted. The shipped build has no stop.
 */
#ifdef QS_BENCH_STOP
#define QS_R_BENCH_STOP QS_R_MAX
// keep: what the stage produced; it escapes, so clang cannot drop the work that made it
#define bench_stop(n, keep)                                    \
	do {                                                   \
		if ((n) == QS_BENCH_STOP) {                    \
			asm volatile("" ::"r"(keep) : "memory"); \
			return QS_R_BENCH_STOP;                \
		}                                              \
	} while (0)
#else
#define bench_stop(n, keep) do { } while (0)
#endif

// IPv6 next-header values that are extension headers (RFC 8200 4, IANA): passed, not parsed.
static __always_inline int ipv6_is_ext(int nexthdr)
{
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_ESP:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* Shim6 */
	case 253: /* experimental */
	case 254:
		return 1;
	}
	return 0;
}

// A UDP datagram to a VIP: where its payload is and how long the UDP header says it is.
struct qs_pkt {
	struct ethhdr *eth;
	__u8 *payload;
	__u32 plen;
	const struct qs_vip *vip;
};

/* Ethernet / VLAN / IP / UDP up to the VIP lookup: QS_CONTINUE with *pkt set, or the reason to pass. */
static __always_inline int parse_to_vip(struct xdp_md *ctx, __u32 gen, struct qs_pkt *pkt)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor nh = { .pos = (void *)(long)ctx->data };
	// written as whole words only (see qs_word); IPv4 leaves words 1..3 zero
	union {
		struct qs_vip_key key;
		__u32 w[sizeof(struct qs_vip_key) / 4];
	} vk __attribute__((aligned(8))) = {};
	struct iphdr *ip;
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	__u32 ulen, family;
	int proto;

	proto = parse_ethhdr(&nh, data_end, &pkt->eth);
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
		family = QS_FAMILY_IPV4;
		vk.w[0] = ip->daddr;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ip6hdr(&nh, data_end, &ip6);
		if (proto == QS_PARSE_TRUNCATED)
			return QS_R_MALFORMED;
		if (proto == IPPROTO_FRAGMENT)
			return QS_R_FRAGMENT;
		if (ipv6_is_ext(proto))
			return QS_R_IPV6_EXT;
		if (proto != IPPROTO_UDP)
			return QS_R_NOT_VIP;
		family = QS_FAMILY_IPV6;
		vk.w[0] = ip6->daddr.in6_u.u6_addr32[0];
		vk.w[1] = ip6->daddr.in6_u.u6_addr32[1];
		vk.w[2] = ip6->daddr.in6_u.u6_addr32[2];
		vk.w[3] = ip6->daddr.in6_u.u6_addr32[3];
	} else {
		return QS_R_NOT_VIP;
	}

	if (parse_udphdr(&nh, data_end, &udp) == QS_PARSE_TRUNCATED)
		return QS_R_MALFORMED;
	bench_stop(1, udp);
	// port (network order as on the wire), family, pad: the key's last word, little-endian
	vk.w[4] = (__u32)udp->dest | family << 16;
	pkt->vip = vip_lookup(gen, &vk.key);
	if (!pkt->vip)
		return QS_R_NOT_VIP;
	// The UDP length, not the frame, bounds the payload (frames may carry Ethernet padding).
	// The explicit upper bound is for older verifiers (6.1): the length is spilled across the VIP
	// lookup as 32 bits, and they forget a 32-bit spill's bounds; barrier_var keeps clang from
	// dropping a check it knows to be true.
	ulen = bpf_ntohs(udp->len);
	barrier_var(ulen);
	if (ulen < sizeof(*udp) || ulen > 0xffff || (void *)udp + ulen > data_end)
		return QS_R_MALFORMED;
	pkt->payload = nh.pos;
	pkt->plen = ulen - sizeof(*udp);
	return QS_CONTINUE;
}

// What happens to the packet: the verdict, and the owner's counter slot when steered.
struct qs_verdict {
	int action;
	__u32 slot;
};

/* The whole decision: returns the packet's reason; *v holds the XDP action (and slot if steered). */
static __always_inline enum qs_reason decide(struct xdp_md *ctx, struct qs_verdict *v)
{
	const __u8 *data_end = (const __u8 *)(long)ctx->data_end;
	struct qs_server_id sid __attribute__((aligned(8))) = {};
	union {
		struct qs_mac_key key;
		__u32 w[2];
	} peer __attribute__((aligned(8)));
	const struct qs_live *live = live_state();
	const struct qs_server *srv;
	struct qs_dcid dcid;
	struct qs_pkt pkt;
	__u32 gen;
	int r;

	if (!live)
		return QS_R_NOT_VIP;   /* unreachable: a one-entry array always has entry 0 */
	gen = live->gen & (QS_GENERATIONS - 1);

	r = parse_to_vip(ctx, gen, &pkt);
	if (r != QS_CONTINUE)
		return r;
	bench_stop(2, pkt.vip);
	r = parse_quic(pkt.payload, pkt.plen, data_end, &dcid);
	if (r != QS_CONTINUE)
		return r;
	bench_stop(3, &dcid);
	r = decode_sid(pkt.payload, pkt.plen, data_end, &dcid, pkt.vip, live, gen, &sid);
	if (r != QS_CONTINUE)
		return r;
	bench_stop(4, &sid);

	if (keys_equal(&sid, &live->local_id[gen_index(gen)], sizeof(sid)))
		return QS_R_LOCAL;
	srv = server_lookup(gen, &sid);
	if (!srv)
		return QS_R_UNKNOWN_SERVER;
	if (srv->state == QS_SERVER_DRAIN)
		return QS_R_PEER_DRAIN;
	if (srv->state != QS_SERVER_UP)
		return QS_R_PEER_DOWN;
	bench_stop(5, srv);

	// Only frames about to be steered pay for the loop-guard lookup.
	peer.w[0] = *(const __u32 *)pkt.eth->h_source;
	peer.w[1] = *(const __u16 *)(pkt.eth->h_source + 4);
	if (is_peer(live, gen, &peer.key))
		return QS_R_LOOP_GUARD;
	bench_stop(6, srv);

	if (srv->ifindex == 0 || srv->ifindex == ctx->ingress_ifindex) {
		// back out where it came in: our MAC is the one the frame was sent to
		__builtin_memcpy(pkt.eth->h_source, pkt.eth->h_dest, ETH_ALEN);
		v->action = XDP_TX;
	} else {
		// redirect first: if the egress port is missing, the frame goes up untouched
		if (bpf_redirect_map(&qs_tx_ports, srv->ifindex, XDP_PASS) != XDP_REDIRECT)
			return QS_R_NO_EGRESS;
		__builtin_memcpy(pkt.eth->h_source, srv->src_mac, ETH_ALEN);
		v->action = XDP_REDIRECT;
	}
	__builtin_memcpy(pkt.eth->h_dest, srv->mac, ETH_ALEN);
	v->slot = srv->slot;
	bench_stop(7, pkt.eth);
	return QS_R_STEERED;
}

SEC("xdp")
int quicsteer_xdp(struct xdp_md *ctx)
{
	struct qs_verdict v = { .action = XDP_PASS };
	__u64 bytes = ctx->data_end - ctx->data;
	enum qs_reason reason;

	btf_anchor();
	reason = decide(ctx, &v);
#ifdef QS_BENCH_STOP
	return reason == QS_R_BENCH_STOP ? XDP_TX : XDP_DROP;
#endif

	count_reason(reason, bytes);
	if (reason == QS_R_STEERED)
		count_server(v.slot, bytes);
	return v.action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* XDP entry point: parse to a VIP's QUIC packet, read the server ID from its DCID, steer it to the owner. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parsing.h"
#include "quic.h"
#include "cid.h"
#ifndef QS_NO_GQUIC
#include "gquic.h"
#endif
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

/*
 * Ethernet / VLAN / IP / UDP up to the VIP lookup: QS_CONTINUE with *pkt set, or the reason to pass.
 * find_vip (a constant): 0 skips the lookup (pkt->vip NULL), for a frame whose VIP was found already.
 */
static __always_inline int parse_to_vip(struct xdp_md *ctx, __u32 gen, struct qs_pkt *pkt, const int find_vip)
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
	pkt->vip = find_vip ? vip_lookup(gen, &vk.key) : NULL;
	if (find_vip && !pkt->vip)
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

// What happens to the packet: the verdict, the owner's counter slot when steered, and the gQUIC
// form it is counted under (QS_GQ_NONE: not gQUIC).
struct qs_verdict {
	int action;
	__u32 slot;
	__u32 form;
};

/* Whether a server ID is this server's own (local IDs live in qs_live, one per generation). */
static __always_inline int is_local(const struct qs_live *live, __u32 gen, const struct qs_server_id *sid)
{
	return keys_equal(sid, &live->local_id[gen_index(gen)], sizeof(*sid));
}

/*
 * From a server ID on: local, the owner's state, the loop guard, and the MAC rewrite (XDP_TX or a
 * devmap redirect). srv: sid's server entry when the caller has it (then sid is not local), else NULL.
 */
static __always_inline enum qs_reason steer(struct xdp_md *ctx, struct ethhdr *eth, const struct qs_live *live,
					    __u32 gen, const struct qs_server_id *sid, const struct qs_server *srv,
					    struct qs_verdict *v)
{
	union {
		struct qs_mac_key key;
		__u32 w[2];
	} peer __attribute__((aligned(8)));

	if (!srv) {
		if (is_local(live, gen, sid))
			return QS_R_LOCAL;
		srv = server_lookup(gen, sid);
		if (!srv)
			return QS_R_UNKNOWN_SERVER;
	}
	if (srv->state == QS_SERVER_DRAIN)
		return QS_R_PEER_DRAIN;
	if (srv->state != QS_SERVER_UP)
		return QS_R_PEER_DOWN;
	bench_stop(5, srv);

	// Only frames about to be steered pay for the loop-guard lookup.
	peer.w[0] = *(const __u32 *)eth->h_source;
	peer.w[1] = *(const __u16 *)(eth->h_source + 4);
	if (is_peer(live, gen, &peer.key))
		return QS_R_LOOP_GUARD;
	bench_stop(6, srv);

	if (srv->ifindex == 0 || srv->ifindex == ctx->ingress_ifindex) {
		// back out where it came in: our MAC is the one the frame was sent to
		__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
		v->action = XDP_TX;
	} else {
		// redirect first: if the egress port is missing, the frame goes up untouched
		if (bpf_redirect_map(&qs_tx_ports, srv->ifindex, XDP_PASS) != XDP_REDIRECT)
			return QS_R_NO_EGRESS;
		__builtin_memcpy(eth->h_source, srv->src_mac, ETH_ALEN);
		v->action = XDP_REDIRECT;
	}
	__builtin_memcpy(eth->h_dest, srv->mac, ETH_ALEN);
	v->slot = srv->slot;
	bench_stop(7, eth);
	return QS_R_STEERED;
}

#ifndef QS_NO_GQUIC
// qs_gquic_decide()'s answer in one int: what to do (QS_GQ_DO_*), the gQUIC form the packet is
// counted under (QS_GQ_NONE as 7), and a reason (QS_GQ_DO_PASS) or a Maglev slot (QS_GQ_DO_RING).
#define QS_GQ_DO_PASS 0   /* pass with the reason */
#define QS_GQ_DO_ID 1     /* steer by the server ID the IETF layout read */
#define QS_GQ_DO_RING 2   /* steer to the owner at the Maglev slot */
#define QS_GQ_PACK_FORM_SHIFT 2
#define QS_GQ_PACK_ARG_SHIFT 5
#define QS_GQ_PACK_NONE 7
_Static_assert(QS_GQ_FORMS < QS_GQ_PACK_NONE, "forms fit 3 bits");
_Static_assert(QS_GQUIC_RING < 1 << (31 - QS_GQ_PACK_ARG_SHIFT), "slots fit");

static __always_inline int gquic_pack(__u32 what, __u32 form, __u32 arg)
{
	return (int)(what | (form == QS_GQ_NONE ? QS_GQ_PACK_NONE : form) << QS_GQ_PACK_FORM_SHIFT | arg << QS_GQ_PACK_ARG_SHIFT);
}

/*
 * What becomes of a gQUIC VIP's packet once decode_sid() read its CID as a short header's (r: its
 * result, *ietf: the ID it read): the header is read again, and an IETF long header keeps r. Any
 * other form goes by the ID the IETF layout read when this server or the server table knows it;
 * else a Q043 header's refusal (h.stop) stands; else the owner of its 8-byte client CID, at a slot
 * of the Maglev table (the caller reads it).
 *
 * A global function, so the verifier walks it once, with r and the ID unknown: inlined, it was
 * walked again for every way decode_sid() ends (AES, cache, each reason), and the program passed
 * the verifier's million-instruction bound. It finds the UDP payload again (no VIP lookup): the
 * caller passing the payload's offset made that offset, which differs with every VLAN and IP
 * header shape, a value the verifier told states apart by, which blew up decode_sid() the same
 * way. It reads *ietf and writes nothing of the caller's. Returns gquic_pack().
 */
__attribute__((noinline)) int qs_gquic_decide(struct xdp_md *ctx, int r, const struct qs_server_id *ietf)
{
	const struct qs_live *live = live_state();
	const __u8 *data_end;
	struct qs_gquic_hdr h;
	struct qs_pkt pkt;
	int reason, known;
	__u32 gen;

	if (!live || !ietf)
		return gquic_pack(QS_GQ_DO_PASS, QS_GQ_NONE, QS_R_MALFORMED);   /* unreachable */
	gen = live->gen & (QS_GENERATIONS - 1);
	// the lookups first, while little else is live: values kept across them take stack, and this
	// frame and the program's share 512 bytes (the kfunc build's program takes 440)
	known = r == QS_CONTINUE && (is_local(live, gen, ietf) || server_lookup(gen, ietf));

	data_end = (const __u8 *)(long)ctx->data_end;
	reason = parse_to_vip(ctx, gen, &pkt, 0);
	if (reason == QS_CONTINUE)
		reason = parse_gquic(pkt.payload, pkt.plen, data_end, &h);
	if (reason != QS_CONTINUE)
		return gquic_pack(QS_GQ_DO_PASS, h.form, reason);   /* unreachable: the caller read it */

	if (h.form == QS_GQ_NONE) {
		// an IETF long header: the IETF layout's answer
		if (r != QS_CONTINUE)
			return gquic_pack(QS_GQ_DO_PASS, QS_GQ_NONE, r);
		return gquic_pack(QS_GQ_DO_ID, QS_GQ_NONE, 0);
	}
	if (known) {
		// an ID this server knows: IETF QUIC, Q050 with a server-chosen CID, or a greased IETF
		// header read as Q043; counted as gQUIC only under a gQUIC version
		return gquic_pack(QS_GQ_DO_ID, h.form == QS_GQ_Q046 || h.form == QS_GQ_Q050 ? h.form : QS_GQ_NONE, 0);
	}
	if (h.stop)
		return gquic_pack(QS_GQ_DO_PASS, h.form, h.stop);
	if (!gquic_has_cid(&h, pkt.plen)) {
		// a short header too short for a client CID is no gQUIC packet
		if (h.form == QS_GQ_SHORT)
			return gquic_pack(QS_GQ_DO_PASS, QS_GQ_NONE, r == QS_CONTINUE ? QS_R_UNKNOWN_SERVER : r);
		return gquic_pack(QS_GQ_DO_PASS, h.form, QS_R_UNROUTABLE_CID);
	}
	reason = gquic_slot(pkt.payload + h.cid_off, data_end);
	if (reason < 0)
		return gquic_pack(QS_GQ_DO_PASS, h.form, QS_R_MALFORMED);   /* unreachable: checked above */
	return gquic_pack(QS_GQ_DO_RING, h.form, reason);
}

#endif /* QS_NO_GQUIC */

/* The whole decision: returns the packet's reason; *v holds the XDP action (and slot if steered). */
static __always_inline enum qs_reason decide(struct xdp_md *ctx, struct qs_verdict *v)
{
	const __u8 *data_end = (const __u8 *)(long)ctx->data_end;
	struct qs_server_id sid __attribute__((aligned(8))) = {};
	const struct qs_live *live = live_state();
	struct qs_dcid dcid;
	struct qs_pkt pkt;
	__u32 gen;
	int r;

	if (!live)
		return QS_R_NOT_VIP;   /* unreachable: a one-entry array always has entry 0 */
	gen = live->gen & (QS_GENERATIONS - 1);

	r = parse_to_vip(ctx, gen, &pkt, 1);
	if (r != QS_CONTINUE)
		return r;
	bench_stop(2, pkt.vip);
#ifndef QS_NO_GQUIC
	if (pkt.vip->cid_format & QS_VIP_F_GQUIC) {
		struct qs_gquic_hdr h;
		__u32 packed;

		r = parse_gquic(pkt.payload, pkt.plen, data_end, &h);
		if (r != QS_CONTINUE) {
			v->form = h.form;
			return r;
		}
		if (h.form == QS_GQ_NONE) {
			r = parse_quic(pkt.payload, pkt.plen, data_end, &dcid);
			if (r != QS_CONTINUE)
				return r;
		} else {
			// the IETF layout reads every gQUIC or short form's CID as a short header's: a
			// connection's long and short headers get the same answer from the same 8 bytes
			// (user space keeps the layout's read inside them)
			dcid.off = h.cid_off;
			dcid.len = QS_DCID_LEN_UNKNOWN;
		}
		r = decode_sid(pkt.payload, pkt.plen, data_end, &dcid, pkt.vip, live, gen, &sid);
		packed = qs_gquic_decide(ctx, r, &sid);
		v->form = packed >> QS_GQ_PACK_FORM_SHIFT & 7;
		if (v->form == QS_GQ_PACK_NONE)
			v->form = QS_GQ_NONE;
		switch (packed & ((1 << QS_GQ_PACK_FORM_SHIFT) - 1)) {
		case QS_GQ_DO_ID:
			return steer(ctx, pkt.eth, live, gen, &sid, NULL, v);
		case QS_GQ_DO_RING:
			r = gquic_owner(live, gen, packed >> QS_GQ_PACK_ARG_SHIFT, &sid);
			if (r != QS_CONTINUE)
				return r;
			return steer(ctx, pkt.eth, live, gen, &sid, NULL, v);
		}
		return packed >> QS_GQ_PACK_ARG_SHIFT;
	}
#endif

	r = parse_quic(pkt.payload, pkt.plen, data_end, &dcid);
	if (r != QS_CONTINUE)
		return r;
	bench_stop(3, &dcid);
	r = decode_sid(pkt.payload, pkt.plen, data_end, &dcid, pkt.vip, live, gen, &sid);
	if (r != QS_CONTINUE)
		return r;
	bench_stop(4, &sid);
	return steer(ctx, pkt.eth, live, gen, &sid, NULL, v);
}

SEC("xdp")
int quicsteer_xdp(struct xdp_md *ctx)
{
	struct qs_verdict v = { .action = XDP_PASS, .form = QS_GQ_NONE };
	__u64 bytes = ctx->data_end - ctx->data;
	int reason;

	btf_anchor();
	reason = decide(ctx, &v);
#ifdef QS_BENCH_STOP
	return reason == QS_R_BENCH_STOP ? XDP_TX : XDP_DROP;
#endif

	count_reason(reason, bytes);
#ifndef QS_NO_GQUIC
	if (v.form != QS_GQ_NONE)
		count_gquic(v.form, reason, bytes);
#endif
	if (reason == QS_R_STEERED)
		count_server(v.slot, bytes);
	return v.action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

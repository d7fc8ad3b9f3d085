/*
 * Google QUIC on a gQUIC VIP: how each first octet is read (Q043 public header, Q046/Q050 long
 * header, short header), and the owner of a client-chosen 8-byte CID (the Maglev table).
 * Read from google/quiche's quic_framer.cc (ProcessPublicHeader, ProcessIetfPacketHeader,
 * ProcessAndValidateIetfConnectionIdLength) and QuicUtils::IsIetfPacketHeader.
 */
#ifndef QS_GQUIC_H
#define QS_GQUIC_H

#include <linux/types.h>
#include "quicsteer.h"
#include "quic.h"
#include "table.h"

// Q043 public flags (the first octet of every Q043 packet).
#define GQUIC_PF_VERSION 0x01    /* the version follows the CID (client packets until the server agrees) */
#define GQUIC_PF_RESET 0x02      /* public reset (server to client) */
#define GQUIC_PF_CID 0x08        /* the 8-byte CID is present, at offset 1 */
#define GQUIC_PF_PN_SHIFT 4      /* bits 4-5: packet number length 1, 2, 4 or 6 */
// A first octet is a Q043 public header when neither the long-header bit nor the fixed bit is set
// and the CID bit is (IsIetfPacketHeader false): IETF short headers set the fixed bit.
#define GQUIC_PUBLIC_MASK (QUIC_LONG_HEADER | 0x40 | GQUIC_PF_CID)
#define GQUIC_PUBLIC (GQUIC_PF_CID)
// Q043: flags, CID, version
#define GQUIC_Q043_CID_END (1 + QS_GQUIC_CID_LEN)
#define GQUIC_Q043_VERSION_END (GQUIC_Q043_CID_END + 4)

/* Q043's packet number length from the public flags: 1, 2, 4 or 6 bytes. */
static __always_inline __u32 gquic_pn_len(__u8 flags)
{
	__u32 x = (flags >> GQUIC_PF_PN_SHIFT) & 3;

	return x == 3 ? 6 : 1 << x;
}

// How parse_gquic() read a packet: its form (QS_GQ_NONE: an IETF long header), where the CID is,
// and its length on the wire (Q046/Q050 long headers) or QS_DCID_LEN_UNKNOWN (Q043: 8; short: not on the wire).
// Bytes, not words: it lives on the stack of both the program and qs_gquic_decide(), whose stacks
// together must stay within 512 bytes (the kfunc build's program is the deepest).
struct qs_gquic_hdr {
	__u8 form;
	__u8 cid_off;
	__s8 cid_len;
	__u8 stop;    /* Q043: why its header refuses it (0: it does not), once no known ID claims it */
};

/*
 * Reads the header of a packet to a gQUIC VIP: QS_CONTINUE with *h set, or the reason to pass (with
 * h->form set when the version said which gQUIC it is). IETF long headers are QS_CONTINUE with
 * h->form QS_GQ_NONE: parse_quic() reads them, as on any VIP. A Q043 header's own refusal is
 * h->stop, not the return: it counts only when the CID names no known server.
 */
static __always_inline int parse_gquic(__u8 *payload, __u32 plen, const __u8 *data_end, struct qs_gquic_hdr *h)
{
	__u32 version, need, len;
	__u8 b0;

	h->form = QS_GQ_NONE;
	h->stop = 0;
	if (plen < 1)
		return QS_R_NOT_QUIC;
	if (payload + 1 > data_end)
		return QS_R_MALFORMED;
	b0 = payload[0];

	if (b0 & QUIC_LONG_HEADER) {
		if (plen < QUIC_LONG_VERSION_END || payload + QUIC_LONG_VERSION_END > data_end)
			return QS_R_MALFORMED;
		version = (__u32)payload[1] << 24 | (__u32)payload[2] << 16 | (__u32)payload[3] << 8 | payload[4];
		if (version != QS_GQUIC_Q046 && version != QS_GQUIC_Q050)
			return QS_CONTINUE;
		h->form = version == QS_GQUIC_Q046 ? QS_GQ_Q046 : QS_GQ_Q050;
		// a client never sends a Retry (google's framer refuses one from a client)
		if (((b0 & QUIC_LONG_TYPE_MASK) >> QUIC_LONG_TYPE_SHIFT) == QS_LT_RETRY)
			return QS_R_RETRY;
		if (plen < QUIC_LONG_DCID_OFF || payload + QUIC_LONG_DCID_OFF > data_end)
			return QS_R_MALFORMED;
		len = payload[QUIC_LONG_DCID_OFF - 1];
		if (version == QS_GQUIC_Q046) {
			// DCIL << 4 | SCIL: a length nibble is 0 (absent) or the length - 3
			len >>= 4;
			if (len)
				len += 3;
		} else if (len > QS_MAX_CID_LEN) {
			return QS_R_MALFORMED;
		}
		if (QUIC_LONG_DCID_OFF + len > plen)
			return QS_R_MALFORMED;
		h->cid_off = QUIC_LONG_DCID_OFF;
		h->cid_len = len;
		return QS_CONTINUE;
	}

	if ((b0 & GQUIC_PUBLIC_MASK) == GQUIC_PUBLIC) {
		// Checked here, applied later: a greased IETF short header reads as Q043 too (its 0x01
		// and 0x02 are packet-number bits), and a known server ID in its CID comes first
		h->form = QS_GQ_Q043;
		h->cid_off = QUIC_SHORT_DCID_OFF;
		h->cid_len = QS_GQUIC_CID_LEN;
		// the nonce flag (0x04) is ignored on client packets, as google's server does
		need = GQUIC_Q043_CID_END + (b0 & GQUIC_PF_VERSION ? 4 : 0) + (b0 & GQUIC_PF_RESET ? 0 : gquic_pn_len(b0));
		if ((b0 & (GQUIC_PF_VERSION | GQUIC_PF_RESET)) == (GQUIC_PF_VERSION | GQUIC_PF_RESET))
			h->stop = QS_R_MALFORMED;   /* a reset with a version: google's framer refuses it */
		else if (plen < need || payload + GQUIC_Q043_CID_END > data_end)
			h->stop = QS_R_MALFORMED;
		else if (b0 & GQUIC_PF_VERSION) {
			if (payload + GQUIC_Q043_VERSION_END > data_end)
				h->stop = QS_R_MALFORMED;
			else if (((__u32)payload[9] << 24 | (__u32)payload[10] << 16 | (__u32)payload[11] << 8 | payload[12]) != QS_GQUIC_Q043)
				h->stop = QS_R_UNKNOWN_VERSION;
		}
		return QS_CONTINUE;
	}

	// a short header: IETF, or Q046/Q050 (the same shape; no version on the wire)
	h->form = QS_GQ_SHORT;
	h->cid_off = QUIC_SHORT_DCID_OFF;
	h->cid_len = QS_DCID_LEN_UNKNOWN;
	return QS_CONTINUE;
}

/*
 * Whether the packet has the 8 client-chosen CID bytes the owner table is keyed by: Q043 always
 * (checked by the parser), Q046/Q050 long headers when the DCID is 8 bytes, short headers when the
 * payload reaches past them.
 */
static __always_inline int gquic_has_cid(const struct qs_gquic_hdr *h, __u32 plen)
{
	if (h->form == QS_GQ_SHORT)
		return plen >= QUIC_SHORT_DCID_OFF + QS_GQUIC_CID_LEN;
	return h->cid_len == QS_GQUIC_CID_LEN;
}

/* The Maglev slot of the 8-byte client CID at cid: qs_hash() of its two words, mod the table size (-1: the packet ends first). */
static __always_inline int gquic_slot(const __u8 *cid, const __u8 *data_end)
{
	qs_word w[2];

	if (cid + QS_GQUIC_CID_LEN > data_end)
		return -1;
	w[0] = *(const qs_word *)cid;
	w[1] = *(const qs_word *)(cid + 4);
	return qs_hash(w, 2) % QS_GQUIC_RING;
}

/*
 * The owner at slot of generation gen's Maglev table, into *sid: QS_CONTINUE, or
 * QS_R_UNKNOWN_SERVER when the table has no owner there (no server up).
 */
static __always_inline int gquic_owner(const struct qs_live *live, __u32 gen, __u32 slot, struct qs_server_id *sid)
{
	const struct qs_server_id *owner;
	__u32 i = gen_index(gen) * QS_GQUIC_RING + slot;

	owner = bpf_map_lookup_elem(&qs_gquic_ring, &i);
	if (!owner || owner->len == 0)
		return QS_R_UNKNOWN_SERVER;
	((qs_qword *)sid)[0] = ((const qs_qword *)owner)[0];
	((qs_qword *)sid)[1] = ((const qs_qword *)owner)[1];
	return QS_CONTINUE;
}

#endif /* QS_GQUIC_H */

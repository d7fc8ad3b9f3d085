/* Server-ID decoders, one per CID layout (enum qs_cid_format); encrypted QUIC-LB's is in quic_lb.h. */
#ifndef QS_CID_H
#define QS_CID_H

#include <linux/types.h>
#include "quicsteer.h"
#include "quic.h"
#include "table.h"
#include "quic_lb.h"

// QUIC-LB: the config-rotation bits are the first octet's top three.
#define QUIC_LB_CR_SHIFT 5

// mvfst: CID version in the first octet's top two bits; v0 carries no server ID.
#define MVFST_VERSION_SHIFT 6
#define MVFST_V1 1   /* 16-bit host id in bits 2..17 */
#define MVFST_V2 2   /* 24-bit host id in bytes 1..3 */
#define MVFST_V3 3   /* 32-bit host id in bytes 1..4 */
// mvfst's shortest CIDs (QuicConstants.h kMinSelfConnectionIdV*Size): mvfst refuses shorter ones
#define MVFST_V1_MIN_LEN 4
#define MVFST_V2_MIN_LEN 6
#define MVFST_V3_MIN_LEN 7

/*
 * Copies len (1..QS_MAX_SID_LEN) bytes at p into sid: QS_CONTINUE, or QS_R_MALFORMED if the packet
 * ends first (callers have checked the length already; this keeps the verifier's view exact).
 * A real QUIC packet has far more than 16 bytes from its server ID on (CID, packet number, AEAD
 * tag): it takes two 8-byte loads and two 8-byte stores, which the key's word loads forward from.
 */
static __always_inline int copy_sid(__u8 *p, __u32 len, const __u8 *data_end, struct qs_server_id *sid)
{
	__u32 i;

	if (p + 16 <= data_end) {
		sid_from_words(*(const qs_qword *)p, *(const qs_qword *)(p + 8), len, sid);
		return QS_CONTINUE;
	}
	// short packets: a bounded loop (verified as such since 5.3); early exits keep clang from
	// unrolling it. barrier_var hides i from clang, which would otherwise merge the two bounds into
	// one compare against min(len, 15) and walk a pointer: neither is something the 6.1 verifier can bound
	for (i = 0; i < QS_MAX_SID_LEN; i++) {
		barrier_var(i);
		if (i >= len)
			break;
		if (p + i + 1 > data_end)
			return QS_R_MALFORMED;
		sid->id[i] = p[i];
	}
	sid->len = len;
	return QS_CONTINUE;
}

/*
 * QUIC-LB: octet 0 picks the config; the server ID follows it, in clear or encrypted with the
 * config's key (the generation's key slots, its number for the decrypt-once cache: live, gen).
 */
static __always_inline int quic_lb_sid(__u8 *cid, __s32 wire_len, __u32 room, const __u8 *data_end,
				       const struct qs_vip *vip, const struct qs_live *live, __u32 gen,
				       struct qs_server_id *sid)
{
	const struct qs_quic_lb_conf *conf;
	__u32 cr, plain, need, encrypted;

	if (wire_len == QS_DCID_LEN_UNKNOWN ? room < 1 : wire_len < 1)
		return wire_len == QS_DCID_LEN_UNKNOWN ? QS_R_MALFORMED : QS_R_UNROUTABLE_CID;
	if (cid + 1 > data_end)
		return QS_R_MALFORMED;
	cr = cid[0] >> QUIC_LB_CR_SHIFT;
	// one register for the check and the index: the 6.1 verifier does not carry the bound to a copy
	barrier_var(cr);
	if (cr >= QS_QUIC_LB_CONFIGS)
		return QS_R_UNROUTABLE_CID;
	conf = &vip->quic_lb[cr];
	if (!(conf->flags & QS_LB_F_ENABLED))
		return QS_R_UNROUTABLE_CID;
	if (conf->sid_len < 1 || conf->sid_len > QS_MAX_SID_LEN)
		return QS_R_UNROUTABLE_CID;
	plain = conf->sid_len + conf->nonce_len;
	encrypted = conf->flags & QS_LB_F_ENCRYPTED;
	if (encrypted && (plain < QS_LB_MIN_PLAIN || plain > QS_LB_MAX_PLAIN))
		return QS_R_UNROUTABLE_CID;
	need = 1 + plain;
	if (wire_len == QS_DCID_LEN_UNKNOWN) {
		if (need > room)
			return QS_R_MALFORMED;
	} else if (need > (__u32)wire_len) {
		return QS_R_UNROUTABLE_CID;
	}
	if (encrypted)
		return quic_lb_decrypt_sid(cid + 1, data_end, conf, live, gen, sid);
	return copy_sid(cid + 1, conf->sid_len, data_end, sid);
}

/* A fixed offset and length inside the DCID (MsQuic SERVER_ID_FIXED / SERVER_ID_IP: offset 1, length 4). */
static __always_inline int fixed_sid(__u8 *cid, __u32 cid_len, const __u8 *data_end, const struct qs_vip *vip,
				     struct qs_server_id *sid)
{
	__u32 off = vip->sid_offset, len = vip->sid_len;

	if (len < 1 || len > QS_MAX_SID_LEN || off + len > cid_len)
		return QS_R_UNROUTABLE_CID;
	return copy_sid(cid + off, len, data_end, sid);
}

/* mvfst (Katran's layouts): the version in the top two bits says where the host id is. */
static __always_inline int mvfst_sid(__u8 *cid, __u32 cid_len, const __u8 *data_end, struct qs_server_id *sid)
{
	__u32 version, need, host;

	if (cid_len < 1)
		return QS_R_UNROUTABLE_CID;
	if (cid + 1 > data_end)
		return QS_R_MALFORMED;
	version = cid[0] >> MVFST_VERSION_SHIFT;
	if (version == 0)
		return QS_R_UNROUTABLE_CID;
	need = version == MVFST_V1 ? MVFST_V1_MIN_LEN : version == MVFST_V2 ? MVFST_V2_MIN_LEN : MVFST_V3_MIN_LEN;
	if (need > cid_len)
		return QS_R_UNROUTABLE_CID;
	if (version == MVFST_V1) {
		if (cid + 3 > data_end)
			return QS_R_MALFORMED;
		host = (cid[0] & 0x3f) << 10 | cid[1] << 2 | cid[2] >> 6;
		// length 2, then the host id big-endian: whole-word stores (see copy_sid)
		((qs_qword *)sid)[0] = 2 | (__u64)(host >> 8) << 8 | (__u64)(host & 0xff) << 16;
		((qs_qword *)sid)[1] = 0;
		return QS_CONTINUE;
	}
	return copy_sid(cid + 1, version + 1, data_end, sid);   /* v2: 3 bytes, v3: 4 */
}

/*
 * The server ID in the DCID, read by the VIP's layout: QS_CONTINUE with *sid set, QS_R_UNROUTABLE_CID,
 * or QS_R_MALFORMED when a short-header packet is shorter than the CID the layout says it carries.
 */
static __always_inline int decode_sid(__u8 *payload, __u32 plen, const __u8 *data_end, const struct qs_dcid *dcid,
				      const struct qs_vip *vip, const struct qs_live *live, __u32 gen,
				      struct qs_server_id *sid)
{
	__u8 *cid = payload + dcid->off;
	__u32 room = plen - dcid->off;   /* bytes the payload has from the DCID on */
	__u32 cid_len, format = vip->cid_format & QS_CID_FORMAT_MASK;

	if (format == QS_CID_QUIC_LB)
		return quic_lb_sid(cid, dcid->len, room, data_end, vip, live, gen, sid);

	if (dcid->len == QS_DCID_LEN_UNKNOWN) {
		cid_len = vip->dcid_len;
		if (cid_len > room)
			return QS_R_MALFORMED;
	} else {
		cid_len = dcid->len;
	}
	if (format == QS_CID_FIXED)
		return fixed_sid(cid, cid_len, data_end, vip, sid);
	if (format == QS_CID_MVFST)
		return mvfst_sid(cid, cid_len, data_end, sid);
	return QS_R_UNROUTABLE_CID;
}

#endif /* QS_CID_H */

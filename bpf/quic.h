/* QUIC header reading (RFC 8999 invariants, RFC 9000, RFC 9369 v2): where the DCID is, or why not to route. */
#ifndef QS_QUIC_H
#define QS_QUIC_H

#include <linux/types.h>
#include "quicsteer.h"

// Returned by the parsers when the packet goes on to the next stage (reasons are >= 0).
#define QS_CONTINUE (-1)

// Header form bit of the first octet (RFC 8999 5.1/5.2).
#define QUIC_LONG_HEADER 0x80
// Long-header packet type bits; their meaning depends on the version.
#define QUIC_LONG_TYPE_MASK 0x30
#define QUIC_LONG_TYPE_SHIFT 4

#define QUIC_VERSION_NEGOTIATION 0x00000000
#define QUIC_V1 0x00000001
#define QUIC_V2 0x6b3343cf
#define QUIC_DRAFT_29 0xff00001d

// Long header: first octet, version (4), DCID length (1), then the DCID.
#define QUIC_LONG_VERSION_END 5
#define QUIC_LONG_DCID_OFF 6
// Short header: first octet, then the DCID (its length is not on the wire).
#define QUIC_SHORT_DCID_OFF 1

// Long-header packet types in v1 order; v2 numbers them differently (RFC 9369 3.2).
enum qs_long_type {
	QS_LT_INITIAL = 0,
	QS_LT_ZERO_RTT = 1,
	QS_LT_HANDSHAKE = 2,
	QS_LT_RETRY = 3,
};

// Marks a short-header DCID: its length comes from the VIP's CID layout.
#define QS_DCID_LEN_UNKNOWN (-1)

struct qs_dcid {
	__u32 off;   /* DCID offset in the UDP payload */
	__s32 len;   /* from the wire (long header) or QS_DCID_LEN_UNKNOWN (short header) */
};

/*
 * Reads the QUIC header in the plen-byte UDP payload: returns QS_CONTINUE with *dcid set for
 * Handshake and short-header packets (the ones carrying a server-chosen DCID), else the reason to pass.
 */
static __always_inline int parse_quic(__u8 *payload, __u32 plen, const __u8 *data_end, struct qs_dcid *dcid)
{
	__u32 version;
	__u8 type, dcid_len;

	if (plen < 1)
		return QS_R_NOT_QUIC;
	if (payload + QUIC_SHORT_DCID_OFF > data_end)
		return QS_R_MALFORMED;
	if (!(payload[0] & QUIC_LONG_HEADER)) {
		dcid->off = QUIC_SHORT_DCID_OFF;
		dcid->len = QS_DCID_LEN_UNKNOWN;
		return QS_CONTINUE;
	}

	if (plen < QUIC_LONG_VERSION_END || payload + QUIC_LONG_VERSION_END > data_end)
		return QS_R_MALFORMED;
	version = (__u32)payload[1] << 24 | (__u32)payload[2] << 16 | (__u32)payload[3] << 8 | payload[4];
	type = (payload[0] & QUIC_LONG_TYPE_MASK) >> QUIC_LONG_TYPE_SHIFT;
	switch (version) {
	case QUIC_VERSION_NEGOTIATION:
		return QS_R_VERSION_NEGOTIATION;
	case QUIC_V1:
	case QUIC_DRAFT_29:
		break;
	case QUIC_V2:
		// v2: 0 Retry, 1 Initial, 2 0-RTT, 3 Handshake -> v1 order
		type = (type + 3) & 3;
		break;
	default:
		return QS_R_UNKNOWN_VERSION;
	}
	if (type == QS_LT_INITIAL)
		return QS_R_INITIAL;
	if (type == QS_LT_ZERO_RTT)
		return QS_R_ZERO_RTT;
	if (type == QS_LT_RETRY)
		return QS_R_RETRY;

	if (plen < QUIC_LONG_DCID_OFF || payload + QUIC_LONG_DCID_OFF > data_end)
		return QS_R_MALFORMED;
	dcid_len = payload[QUIC_LONG_DCID_OFF - 1];
	if (dcid_len > QS_MAX_CID_LEN || QUIC_LONG_DCID_OFF + dcid_len > plen)
		return QS_R_MALFORMED;
	dcid->off = QUIC_LONG_DCID_OFF;
	dcid->len = dcid_len;
	return QS_CONTINUE;
}

#endif /* QS_QUIC_H */

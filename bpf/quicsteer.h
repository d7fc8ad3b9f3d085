/* Structs, enums and limits shared by the XDP program and the control plane (mirrored in src/bpf/layout.ts, checked against BTF). */
#ifndef QUICSTEER_H
#define QUICSTEER_H

#include <linux/types.h>

// Longest server ID any supported CID layout carries (QUIC-LB allows 1..15 bytes).
#ifndef QS_MAX_SID_LEN
#define QS_MAX_SID_LEN 15
#endif

// Longest connection ID QUIC v1/v2 allow (RFC 9000 17.2): longer on the wire is malformed.
#define QS_MAX_CID_LEN 20

// QUIC-LB: the first octet's 3 config-rotation bits name one of 7 configs (0b111 = unroutable).
#define QS_QUIC_LB_CONFIGS 7

// Open-addressed tables (VIPs, servers, peers): a key's home slot is qs_hash(key) & (slots - 1), and
// a lookup probes at most QS_PROBES slots from there. User space builds each table whole, placing
// every key within that bound, into the inactive generation (see maps.h); slots are 4x the capacity.
#define QS_PROBES 8
#ifndef QS_VIP_SLOTS
#define QS_VIP_SLOTS 4096
#endif
#ifndef QS_SERVER_SLOTS
#define QS_SERVER_SLOTS 65536
#endif
#ifndef QS_PEER_SLOTS
#define QS_PEER_SLOTS 65536
#endif
// The loop guard's prefilter: 256 bits per generation, one set per peer MAC (at its hash's top
// byte); a frame whose source MAC's bit is clear is no peer's and skips the peer-set lookup.
#define QS_PEER_FILTER_BITS 256
#define QS_PEER_FILTER_WORDS (QS_PEER_FILTER_BITS / 64)
// Two generations of every table: one live, one being written (QS_GENERATIONS must stay 2: the
// live index is flipped with one write of one word).
#define QS_GENERATIONS 2
// Per-owner counter slots (one per server the table can hold).
#define QS_MAX_SERVERS (QS_SERVER_SLOTS / 4)

// qs_hash(): multiply-shift over 32-bit words (Dietzfelbinger): h = QS_HASH_B + the sum of
// QS_HASH_A<i> * word i, mod 2^64, folded to 32 bits (low half xor high half); a key's home slot is
// that & (slots - 1). Odd 64-bit constants (splitmix64 outputs); keys have at most 5 words.
#define QS_HASH_A0 0x736a5236b1b3f21dULL
#define QS_HASH_A1 0x84c546e7464c9effULL
#define QS_HASH_A2 0x6e9c83fcde518865ULL
#define QS_HASH_A3 0xd8eaa0713b69ae0dULL
#define QS_HASH_A4 0xa05b4878b46e466fULL
#define QS_HASH_B 0xde5f3ccf27497f49ULL

// Address family tags stored in qs_vip_key.family (not AF_* so the layout is OS independent).
enum qs_family {
	QS_FAMILY_IPV4 = 4,
	QS_FAMILY_IPV6 = 6,
};

// How the server ID sits inside the Destination Connection ID of a VIP's packets.
enum qs_cid_format {
	QS_CID_NONE = 0,
	QS_CID_QUIC_LB = 1,
	QS_CID_FIXED = 2,
	QS_CID_MVFST = 3,
};

// gQUIC on a VIP (opt-in): a flag in qs_vip.cid_format beside the IETF layout (the low 7 bits), so
// the VIP table's layout stays as it was (an upgrade keeps its pins).
#define QS_VIP_F_GQUIC 0x80
#define QS_CID_FORMAT_MASK 0x7f

// gQUIC connection IDs are 8 bytes, chosen by the client; their owner is the Maglev table's entry at
// qs_hash(the 8 bytes as 2 words) % QS_GQUIC_RING (a prime: the Maglev permutation needs one).
#define QS_GQUIC_CID_LEN 8
#define QS_GQUIC_RING 65537

// gQUIC version labels (big-endian on the wire): 'Q043', 'Q046', 'Q050'.
#define QS_GQUIC_Q043 0x51303433
#define QS_GQUIC_Q046 0x51303436
#define QS_GQUIC_Q050 0x51303530

// How a packet on a gQUIC VIP was read, for its per-form counters (qs_gquic_stats): a Q043 public
// header, a Q046 or Q050 long header, or a short header (Q046 and Q050 alike: no version on the wire).
enum qs_gquic_form {
	QS_GQ_Q043 = 0,
	QS_GQ_Q046 = 1,
	QS_GQ_Q050 = 2,
	QS_GQ_SHORT = 3,
	QS_GQ_FORMS,
	QS_GQ_NONE = 0xff,   /* not counted as gQUIC */
};
// qs_gquic_stats index: form * QS_GQUIC_REASON_SLOTS + reason (room for reasons added later)
#define QS_GQUIC_REASON_SLOTS 32

// Owner state: only QS_SERVER_UP receives steered packets.
enum qs_server_state {
	QS_SERVER_UP = 0,
	QS_SERVER_DOWN = 1,
	QS_SERVER_DRAIN = 2,
};

// Why a packet got its verdict: every packet is counted under exactly one reason.
enum qs_reason {
	QS_R_NOT_VIP = 0,              /* not IP/UDP, or UDP to an address:port that is no VIP */
	QS_R_MALFORMED = 1,            /* a header ends before the packet (or UDP length) says it does */
	QS_R_FRAGMENT = 2,             /* IPv4/IPv6 fragment: no whole UDP datagram to read */
	QS_R_IPV6_EXT = 3,             /* IPv6 extension headers: not parsed, passed */
	QS_R_NOT_QUIC = 4,             /* UDP to a VIP with an empty payload */
	QS_R_VERSION_NEGOTIATION = 5,  /* long header, version 0 */
	QS_R_UNKNOWN_VERSION = 6,      /* long header of a version other than v1, v2, draft-29 */
	QS_R_INITIAL = 7,              /* client-chosen DCID: the director's choice stands */
	QS_R_ZERO_RTT = 8,             /* client-chosen DCID too */
	QS_R_RETRY = 9,                /* server-to-client type: never routed */
	QS_R_UNROUTABLE_CID = 10,      /* the VIP's CID layout finds no server ID in this DCID */
	QS_R_LOCAL = 11,               /* the server ID is this server's own */
	QS_R_UNKNOWN_SERVER = 12,      /* no owner known for the server ID */
	QS_R_PEER_DOWN = 13,           /* owner marked down */
	QS_R_PEER_DRAIN = 14,          /* owner draining: keeps what reaches it, gets nothing steered */
	QS_R_LOOP_GUARD = 15,          /* a peer already steered this packet here: never re-steer */
	QS_R_NO_EGRESS = 16,           /* owner behind an interface missing from the tx-port devmap */
	QS_R_STEERED = 17,             /* sent to the owner (XDP_TX or devmap redirect) */
	QS_R_MAX,
};

// Key of the VIP table: IPv4 sits in addr[0..3] with the rest zero.
struct qs_vip_key {
	__u8 addr[16];
	__be16 port;
	__u8 family;     /* enum qs_family */
	__u8 pad;
};

// QUIC-LB config flags: ENCRYPTED configs decode with AES-128 (bpf/aes.h, bpf/quic_lb.h).
#define QS_LB_F_ENABLED 0x1
#define QS_LB_F_ENCRYPTED 0x2

// QUIC-LB keys are 16 bytes (AES-128); the encrypted octets after the first are 5..19 (sid + nonce).
#define QS_LB_KEY_LEN 16
#define QS_LB_MIN_PLAIN 5
#define QS_LB_MAX_PLAIN 19

// Distinct QUIC-LB keys per generation (slots of qs_keys): VIPs sharing a key share its slot.
#ifndef QS_MAX_KEYS
#define QS_MAX_KEYS 256
#endif

// One QUIC-LB configuration: lengths of the server ID and nonce after the first octet and, when
// ENCRYPTED, its key (user space's record of it, never read per packet) and the slot of qs_keys
// holding that key expanded for the data path.
struct qs_quic_lb_conf {
	__u8 sid_len;
	__u8 nonce_len;
	__u8 flags;      /* QS_LB_F_* */
	__u8 pad;
	__u32 key_slot;  /* ENCRYPTED: index into the generation's half of qs_keys */
	__u8 key[QS_LB_KEY_LEN];
};

// An AES-128 key expanded (by user space, src/quic/aes.ts): round keys as FIPS-197 words, each
// word's first byte in its most significant bits. dec[] is the equivalent inverse cipher's
// schedule in the order decryption uses it (round 10's key first, InvMixColumns on rounds 1..9).
struct qs_lb_key {
	__u32 enc[44];
	__u32 dec[44];
};

// Value of the VIP table: how to read the server ID from this VIP's connection IDs.
struct qs_vip {
	__u8 cid_format;    /* enum qs_cid_format */
	__u8 dcid_len;      /* QS_CID_FIXED / QS_CID_MVFST: short-header DCID length (not on the wire) */
	__u8 sid_offset;    /* QS_CID_FIXED: server ID offset inside the DCID */
	__u8 sid_len;       /* QS_CID_FIXED: server ID length */
	struct qs_quic_lb_conf quic_lb[QS_QUIC_LB_CONFIGS];
};

// A server ID as it appears in the CID (len bytes of id[], the rest zero): key of the server table.
struct qs_server_id {
	__u8 len;
	__u8 id[QS_MAX_SID_LEN];
};

// The decrypt-once cache: per CPU, direct-mapped by a hash of the encrypted octets; an entry
// counts only under the generation number (epoch) and key slot and lengths it was decoded with.
#ifndef QS_LB_CACHE_SLOTS
#define QS_LB_CACHE_SLOTS 4096
#endif
struct qs_lb_cache_entry {
	__u64 epoch;                 /* qs_live.epoch[gen] when decoded: 0 = empty */
	__u64 ct[3];                 /* the encrypted octets (sid_len + nonce_len), zero-padded */
	__u32 tag;                   /* key_slot << 16 | sid_len << 8 | nonce_len */
	__u32 pad;
	struct qs_server_id sid;     /* what they decode to */
};

// Where a server ID's owner is reached, and where its counters live.
struct qs_server {
	__u8 mac[6];       /* owner's MAC: the new Ethernet destination */
	__u8 src_mac[6];   /* egress interface's MAC, for a devmap redirect (XDP_TX reuses the frame's own dst) */
	__u8 state;        /* enum qs_server_state */
	__u8 pad[3];
	__u32 ifindex;     /* egress interface; 0 = the one the packet came in on (XDP_TX) */
	__u32 slot;        /* index into qs_server_stats */
};

// Key of the peer set: source MACs of real servers, whose frames were steered already.
struct qs_mac_key {
	__u8 mac[6];
	__u8 pad[2];
};

// Table slots: a key and its value; used = 0 marks an empty slot (and ends a probe).
struct qs_vip_entry {
	struct qs_vip_key key;
	__u32 used;
	struct qs_vip vip;
};

struct qs_server_entry {
	struct qs_server_id key;
	__u32 used;
	struct qs_server server;
};

struct qs_peer_entry {
	struct qs_mac_key key;
	__u32 used;
};

// qs_config.state: a generation is COMPLETE only once every table of it was written; user space
// marks it WRITING first, so a writer killed midway leaves a generation the next one recognises.
enum qs_gen_state {
	QS_GEN_EMPTY = 0,
	QS_GEN_WRITING = 1,
	QS_GEN_COMPLETE = 2,
};

// Run-time settings of this real server, one per generation (the entry at the live index counts).
struct qs_config {
	struct qs_server_id local_id;   /* len 0: no local ID set, nothing is local */
	__u64 seq;                      /* generation number: +1 per published change */
	__u32 state;                    /* enum qs_gen_state */
	__u32 pad;
};

// Which generation the data path reads (single entry of qs_live): one aligned word, so a packet
// sees the old generation or the new one, never a mix. Each generation's local ID, loop-guard
// prefilter and number are here too (copies), so a packet finds them all with one lookup: user space writes the inactive
// generation's copy while `gen` still names the other one, and flips `gen` with the rest unchanged.
struct qs_live {
	__u32 gen;       /* 0 or 1: index of the live generation */
	__u32 pad;
	struct qs_server_id local_id[QS_GENERATIONS];   /* len 0: no local ID, nothing is local */
	/* generation g's words at [g * QS_PEER_FILTER_WORDS]: bit qs_hash(mac) >> 24 set per peer MAC */
	__u64 peer_filter[QS_GENERATIONS * QS_PEER_FILTER_WORDS];
	/* each generation's number (qs_config.seq): tags the decrypt-once cache's entries, so an
	   entry decoded under one generation's keys is never used under another's */
	__u64 epoch[QS_GENERATIONS];
};

// Packet and byte counter (per CPU in the maps, summed by the control plane).
struct qs_counter {
	__u64 packets;
	__u64 bytes;
};

#endif /* QUICSTEER_H */

/* Encrypted QUIC-LB (draft-ietf-quic-load-balancers-21): the server ID from a CID's encrypted octets, through the per-CPU decrypt-once cache. */
#ifndef QS_QUIC_LB_H
#define QS_QUIC_LB_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "quicsteer.h"
#include "quic.h"
#include "maps.h"
#include "table.h"
#include "aes.h"

/*
 * The octets are handled as little-endian words: byte i of the octets is bits 8*(i%8).. of word
 * i/8. A Feistel half (at most 10 octets) is two words; expand() puts it in the block's most
 * significant octets, i.e. the block's first bytes, which is where its words are stored.
 */

// One AES block on the stack, 8-byte aligned (bpf/aes.h), written and read as two words.
union qs_lb_block {
	__u8 b[16];
	__u64 q[2];
};

/*
 * Reads the len (5..19) encrypted octets at p into c[0..2], zero after the last: QS_CONTINUE, or
 * QS_R_MALFORMED if the packet ends first (callers checked the length already; this keeps the
 * verifier's view exact). A real QUIC packet has 16+ bytes after the CID (packet number, AEAD
 * tag): three word loads. Shorter ones go a byte at a time, as copy_sid's do.
 */
static __always_inline int lb_load_octets(const __u8 *p, __u32 len, const __u8 *data_end, __u64 *c)
{
	union {
		__u8 b[24];
		__u64 q[3];
	} buf __attribute__((aligned(8))) = {};
	__u32 i;

	if (p + 24 <= data_end) {
		c[0] = *(const qs_qword *)p & low_bytes((__s32)len);
		c[1] = *(const qs_qword *)(p + 8) & low_bytes((__s32)len - 8);
		c[2] = *(const qs_qword *)(p + 16) & low_bytes((__s32)len - 16);
		return QS_CONTINUE;
	}
	for (i = 0; i < QS_LB_MAX_PLAIN; i++) {
		barrier_var(i);
		if (i >= len)
			break;
		if (p + i + 1 > data_end)
			return QS_R_MALFORMED;
		buf.b[i] = p[i];
	}
	c[0] = buf.q[0];
	c[1] = buf.q[1];
	c[2] = buf.q[2];
	return QS_CONTINUE;
}

// x << (64 - s) for s in 0..63 (a shift by 64 is undefined in C and in BPF).
static __always_inline __u64 shl_rest(__u64 x, __u32 s)
{
	return (x << 1) << (63 - s);
}

// x >> (64 - s) for s in 0..63.
static __always_inline __u64 shr_rest(__u64 x, __u32 s)
{
	return (x >> 1) >> (63 - s);
}

/*
 * One pass of the draft's Feistel network: target ^= the first half-length octets of
 * AES-ECB(key, expand(len, pass, source)), masked (the mask keeps the half's octets and clears the
 * shared nibble of an odd length). Returns 0, or -1 when the block could not be encrypted.
 */
static __always_inline int lb_pass(__u32 index, const struct qs_lb_key *key, __u32 len, __u32 pass, __u64 src0,
				   __u64 src1, __u64 *dst0, __u64 *dst1, __u64 m0, __u64 m1)
{
	union qs_lb_block blk __attribute__((aligned(8)));

	// expand(): the half, zeros, then octet 14 = the length and octet 15 = the pass
	blk.q[0] = src0;
	blk.q[1] = src1 | (__u64)len << 48 | (__u64)pass << 56;
	if (qs_aes_encrypt(index, key, blk.b))
		return -1;
	*dst0 ^= blk.q[0] & m0;
	*dst1 ^= blk.q[1] & m1;
	return 0;
}

/*
 * The first 16 plaintext octets (server ID first) of the len encrypted octets c, as two words:
 * QS_CONTINUE, or QS_R_UNROUTABLE_CID when AES failed. One AES decryption when len is 16; else
 * the Feistel network run backwards, 3 passes when the server ID lies whole in the left half
 * (sid_len <= len / 2, rounded down), else 4.
 */
static __always_inline int lb_decrypt(__u32 index, const struct qs_lb_key *key, const __u64 *c, __u32 sid_len,
				      __u32 len, __u64 *p0, __u64 *p1)
{
	union qs_lb_block blk __attribute__((aligned(8)));
	__u64 l0, l1, r0, r1, ml0, ml1, mr0, mr1, a, b, d;
	__u32 half = (len + 1) >> 1, k = len >> 1, s;

	if (len == 16) {
		blk.q[0] = c[0];
		blk.q[1] = c[1];
		if (qs_aes_decrypt(index, key, blk.b))
			return QS_R_UNROUTABLE_CID;
		*p0 = blk.q[0];
		*p1 = blk.q[1];
		return QS_CONTINUE;
	}

	// each half is `half` octets: left = octets 0.., right = octets k.. (k = len - half)
	ml0 = mr0 = low_bytes((__s32)half);
	ml1 = mr1 = low_bytes((__s32)half - 8);
	if (len & 1) {
		// odd: the middle octet k is shared, the left half keeps its high nibble, the right its low one
		if (k < 8)
			ml0 &= ~(0x0fULL << 8 * k);
		else
			ml1 &= ~(0x0fULL << 8 * (k - 8));
		mr0 &= ~0xf0ULL;
	}
	l0 = c[0] & ml0;
	l1 = c[1] & ml1;
	a = c[0];
	b = c[1];
	d = c[2];
	if (k >= 8) {
		a = b;
		b = d;
		d = 0;
	}
	s = 8 * (k & 7);
	r0 = (a >> s | shl_rest(b, s)) & mr0;
	r1 = (b >> s | shl_rest(d, s)) & mr1;

	// passes 4, 3, 2 (and 1): left_1, right_1, left_0 (and right_0)
	if (lb_pass(index, key, len, 4, r0, r1, &l0, &l1, ml0, ml1) ||
	    lb_pass(index, key, len, 3, l0, l1, &r0, &r1, mr0, mr1) ||
	    lb_pass(index, key, len, 2, r0, r1, &l0, &l1, ml0, ml1))
		return QS_R_UNROUTABLE_CID;
	if (sid_len <= k) {
		*p0 = l0;
		*p1 = l1;
		return QS_CONTINUE;
	}
	if (lb_pass(index, key, len, 1, l0, l1, &r0, &r1, mr0, mr1))
		return QS_R_UNROUTABLE_CID;
	// join: the right half from octet k on (odd: its low nibble completes the shared octet)
	if (k >= 8) {
		*p0 = l0;
		*p1 = l1 | r0 << 8 * (k - 8);
	} else {
		*p0 = l0 | r0 << s;
		*p1 = l1 | r1 << s | shr_rest(r0, s);
	}
	return QS_CONTINUE;
}

// One more CID decrypted (qs_lb_decrypts): the slow path only, a cache hit counts nothing.
static __always_inline void count_decrypt(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&qs_lb_decrypts, &zero);

	if (n)
		(*n)++;
}

// The cache slot of encrypted octets: qs_hash's multiply-shift over their three words.
static __always_inline __u32 lb_cache_slot(const __u64 *c)
{
	__u64 h = QS_HASH_B + QS_HASH_A0 * c[0] + QS_HASH_A1 * c[1] + QS_HASH_A2 * c[2];

	return (h ^ h >> 32) & (QS_LB_CACHE_SLOTS - 1);
}

/*
 * The server ID of an encrypted config's CID, its octets at p (the caller checked the lengths and
 * that the CID holds them): QS_CONTINUE with *sid set, QS_R_UNROUTABLE_CID when the config's key
 * cannot be used, QS_R_MALFORMED if the packet ends first. The cache entry of the octets counts
 * only under the live generation's number and this config's key slot and lengths (the tag).
 */
static __always_inline int quic_lb_decrypt_sid(const __u8 *p, const __u8 *data_end, const struct qs_quic_lb_conf *conf,
					       const struct qs_live *live, __u32 gen, struct qs_server_id *sid)
{
	__u32 sid_len = conf->sid_len, nonce_len = conf->nonce_len, len = sid_len + nonce_len;
	__u32 slot = conf->key_slot, index;
	const struct qs_lb_key *key;
	__u64 c[3], p0, p1;
	int r;
#ifndef QS_LB_NO_CACHE
	struct qs_lb_cache_entry *e;
	__u32 tag, at;
	__u64 epoch;
#endif

	r = lb_load_octets(p, len, data_end, c);
	if (r != QS_CONTINUE)
		return r;
	// the lengths read again: the verifier leaves the short-packet loop knowing len exactly, and
	// states of different lengths would not be pruned
	sid_len = *(volatile const __u8 *)&conf->sid_len;
	nonce_len = *(volatile const __u8 *)&conf->nonce_len;
	len = sid_len + nonce_len;
	// one register for the check and the index (see quic_lb_sid's cr)
	barrier_var(slot);
	if (slot >= QS_MAX_KEYS)
		return QS_R_UNROUTABLE_CID;
#ifndef QS_LB_NO_CACHE
	tag = slot << 16 | sid_len << 8 | nonce_len;
	epoch = live->epoch[gen_index(gen)];
	at = lb_cache_slot(c);
	e = bpf_map_lookup_elem(&qs_lb_cache, &at);
	if (!e)
		return QS_R_UNROUTABLE_CID;   /* unreachable: the slot is inside the array */
	if (e->epoch == epoch && e->tag == tag && e->ct[0] == c[0] && e->ct[1] == c[1] && e->ct[2] == c[2]) {
		((qs_qword *)sid)[0] = ((const qs_qword *)&e->sid)[0];
		((qs_qword *)sid)[1] = ((const qs_qword *)&e->sid)[1];
		return QS_CONTINUE;
	}
#endif
	index = gen_index(gen) * QS_MAX_KEYS + slot;
	key = bpf_map_lookup_elem(&qs_keys, &index);
	if (!key)
		return QS_R_UNROUTABLE_CID;
	r = lb_decrypt(index, key, c, sid_len, len, &p0, &p1);
	if (r != QS_CONTINUE)
		return r;
	count_decrypt();
	sid_from_words(p0, p1, sid_len, sid);
#ifndef QS_LB_NO_CACHE
	// the number last: an entry is never matched half-written (XDP runs one packet at a time per CPU)
	e->epoch = 0;
	e->ct[0] = c[0];
	e->ct[1] = c[1];
	e->ct[2] = c[2];
	e->tag = tag;
	((qs_qword *)&e->sid)[0] = ((const qs_qword *)sid)[0];
	((qs_qword *)&e->sid)[1] = ((const qs_qword *)sid)[1];
	barrier();
	e->epoch = epoch;
#endif
	return QS_CONTINUE;
}

#endif /* QS_QUIC_LB_H */

/* Lookups in the open-addressed tables: hash the key's 32-bit words, probe at most QS_PROBES slots. */
#ifndef QS_TABLE_H
#define QS_TABLE_H

#include <bpf/bpf_core_read.h>
#include "maps.h"

/*
 * enum qs_reason is used by no map type at all: a local type-id relocation emits it into BTF (for
 * the TS layout check); it costs one load-immediate, kept by an empty asm.
 */
static __always_inline void btf_anchor(void)
{
	asm volatile("" ::"r"(bpf_core_type_id_local(enum qs_reason)));
	asm volatile("" ::"r"(bpf_core_type_id_local(enum qs_gen_state)));
	asm volatile("" ::"r"(bpf_core_type_id_local(enum qs_gquic_form)));
}

// Keys are hashed as whole 32-bit words: every key struct is a multiple of 4 bytes.
_Static_assert(sizeof(struct qs_vip_key) % 4 == 0, "qs_vip_key is hashed by words");
_Static_assert(sizeof(struct qs_server_id) % 4 == 0, "qs_server_id is hashed by words");
_Static_assert(sizeof(struct qs_mac_key) % 4 == 0, "qs_mac_key is hashed by words");

// Keys are read as words: without may_alias, clang's strict aliasing could move a key's field
// stores past the word loads (seen: every lookup missed). Callers build keys with whole-word
// stores: a word loaded over several narrow stores misses store forwarding (measured: ~20 ns).
typedef __u32 __attribute__((__may_alias__)) qs_word;
typedef __u64 __attribute__((__may_alias__)) qs_qword;

// The key's bytes 0..n-1 of a 64-bit word (n may be out of 0..8).
static __always_inline __u64 low_bytes(__s32 n)
{
	if (n <= 0)
		return 0;
	if (n >= 8)
		return ~0ULL;
	return (1ULL << (8 * n)) - 1;
}

/*
 * A server-table key from the ID's first 16 bytes as two little-endian words (w0: bytes 0..7):
 * key byte 0 is the length, bytes 1..len the ID, the rest zero; two whole-word stores.
 */
static __always_inline void sid_from_words(__u64 w0, __u64 w1, __u32 len, struct qs_server_id *sid)
{
	qs_qword *q = (qs_qword *)sid;

	q[0] = (w0 << 8 | len) & low_bytes((__s32)len + 1);
	q[1] = (w1 << 8 | w0 >> 56) & low_bytes((__s32)len + 1 - 8);
}

/*
 * qs_hash(): the same function user space places keys with (src/datapath/tables.ts). The products
 * are independent, so the hash costs one multiply's latency and an adder tree, not a multiply per
 * word in a chain; folding the high half into the low one breaks up the lattice a linear hash makes
 * of structured keys (IDs counting up in one byte), so they spread like random ones.
 */
static __always_inline __u32 qs_hash(const qs_word *w, int words)
{
	const __u64 a[5] = { QS_HASH_A0, QS_HASH_A1, QS_HASH_A2, QS_HASH_A3, QS_HASH_A4 };
	__u64 h = QS_HASH_B;
	int i;

#pragma unroll
	for (i = 0; i < words; i++)
		h += a[i] * w[i];
	return h ^ h >> 32;
}

/*
 * Whether two keys of `size` bytes (8, 16 or 20: a constant) are equal, compared in 8-byte words
 * without a loop (clang kept a 5-word loop rolled). Both are 8-byte aligned: table entries start
 * their map elements, and callers align their keys.
 */
static __always_inline int keys_equal(const void *a, const void *b, int size)
{
	const qs_qword *qa = a, *qb = b;
	__u64 diff = qa[0] ^ qb[0];

	if (size >= 16)
		diff |= qa[1] ^ qb[1];
	if (size == 20)
		diff |= ((const qs_word *)a)[4] ^ ((const qs_word *)b)[4];
	return diff == 0;
}

/*
 * A generation as an index into a map value (qs_live's per-generation fields): masked where it is
 * used. Clang knows the generation is 0 or 1 and would drop the mask; the 6.1 verifier loses that
 * bound when the value is spilled to the stack, and refuses the pointer arithmetic without it.
 */
static __always_inline __u32 gen_index(__u32 gen)
{
	barrier_var(gen);
	return gen & (QS_GENERATIONS - 1);
}

/* The live generation and local IDs: read once per packet, every lookup of the packet uses them (never NULL in practice). */
static __always_inline const struct qs_live *live_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&qs_live, &zero);
}

/*
 * Defines NAME(gen, key): the value for key in generation gen of the table MAP, or NULL, and
 * NAME_from(gen, key, hash) for a caller that has the key's hash already. The first empty slot ends
 * the probe: user space never leaves a gap inside a key's probe run.
 */
#define QS_TABLE_LOOKUP(NAME, MAP, KEY_T, ENTRY_T, VALUE_FIELD, VALUE_T, SLOTS)                  \
	static __always_inline const VALUE_T *NAME##_from(__u32 gen, const KEY_T *key, __u32 home) \
	{                                                                                       \
		__u32 base = (gen & (QS_GENERATIONS - 1)) * (SLOTS), i;                         \
                                                                                                \
		_Static_assert(sizeof(KEY_T) == 8 || sizeof(KEY_T) == 16 || sizeof(KEY_T) == 20, \
			       "keys_equal compares 8, 16 or 20 bytes");                        \
		for (i = 0; i < QS_PROBES; i++) {                                               \
			__u32 slot = base + ((home + i) & ((SLOTS) - 1));                       \
			const ENTRY_T *e = bpf_map_lookup_elem(&MAP, &slot);                    \
                                                                                                \
			if (!e || !e->used)                                                     \
				return NULL;                                                    \
			if (keys_equal(&e->key, key, sizeof(KEY_T)))                            \
				return &e->VALUE_FIELD;                                         \
		}                                                                               \
		return NULL;                                                                    \
	}                                                                                       \
	static __always_inline const VALUE_T *NAME(__u32 gen, const KEY_T *key)                 \
	{                                                                                       \
		return NAME##_from(gen, key, qs_hash((const qs_word *)key, sizeof(KEY_T) / 4)); \
	}

QS_TABLE_LOOKUP(vip_lookup, qs_vips, struct qs_vip_key, struct qs_vip_entry, vip, struct qs_vip, QS_VIP_SLOTS)
QS_TABLE_LOOKUP(server_lookup, qs_servers, struct qs_server_id, struct qs_server_entry, server, struct qs_server,
		QS_SERVER_SLOTS)
QS_TABLE_LOOKUP(peer_lookup, qs_peers, struct qs_mac_key, struct qs_peer_entry, key, struct qs_mac_key, QS_PEER_SLOTS)

/* Whether a source MAC is a peer's (the loop guard): the generation's prefilter first, then the peer set. */
static __always_inline int is_peer(const struct qs_live *live, __u32 gen, const struct qs_mac_key *mac)
{
	__u32 h = qs_hash((const qs_word *)mac, sizeof(*mac) / 4);
	__u32 bit = h >> 24, at = bit / 64;
	__u64 word;

	// opaque to clang, so it adds the two parts of the index instead of or-ing them (the 6.1
	// verifier loses the bounds of an or)
	barrier_var(at);
	word = live->peer_filter[gen_index(gen) * QS_PEER_FILTER_WORDS + at];

	_Static_assert(QS_PEER_FILTER_BITS == 256, "the filter bit is the hash's top byte");
	if (!(word >> (bit % 64) & 1))
		return 0;
	return peer_lookup_from(gen, mac, h) != NULL;
}

#endif /* QS_TABLE_H */

/* Test-only: one AES-128 block through bpf/aes.h's functions (the packet's first 16 bytes, the key expanded at aes_keys[0]): checked against node:crypto, and timed per block. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "quicsteer.h"
#include "aes.h"

// The key under test, expanded by user space (src/quic/aes.ts) as qs_keys holds it.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_lb_key);
} aes_keys SEC(".maps");

enum aes_op { AES_COPY, AES_ENCRYPT, AES_DECRYPT };

/* The block is copied to the stack (the interface works on an aligned stack block), processed, written back: XDP_TX, or XDP_ABORTED when it could not be. */
static __always_inline int one_block(struct xdp_md *ctx, enum aes_op op)
{
	__u8 *data = (__u8 *)(long)ctx->data, *end = (__u8 *)(long)ctx->data_end;
	union {
		__u8 b[16];
		__u64 q[2];
	} blk __attribute__((aligned(8)));
	__u32 zero = 0;
	const struct qs_lb_key *key = bpf_map_lookup_elem(&aes_keys, &zero);
	int r = 0;

	if (!key || data + 16 > end)
		return XDP_ABORTED;
	blk.q[0] = *(const __u64 *)data;
	blk.q[1] = *(const __u64 *)(data + 8);
	if (op == AES_ENCRYPT)
		r = qs_aes_encrypt(0, key, blk.b);
	else if (op == AES_DECRYPT)
		r = qs_aes_decrypt(0, key, blk.b);
	if (r)
		return XDP_ABORTED;
	*(__u64 *)data = blk.q[0];
	*(__u64 *)(data + 8) = blk.q[1];
	return XDP_TX;
}

// The floor of the timing: the same copies, no cipher.
SEC("xdp")
int aes_copy_block(struct xdp_md *ctx)
{
	return one_block(ctx, AES_COPY);
}

SEC("xdp")
int aes_encrypt_block(struct xdp_md *ctx)
{
	return one_block(ctx, AES_ENCRYPT);
}

SEC("xdp")
int aes_decrypt_block(struct xdp_md *ctx)
{
	return one_block(ctx, AES_DECRYPT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

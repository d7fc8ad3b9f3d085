/* Test-only (kfunc build): one AES-128 block from the packet through qs_aes_encrypt / qs_aes_decrypt, written back in place. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "aes.h"

// test_aes_frame.op: what to do with the block (NONE: the copies alone, the floor of a cost measurement)
enum test_aes_op {
	TEST_AES_NONE = 0,
	TEST_AES_ENCRYPT = 1,
	TEST_AES_DECRYPT = 2,
};

// The packet: which context (qs_crypto index), what to do, and the block (replaced by the result).
struct test_aes_frame {
	__u32 index;
	__u32 op;
	__u8 block[QS_LB_KEY_LEN];
};

// XDP_PASS: done, the block holds the result; XDP_DROP: the block function failed; XDP_ABORTED: bad frame.
SEC("xdp")
int test_aes_block(struct xdp_md *ctx)
{
	struct test_aes_frame *f = (void *)(long)ctx->data;
	__u8 block[QS_LB_KEY_LEN] __attribute__((aligned(8)));
	int r = 0;

	if ((void *)(f + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	__builtin_memcpy(block, f->block, QS_LB_KEY_LEN);
	if (f->op == TEST_AES_ENCRYPT)
		r = qs_aes_encrypt(f->index, 0, block);
	else if (f->op == TEST_AES_DECRYPT)
		r = qs_aes_decrypt(f->index, 0, block);
	else if (f->op != TEST_AES_NONE)
		return XDP_ABORTED;
	if (r)
		return XDP_DROP;
	__builtin_memcpy(f->block, block, QS_LB_KEY_LEN);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* AES-128 through the kernel's "ecb(aes)" (BPF crypto kfuncs, Linux >= 6.10): a context per key slot, set by a syscall program. */
#ifndef QS_AES_KFUNC_H
#define QS_AES_KFUNC_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "quicsteer.h"

/*
 * The kernel's types, declared here (no vmlinux.h: the object must build from the UAPI headers).
 * A kptr's struct is matched with vmlinux's by name and kind, so it must be a definition (an
 * empty one will do: the program never looks inside); the parameters' size is checked by
 * bpf_crypto_ctx_create, so theirs is kernel/bpf/crypto.c's exactly.
 */
struct bpf_crypto_ctx {
};

struct bpf_crypto_params {
	char type[14];
	__u8 reserved[2];
	char algo[128];
	__u8 key[256];
	__u32 key_len;
	__u32 authsize;
};

extern struct bpf_crypto_ctx *bpf_crypto_ctx_create(const struct bpf_crypto_params *params, __u32 params__sz, int *err) __ksym;
extern void bpf_crypto_ctx_release(struct bpf_crypto_ctx *ctx) __ksym;
extern int bpf_crypto_encrypt(struct bpf_crypto_ctx *ctx, const struct bpf_dynptr *src, const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv) __ksym;
extern int bpf_crypto_decrypt(struct bpf_crypto_ctx *ctx, const struct bpf_dynptr *src, const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv) __ksym;

// One key slot's context; NULL until user space sets it (a block with no context fails: unroutable).
struct qs_crypto_slot {
	struct bpf_crypto_ctx __kptr *ctx;
};

// The contexts, at the same index as qs_keys (generation * QS_MAX_KEYS + slot).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS * QS_MAX_KEYS);
	__type(key, __u32);
	__type(value, struct qs_crypto_slot);
} qs_crypto SEC(".maps");

// The block in and out: the crypto kfuncs take dynptrs, and bpf_dynptr_from_mem wants map memory.
struct qs_aes_scratch {
	__u8 in[QS_LB_KEY_LEN];
	__u8 out[QS_LB_KEY_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_aes_scratch);
} qs_aes_buf SEC(".maps");

// qs_crypto_args.op
enum qs_crypto_op {
	QS_CRYPTO_SET = 1,    /* make a context from key and put it at index (the old one is released) */
	QS_CRYPTO_CLEAR = 2,  /* release the context at index */
};

// The syscall program's argument (BPF_PROG_TEST_RUN's ctx_in; the kernel copies it back with err set).
struct qs_crypto_args {
	__u32 index;   /* generation * QS_MAX_KEYS + slot */
	__u32 op;      /* enum qs_crypto_op */
	__u8 key[QS_LB_KEY_LEN];   /* QS_CRYPTO_SET: zeroed by the program once used */
	__s32 err;     /* 0, or the negative errno */
};

/*
 * Sets or clears one slot's context. bpf_crypto_ctx_create may sleep, so only a syscall program
 * (sleepable, run by BPF_PROG_TEST_RUN) may call it; the XDP program only reads the slot.
 */
SEC("syscall")
int qs_crypto_set(struct qs_crypto_args *args)
{
	struct bpf_crypto_params params = {
		.type = "skcipher",
		.algo = "ecb(aes)",
		.key_len = QS_LB_KEY_LEN,
	};
	struct bpf_crypto_ctx *ctx = NULL, *old;
	struct qs_crypto_slot *slot;
	__u32 index = args->index;
	int err = -EINVAL;

	// op is a plain __u32: a local type-id relocation puts the enum into BTF (for the TS layout check)
	asm volatile("" ::"r"(bpf_core_type_id_local(enum qs_crypto_op)));
	slot = bpf_map_lookup_elem(&qs_crypto, &index);
	if (!slot) {
		err = -ERANGE;
		goto out;
	}
	if (args->op == QS_CRYPTO_SET) {
		__builtin_memcpy(params.key, args->key, QS_LB_KEY_LEN);
		ctx = bpf_crypto_ctx_create(&params, sizeof(params), &err);
		// the stack copy of the key goes now (the asm keeps clang from dropping a dead store)
		__builtin_memset(params.key, 0, QS_LB_KEY_LEN);
		asm volatile("" ::"r"(params.key) : "memory");
		if (!ctx) {
			if (!err)
				err = -ENOMEM;
			goto out;
		}
	} else if (args->op != QS_CRYPTO_CLEAR) {
		goto out;
	}
	old = bpf_kptr_xchg(&slot->ctx, ctx);
	// freed after an RCU grace period: a packet still using it finishes first
	if (old)
		bpf_crypto_ctx_release(old);
	err = 0;
out:
	// the kernel's copy of the argument (and so the caller's, copied back) keeps no key
	__builtin_memset(args->key, 0, QS_LB_KEY_LEN);
	args->err = err;
	return 0;
}

/* One block through the slot's context, in place: 0, or -1 (no context, or the cipher failed). */
static __always_inline int qs_aes_crypt(__u32 index, __u8 *block, int decrypt)
{
	struct bpf_dynptr src, dst, iv;
	struct qs_crypto_slot *slot;
	struct bpf_crypto_ctx *ctx;
	struct qs_aes_scratch *s;
	__u32 zero = 0;
	int err;

	slot = bpf_map_lookup_elem(&qs_crypto, &index);
	if (!slot)
		return -1;
	// an RCU-protected pointer: valid for this run even if the slot is replaced meanwhile
	ctx = slot->ctx;
	if (!ctx)
		return -1;
	s = bpf_map_lookup_elem(&qs_aes_buf, &zero);
	if (!s)
		return -1;
	__builtin_memcpy(s->in, block, QS_LB_KEY_LEN);
	bpf_dynptr_from_mem(s->in, QS_LB_KEY_LEN, 0, &src);
	bpf_dynptr_from_mem(s->out, QS_LB_KEY_LEN, 0, &dst);
	// ECB has no IV; 6.10's kfuncs take no NULL for it, so an empty one
	bpf_dynptr_from_mem(s->out, 0, 0, &iv);
	if (decrypt)
		err = bpf_crypto_decrypt(ctx, &src, &dst, &iv);
	else
		err = bpf_crypto_encrypt(ctx, &src, &dst, &iv);
	if (err)
		return -1;
	__builtin_memcpy(block, s->out, QS_LB_KEY_LEN);
	return 0;
}

// The interface of aes.h (key: the qs_keys entry, which only the table implementation reads).
static __always_inline int qs_aes_encrypt(__u32 index, const struct qs_lb_key *key, __u8 *block)
{
	return qs_aes_crypt(index, block, 0);
}

static __always_inline int qs_aes_decrypt(__u32 index, const struct qs_lb_key *key, __u8 *block)
{
	return qs_aes_crypt(index, block, 1);
}

#endif /* QS_AES_KFUNC_H */

/* AES-128 on one 16-byte block for the QUIC-LB decoder: the implementation this object is built with. */
#ifndef QS_AES_H
#define QS_AES_H

/*
 * Both implementations provide, for the key at qs_keys index `index` (generation * QS_MAX_KEYS +
 * slot; `key` is that entry, already looked up), working in place on an 8-byte-aligned stack block:
 *
 *   static __always_inline int qs_aes_encrypt(__u32 index, const struct qs_lb_key *key, __u8 *block);
 *   static __always_inline int qs_aes_decrypt(__u32 index, const struct qs_lb_key *key, __u8 *block);
 *
 * returning 0, or -1 when the block could not be processed (the packet is then unroutable).
 *   - table (default; every kernel quicsteer supports, 6.1 included): T-tables in .rodata, the
 *     schedules user space wrote into qs_keys (aes_table.h).
 *   - kfunc (-DQS_AES_KFUNC; Linux >= 6.10): the kernel's "ecb(aes)" through bpf_crypto_encrypt /
 *     bpf_crypto_decrypt, a context per key slot in qs_crypto (aes_kfunc.h).
 */
#ifdef QS_AES_KFUNC
#include "aes_kfunc.h"
#else
#include "aes_table.h"
#endif

#endif /* QS_AES_H */

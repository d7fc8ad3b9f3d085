/*
 * quicsteer CID kit: connection IDs a load balancer (quicsteer, or any QUIC-LB load balancer) can
 * route to the server that issued them. Header-only C99, also valid C11 and C++; needs only
 * <stddef.h>, <stdint.h> and <string.h>: no allocation, no global state, no I/O, thread-safe
 * (a configuration is read-only once initialised).
 *
 * SPDX-License-Identifier: Apache-2.0
 * Copyright the quicsteer authors. Apache-2.0, the project's licence.
 *
 * Layouts:
 *   QUIC-LB (draft-ietf-quic-load-balancers-21), plaintext or encrypted (AES-128: one block when
 *     server ID + nonce are 16 octets, else the draft's 4-pass Feistel network):
 *       octet 0  (config rotation << 5) | (CID length - 1)
 *       then     server ID (1..15) ‖ nonce (>= 4; server ID + nonce <= 19), encrypted with a key
 *       then     optional extra octets up to the CID length (<= 20), never encrypted
 *   MsQuic with load balancing on: 14 octets: 0 random, 1-4 server ID (as on the wire),
 *     5-6 partition ID (uint16, little-endian as MsQuic writes it on x86/ARM), 7-13 random.
 *   mvfst (Katran's layouts), 8 octets: the version in the top 2 bits of octet 0; v1: a 16-bit
 *     host ID in bits 2..17; v2: a 24-bit host ID in octets 1-3; v3: a 32-bit host ID in octets
 *     1-4 (big-endian); every other bit is the caller's random.
 *
 * Randomness: every function takes the random octets from the caller and never draws any itself.
 * The server already has a CSPRNG (its TLS library's, getrandom(2)): the kit need not pick one,
 * and tests can pass fixed bytes and get the same CID every time. Pass fresh CSPRNG output for
 * every CID: a repeated nonce repeats the CID (and, encrypted, tells an observer so).
 *
 * Errors: every encoder returns the CID's length (> 0), or a negative QSCID_E* code and writes
 * nothing. It never writes past cid_cap octets. The output may overlap the inputs.
 *
 * Constant time: the AES here (encryption only, all the draft needs) is bitsliced: no table
 * lookups and no branches that depend on the key or the data, in the key schedule too. The
 * encoders branch only on lengths and layout parameters, which are public. Not verified at the
 * machine-code level for every compiler. The price: measured with gcc 12 -O2 on x86-64, about
 * 3.5 us per AES block and 14 us per Feistel-encrypted CID (12 ns plaintext), paid once per CID
 * a server issues, never per packet.
 *
 * Usage, ngtcp2 (compiled against ngtcp2 0.12's header; quicsteer's own tests run the same calls
 * inside ngtcp2's example server through native/cidshim.c):
 *
 *     #include <quicsteer/cid.h>
 *
 *     static qscid_quic_lb lb;  // at startup: qscid_quic_lb_init(&lb, 0, 2, 6, 18, key16) == 0
 *     static const uint8_t server_id[2] = {0x0a, 0x0b};
 *
 *     // for ngtcp2_conn_server_new's scid, and for every NEW_CONNECTION_ID
 *     static int make_cid(ngtcp2_cid *cid, size_t cidlen)
 *     {
 *         uint8_t rnd[QSCID_MAX_LEN];
 *         size_t n = qscid_quic_lb_random_len(&lb);
 *         int len;
 *
 *         if (cidlen != lb.cid_len || getrandom(rnd, n, 0) != (ssize_t)n)
 *             return -1;
 *         len = qscid_quic_lb_encode(&lb, cid->data, sizeof(cid->data), server_id, sizeof(server_id), rnd, n);
 *         if (len < 0)
 *             return -1;
 *         cid->datalen = (size_t)len;
 *         return 0;
 *     }
 *
 *     static int get_new_connection_id(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
 *                                      size_t cidlen, void *user_data)
 *     {
 *         if (make_cid(cid, cidlen) != 0)
 *             return NGTCP2_ERR_CALLBACK_FAILURE;
 *         ... the stateless reset token, as the server makes it today ...
 *         return 0;
 *     }
 *
 * The configuration (cr, server ID length, nonce length, key) must be the one the load balancer
 * decodes with: quicsteer's `--cid quic-lb:sid=2,nonce=6,key-file=...` for the example above. The
 * CID length is the server's own (ngtcp2 asks for exactly that many octets); octets past the nonce
 * are random.
 */
#ifndef QUICSTEER_CID_H
#define QUICSTEER_CID_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest connection ID QUIC v1/v2 allow. */
#define QSCID_MAX_LEN 20
/* QUIC-LB bounds (draft-21): server ID 1..15 octets, nonce >= 4, server ID + nonce <= 19, cr 0..6
 * (7 marks an unroutable CID, which carries no server ID), AES-128 keys. */
#define QSCID_LB_MAX_SID 15
#define QSCID_LB_MIN_NONCE 4
#define QSCID_LB_MAX_PLAIN 19
#define QSCID_LB_MAX_CR 6
#define QSCID_LB_KEY_LEN 16
/* MsQuic with load balancing: 14-octet CIDs, a 4-octet server ID, 8 random octets. */
#define QSCID_MSQUIC_LEN 14
#define QSCID_MSQUIC_SID_LEN 4
#define QSCID_MSQUIC_RANDOM_LEN 8
/* mvfst: 8-octet CIDs (its own length), all 8 random before the version and host ID go in. */
#define QSCID_MVFST_LEN 8
#define QSCID_MVFST_RANDOM_LEN 8

/* Error codes (negative; success is the CID's length). */
#define QSCID_EPARAM (-1)  /* a configuration value out of range, a NULL pointer, or no configuration */
#define QSCID_ESPACE (-2)  /* the output buffer is shorter than the CID */
#define QSCID_ELEN (-3)    /* a server ID or random input of a length other than the layout takes */
#define QSCID_EHEX (-4)    /* qscid_hex_decode: a character that is not a hex digit */

/* AES-128 encryption key schedule, bitsliced: plane k of round r holds bit k of its 16 octets. */
typedef struct qscid_aes128 {
	uint32_t rk[11][8];
} qscid_aes128;

/* A QUIC-LB configuration; its key schedule is expanded once, by qscid_quic_lb_init. */
typedef struct qscid_quic_lb {
	uint8_t cr, sid_len, nonce_len, cid_len, encrypted;
	qscid_aes128 aes;
} qscid_quic_lb;

/* A short description of a QSCID_E* code (a static string). */
static inline const char *qscid_strerror(int rc)
{
	switch (rc) {
	case QSCID_EPARAM:
		return "parameter out of range";
	case QSCID_ESPACE:
		return "output buffer too short";
	case QSCID_ELEN:
		return "server ID or random input of the wrong length";
	case QSCID_EHEX:
		return "not hex digits";
	default:
		return rc >= 0 ? "no error" : "unknown error";
	}
}

/* Zeroes n octets through a volatile pointer, so the compiler keeps it (key material). */
static inline void qscid_wipe(void *p, size_t n)
{
	volatile uint8_t *v = (volatile uint8_t *)p;

	while (n--)
		*v++ = 0;
}

/* The value of one hex digit, or -1; no branch on the digit (it may be key material). */
static inline int qscid_hexval(char ch)
{
	int c = (unsigned char)ch;
	int d = c - '0', l = (c | 0x20) - 'a';
	int is_d = (unsigned)d <= 9u, is_l = (unsigned)l <= 5u;

	return (-is_d & d) | (-is_l & (l + 10)) | ((is_d | is_l) - 1);
}

/*
 * Hex text (len characters, both cases, nothing else: quicsteer's key files hold 32 such digits)
 * into out (cap octets): the number of octets, QSCID_ELEN for an odd length or more than cap octets
 * (out untouched), QSCID_EHEX for a non-hex character (out zeroed). Constant time in the digits.
 */
static inline int qscid_hex_decode(uint8_t *out, size_t cap, const char *hex, size_t len)
{
	int bad = 0;

	if (!out || !hex)
		return QSCID_EPARAM;
	if (len % 2 || len / 2 > cap)
		return QSCID_ELEN;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = qscid_hexval(hex[2 * i]), lo = qscid_hexval(hex[2 * i + 1]);
		bad |= hi | lo;
		out[i] = (uint8_t)(((hi & 0xf) << 4) | (lo & 0xf));
	}
	if (bad < 0) {
		qscid_wipe(out, len / 2);
		return QSCID_EHEX;
	}
	return (int)(len / 2);
}

/* ---- AES-128 encryption, bitsliced (FIPS-197) ---------------------------------------------- */

/* Octets (up to 16) into 8 planes: bit p of plane k = bit k of in[p]. */
static inline void qscid_slice(const uint8_t *in, size_t n, uint32_t s[8])
{
	for (int k = 0; k < 8; k++) {
		s[k] = 0;
		for (size_t p = 0; p < n; p++)
			s[k] |= (uint32_t)((in[p] >> k) & 1) << p;
	}
}

static inline void qscid_unslice(const uint32_t s[8], uint8_t *out, size_t n)
{
	for (size_t p = 0; p < n; p++) {
		uint8_t b = 0;
		for (int k = 0; k < 8; k++)
			b |= (uint8_t)(((s[k] >> p) & 1) << k);
		out[p] = b;
	}
}

/* Reduces a 15-plane product modulo the AES polynomial x^8 + x^4 + x^3 + x + 1 into out. */
static inline void qscid_gf_reduce(uint32_t t[15], uint32_t out[8])
{
	for (int k = 14; k >= 8; k--) {
		t[k - 4] ^= t[k];
		t[k - 5] ^= t[k];
		t[k - 7] ^= t[k];
		t[k - 8] ^= t[k];
	}
	for (int k = 0; k < 8; k++)
		out[k] = t[k];
}

/* GF(2^8) product of every octet position at once (out may be a or b). */
static inline void qscid_gf_mul(const uint32_t a[8], const uint32_t b[8], uint32_t out[8])
{
	uint32_t t[15] = {0};

	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			t[i + j] ^= a[i] & b[j];
	qscid_gf_reduce(t, out);
}

/* GF(2^8) square (linear: bit i moves to bit 2i, then the reduction). */
static inline void qscid_gf_sq(const uint32_t a[8], uint32_t out[8])
{
	uint32_t t[15] = {0};

	for (int i = 0; i < 8; i++)
		t[2 * i] = a[i];
	qscid_gf_reduce(t, out);
}

/* The S-box on every octet position: the inverse x^254 (0 -> 0), then the affine map with 0x63. */
static inline void qscid_sbox(uint32_t s[8])
{
	uint32_t x2[8], x3[8], x12[8], x15[8], t[8];

	qscid_gf_sq(s, x2);
	qscid_gf_mul(x2, s, x3);
	qscid_gf_sq(x3, t);              /* x^6 */
	qscid_gf_sq(t, x12);
	qscid_gf_mul(x12, x3, x15);
	qscid_gf_sq(x15, t);             /* x^30 */
	qscid_gf_sq(t, t);               /* x^60 */
	qscid_gf_sq(t, t);               /* x^120 */
	qscid_gf_sq(t, t);               /* x^240 */
	qscid_gf_mul(t, x12, t);         /* x^252 */
	qscid_gf_mul(t, x2, t);          /* x^254 */
	for (int i = 0; i < 8; i++)
		s[i] = t[i] ^ t[(i + 4) % 8] ^ t[(i + 5) % 8] ^ t[(i + 6) % 8] ^ t[(i + 7) % 8] ^
		       ((0x63u >> i) & 1 ? 0xffffu : 0);
}

/* Rotates a 16-bit plane right by n (a multiple of 4: whole columns). */
static inline uint32_t qscid_ror16(uint32_t w, int n)
{
	return ((w >> n) | (w << (16 - n))) & 0xffffu;
}

/* Octet p = 4 * column + row; ShiftRows moves row r left by r columns: the row's bits right by 4r. */
static inline void qscid_shift_rows(uint32_t s[8])
{
	for (int k = 0; k < 8; k++)
		s[k] = (s[k] & 0x1111u) | qscid_ror16(s[k] & 0x2222u, 4) | qscid_ror16(s[k] & 0x4444u, 8) |
		       qscid_ror16(s[k] & 0x8888u, 12);
}

/* Each octet takes the one n rows below it in its column (rows wrap): n = 1, 2, 3. */
static inline uint32_t qscid_row_up(uint32_t w, int n)
{
	static const uint32_t keep[4] = {0xffffu, 0x7777u, 0x3333u, 0x1111u};

	return ((w >> n) & keep[n]) | ((w << (4 - n)) & ~keep[n] & 0xffffu);
}

/* MixColumns: b_r = 2(a_r ^ a_r+1) ^ a_r+1 ^ a_r+2 ^ a_r+3; doubling is a shift of planes plus 0x1b. */
static inline void qscid_mix_columns(uint32_t s[8])
{
	uint32_t u[8], o[8];

	for (int k = 0; k < 8; k++) {
		o[k] = qscid_row_up(s[k], 1) ^ qscid_row_up(s[k], 2) ^ qscid_row_up(s[k], 3);
		u[k] = s[k] ^ qscid_row_up(s[k], 1);
	}
	s[0] = u[7] ^ o[0];
	s[1] = u[0] ^ u[7] ^ o[1];
	s[2] = u[1] ^ o[2];
	s[3] = u[2] ^ u[7] ^ o[3];
	s[4] = u[3] ^ u[7] ^ o[4];
	s[5] = u[4] ^ o[5];
	s[6] = u[5] ^ o[6];
	s[7] = u[6] ^ o[7];
}

static inline void qscid_add_round_key(uint32_t s[8], const uint32_t rk[8])
{
	for (int k = 0; k < 8; k++)
		s[k] ^= rk[k];
}

/* Expands a 16-octet key (FIPS-197 5.2); SubWord through the same bitsliced S-box. */
static inline void qscid_aes128_init(qscid_aes128 *a, const uint8_t key[16])
{
	uint8_t w[16], t[4];
	uint32_t s[8];
	uint8_t rcon = 1;

	memcpy(w, key, 16);
	qscid_slice(w, 16, a->rk[0]);
	for (int r = 1; r <= 10; r++) {
		/* RotWord of the last word, then SubWord */
		t[0] = w[13];
		t[1] = w[14];
		t[2] = w[15];
		t[3] = w[12];
		qscid_slice(t, 4, s);
		qscid_sbox(s);
		qscid_unslice(s, t, 4);
		t[0] ^= rcon;
		rcon = (uint8_t)((rcon << 1) ^ (rcon & 0x80 ? 0x1b : 0));
		for (int i = 0; i < 16; i++)
			w[i] ^= i < 4 ? t[i] : w[i - 4];
		qscid_slice(w, 16, a->rk[r]);
	}
	qscid_wipe(w, sizeof(w));
	qscid_wipe(t, sizeof(t));
	qscid_wipe(s, sizeof(s));
}

/* One block (in and out may be the same). */
static inline void qscid_aes128_encrypt(const qscid_aes128 *a, const uint8_t in[16], uint8_t out[16])
{
	uint32_t s[8];

	qscid_slice(in, 16, s);
	qscid_add_round_key(s, a->rk[0]);
	for (int r = 1; r < 10; r++) {
		qscid_sbox(s);
		qscid_shift_rows(s);
		qscid_mix_columns(s);
		qscid_add_round_key(s, a->rk[r]);
	}
	qscid_sbox(s);
	qscid_shift_rows(s);
	qscid_add_round_key(s, a->rk[10]);
	qscid_unslice(s, out, 16);
}

/* ---- QUIC-LB (draft-ietf-quic-load-balancers-21) ------------------------------------------- */

/* One Feistel pass: target ^= AES(expand(len, pass, source)) over a half of h octets; an odd len
 * clears the nibble the halves share (the right half's high one, the left half's low one). */
static inline void qscid_lb_pass(const qscid_aes128 *a, size_t len, int pass, const uint8_t *source,
				 uint8_t *target, size_t h, int right)
{
	uint8_t x[16] = {0};

	memcpy(x, source, h);
	x[14] = (uint8_t)len;
	x[15] = (uint8_t)pass;
	qscid_aes128_encrypt(a, x, x);
	for (size_t i = 0; i < h; i++)
		target[i] ^= x[i];
	if (len % 2) {
		if (right)
			target[0] &= 0x0f;
		else
			target[h - 1] &= 0xf0;
	}
}

/*
 * The draft's server-side encryption of server ID ‖ nonce, in place: one AES block when len is 16,
 * else 4 Feistel passes over halves of ceil(len / 2) octets (odd: they share the middle octet, a
 * nibble each). len 5..19 (QSCID_EPARAM otherwise, p untouched); returns 0.
 */
static inline int qscid_quic_lb_encrypt(const qscid_aes128 *a, uint8_t *p, size_t len)
{
	uint8_t l[10], r[10];
	size_t h = (len + 1) / 2;

	if (len < 1 + QSCID_LB_MIN_NONCE || len > QSCID_LB_MAX_PLAIN)
		return QSCID_EPARAM;
	if (len == 16) {
		qscid_aes128_encrypt(a, p, p);
		return 0;
	}
	memcpy(l, p, h);
	memcpy(r, p + len - h, h);
	if (len % 2) {
		l[h - 1] &= 0xf0;
		r[0] &= 0x0f;
	}
	qscid_lb_pass(a, len, 1, l, r, h, 1);
	qscid_lb_pass(a, len, 2, r, l, h, 0);
	qscid_lb_pass(a, len, 3, l, r, h, 1);
	qscid_lb_pass(a, len, 4, r, l, h, 0);
	memcpy(p, l, h);
	if (len % 2) {
		p[h - 1] = (uint8_t)((l[h - 1] & 0xf0) | (r[0] & 0x0f));
		memcpy(p + h, r + 1, h - 1);
	} else {
		memcpy(p + h, r, h);
	}
	return 0;
}

/*
 * A QUIC-LB configuration: config rotation cr (0..6), server ID and nonce lengths, the CID's
 * length (0: 1 + sid_len + nonce_len; longer: extra random octets after the nonce, up to 20) and
 * a 16-octet key, or NULL for plaintext CIDs. Returns 0, or QSCID_EPARAM (lb zeroed, unusable).
 * The key schedule lives in lb: clear it with qscid_quic_lb_clear when done.
 */
static inline int qscid_quic_lb_init(qscid_quic_lb *lb, unsigned cr, size_t sid_len, size_t nonce_len,
				     size_t cid_len, const uint8_t *key)
{
	if (!lb)
		return QSCID_EPARAM;
	memset(lb, 0, sizeof(*lb));
	if (cid_len == 0)
		cid_len = 1 + sid_len + nonce_len;
	if (cr > QSCID_LB_MAX_CR || sid_len < 1 || sid_len > QSCID_LB_MAX_SID || nonce_len < QSCID_LB_MIN_NONCE ||
	    sid_len + nonce_len > QSCID_LB_MAX_PLAIN || cid_len < 1 + sid_len + nonce_len || cid_len > QSCID_MAX_LEN)
		return QSCID_EPARAM;
	lb->cr = (uint8_t)cr;
	lb->sid_len = (uint8_t)sid_len;
	lb->nonce_len = (uint8_t)nonce_len;
	lb->cid_len = (uint8_t)cid_len;
	if (key) {
		qscid_aes128_init(&lb->aes, key);
		lb->encrypted = 1;
	}
	return 0;
}

/* Wipes a configuration's key schedule (and the rest of it). */
static inline void qscid_quic_lb_clear(qscid_quic_lb *lb)
{
	qscid_wipe(lb, sizeof(*lb));
}

/* The random octets an encode takes: the nonce, then the extra octets (cid_len - 1 - sid_len). */
static inline size_t qscid_quic_lb_random_len(const qscid_quic_lb *lb)
{
	return lb->sid_len ? (size_t)lb->cid_len - 1 - lb->sid_len : 0;
}

/*
 * A QUIC-LB CID into cid (cid_cap octets available): first octet, server ID (sid_len octets, the
 * configuration's), nonce = the first nonce_len random octets, encrypted with the server ID if
 * keyed; then the rest of random (qscid_quic_lb_random_len octets in all). Returns the CID length.
 */
static inline int qscid_quic_lb_encode(const qscid_quic_lb *lb, uint8_t *cid, size_t cid_cap, const uint8_t *sid,
				       size_t sid_len, const uint8_t *random, size_t random_len)
{
	uint8_t out[QSCID_MAX_LEN];

	if (!lb || !lb->sid_len || !cid || !sid || !random)
		return QSCID_EPARAM;
	if (sid_len != lb->sid_len || random_len != qscid_quic_lb_random_len(lb))
		return QSCID_ELEN;
	if (cid_cap < lb->cid_len)
		return QSCID_ESPACE;
	out[0] = (uint8_t)((lb->cr << 5) | (lb->cid_len - 1));
	memcpy(out + 1, sid, sid_len);
	memcpy(out + 1 + sid_len, random, random_len);
	if (lb->encrypted)
		qscid_quic_lb_encrypt(&lb->aes, out + 1, (size_t)lb->sid_len + lb->nonce_len);
	memcpy(cid, out, lb->cid_len);
	return lb->cid_len;
}

/* ---- MsQuic and mvfst ---------------------------------------------------------------------- */

/*
 * An MsQuic load-balancing CID (14 octets): random[0], the 4-octet server ID as MsQuic puts it on
 * the wire (SERVER_ID_IP: the IPv4 address in network order; SERVER_ID_FIXED: the uint32's memory,
 * so 0x0a0b0c0d is 0d 0c 0b 0a on little-endian hosts), the partition ID little-endian, then
 * random[1..7]. random_len must be 8.
 */
static inline int qscid_msquic_encode(uint8_t *cid, size_t cid_cap, const uint8_t *sid, size_t sid_len,
				      uint16_t partition, const uint8_t *random, size_t random_len)
{
	uint8_t out[QSCID_MSQUIC_LEN];

	if (!cid || !sid || !random)
		return QSCID_EPARAM;
	if (sid_len != QSCID_MSQUIC_SID_LEN || random_len != QSCID_MSQUIC_RANDOM_LEN)
		return QSCID_ELEN;
	if (cid_cap < QSCID_MSQUIC_LEN)
		return QSCID_ESPACE;
	out[0] = random[0];
	memcpy(out + 1, sid, QSCID_MSQUIC_SID_LEN);
	out[5] = (uint8_t)(partition & 0xff);
	out[6] = (uint8_t)(partition >> 8);
	memcpy(out + 7, random + 1, QSCID_MSQUIC_RANDOM_LEN - 1);
	memcpy(cid, out, QSCID_MSQUIC_LEN);
	return QSCID_MSQUIC_LEN;
}

/*
 * An mvfst CID (8 octets): the 8 random octets with the version (1, 2, 3) in the top 2 bits of
 * octet 0 and the host ID over them: v1 16 bits (bits 2..17), v2 24 bits (octets 1-3), v3 32 bits
 * (octets 1-4), big-endian. A host ID wider than its version holds is QSCID_EPARAM. mvfst puts
 * its worker and process IDs in the bits left; here they are the caller's (random, or its own).
 */
static inline int qscid_mvfst_encode(uint8_t *cid, size_t cid_cap, unsigned version, uint32_t host_id,
				     const uint8_t *random, size_t random_len)
{
	uint8_t out[QSCID_MVFST_LEN];

	if (!cid || !random || version < 1 || version > 3 || (version == 1 && host_id > 0xffffu) ||
	    (version == 2 && host_id > 0xffffffu))
		return QSCID_EPARAM;
	if (random_len != QSCID_MVFST_RANDOM_LEN)
		return QSCID_ELEN;
	if (cid_cap < QSCID_MVFST_LEN)
		return QSCID_ESPACE;
	memcpy(out, random, QSCID_MVFST_LEN);
	out[0] = (uint8_t)((version << 6) | (out[0] & 0x3f));
	if (version == 1) {
		out[0] = (uint8_t)((out[0] & 0xc0) | (host_id >> 10));
		out[1] = (uint8_t)(host_id >> 2);
		out[2] = (uint8_t)(((host_id & 3) << 6) | (out[2] & 0x3f));
	} else {
		for (unsigned i = 0; i <= version; i++)
			out[1 + i] = (uint8_t)(host_id >> (8 * (version - i)));
	}
	memcpy(cid, out, QSCID_MVFST_LEN);
	return QSCID_MVFST_LEN;
}

#ifdef __cplusplus
}
#endif

#endif /* QUICSTEER_CID_H */

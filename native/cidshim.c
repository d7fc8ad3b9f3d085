/*
 * LD_PRELOAD shim that makes ngtcp2's example servers issue routable QUIC-LB connection IDs
 * (draft-ietf-quic-load-balancers-21), plaintext or encrypted. They draw every CID (18 bytes) from
 * gnutls_rnd(); for such calls not made from inside libgnutls itself, the CID becomes
 * QS_CID_FIRST_OCTET (hex: config rotation + length bits) ‖ QS_CID_SERVER_ID (hex) ‖ nonce (the
 * random bytes drawn), the rest of the 18 octets random too.
 *
 * Encrypted: QS_CID_KEY_FILE names a file holding the 16-byte AES-128 key as 32 hex digits (an
 * optional trailing newline); only the path travels in the environment, the key is never printed.
 * The sid ‖ nonce octets are then encrypted in place: one AES-128-ECB block when they are 16, else
 * the draft's 4-pass Feistel network (src/quic/quic-lb.ts encryptPlain is the reference). The
 * nonce is QS_CID_NONCE_LEN octets (decimal) if set, else all that is left of the 18: 17 - sid.
 * With QS_CID_NONCE_LEN, octets past the nonce stay random (the draft lets a server append them).
 *
 * Errors: the configuration is read once, when the shim is loaded. If any QS_CID_* variable is set
 * and the configuration is not usable (unreadable key file, bad hex, lengths that do not fit), the
 * shim prints one line to stderr ("cidshim: <why>; connection IDs left random", never key material)
 * and leaves every CID as gnutls_rnd drew it: random, as if the shim were not there. Never
 * plaintext when a key was asked for (that would put the server ID in clear on the wire), and the
 * server keeps serving (a preload library should not take its host process down): a load balancer
 * just cannot route its CIDs by server ID, which the line on stderr explains.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/aes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*rnd_fn)(int level, void *data, size_t len);

// The length ngtcp2's examples (0.12) draw connection IDs with.
#define CID_LEN 18
// The draft's bounds: a nonce of at least 4 octets, server ID + nonce at most 19 (here: 17 fit).
#define MIN_NONCE 4
#define MAX_PLAIN (CID_LEN - 1)

static struct {
	enum { OFF, PLAIN, ENCRYPTED, BROKEN } mode;
	uint8_t octet;
	uint8_t sid[MAX_PLAIN];
	int sid_len, nonce_len;
	struct aes128_ctx aes;
} conf;

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses hex (an even number of digits, at most max bytes, nothing after): the number of bytes, or -1. */
static int parse_hex(const char *s, size_t n, uint8_t *out, int max)
{
	int len = 0;

	if (n % 2 || n / 2 > (size_t)max)
		return -1;
	for (; n; n -= 2, s += 2) {
		int hi = hexval(s[0]), lo = hexval(s[1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[len++] = (uint8_t)(hi << 4 | lo);
	}
	return len;
}

/* Reads the key file into the AES context: NULL, or why not (no key material in it). */
static const char *load_key(const char *file)
{
	char text[40];
	uint8_t key[16];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return strerror(errno);
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0)
		return strerror(errno);
	if (n > 0 && text[n - 1] == '\n')
		n--;
	if (n != 32 || parse_hex(text, 32, key, 16) != 16) {
		explicit_bzero(text, sizeof(text));
		return "not 32 hex digits (a 16-byte key)";
	}
	aes128_set_encrypt_key(&conf.aes, key);
	explicit_bzero(text, sizeof(text));
	explicit_bzero(key, sizeof(key));
	return NULL;
}

/* Reads the QS_CID_* variables into conf: NULL, or why they are not usable. */
static const char *configure(void)
{
	const char *octet = getenv("QS_CID_FIRST_OCTET"), *sid = getenv("QS_CID_SERVER_ID");
	const char *key = getenv("QS_CID_KEY_FILE"), *nonce = getenv("QS_CID_NONCE_LEN"), *why;
	static char msg[512];

	if (!octet && !sid && !key && !nonce)
		return NULL;
	if (!octet || parse_hex(octet, strlen(octet), &conf.octet, 1) != 1)
		return "QS_CID_FIRST_OCTET is not one hex byte";
	conf.sid_len = sid ? parse_hex(sid, strlen(sid), conf.sid, MAX_PLAIN - MIN_NONCE) : -1;
	if (conf.sid_len <= 0)
		return "QS_CID_SERVER_ID is not 1 to 13 hex bytes";
	conf.nonce_len = MAX_PLAIN - conf.sid_len;
	if (nonce) {
		char *end;
		long n = strtol(nonce, &end, 10);
		if (!*nonce || *end || n < MIN_NONCE || n > MAX_PLAIN - conf.sid_len) {
			snprintf(msg, sizeof(msg), "QS_CID_NONCE_LEN is not a number from %d to %d", MIN_NONCE, MAX_PLAIN - conf.sid_len);
			return msg;
		}
		conf.nonce_len = (int)n;
	}
	if (!key) {
		conf.mode = PLAIN;
		return NULL;
	}
	why = load_key(key);
	if (why) {
		snprintf(msg, sizeof(msg), "QS_CID_KEY_FILE %s: %s", key, why);
		return msg;
	}
	conf.mode = ENCRYPTED;
	return NULL;
}

__attribute__((constructor)) static void init(void)
{
	const char *why = configure();

	if (why) {
		conf.mode = BROKEN;
		dprintf(STDERR_FILENO, "cidshim: %s; connection IDs left random\n", why);
	}
}

/* AES-128 of expand(len, pass, half): the half in the most significant octets, zeros, len, pass. */
static void expand_aes(uint8_t out[16], int len, int pass, const uint8_t *half, int half_len)
{
	memset(out, 0, 16);
	memcpy(out, half, (size_t)half_len);
	out[14] = (uint8_t)len;
	out[15] = (uint8_t)pass;
	aes128_encrypt(&conf.aes, 16, out, out);
}

/* One Feistel pass: target ^= AES(expand(len, pass, source)); odd len clears the shared nibble. */
static void feistel_pass(int len, int pass, const uint8_t *source, uint8_t *target, int half, int right)
{
	uint8_t r[16];

	expand_aes(r, len, pass, source, half);
	for (int i = 0; i < half; i++)
		target[i] ^= r[i];
	if (len % 2) {
		if (right)
			target[0] &= 0x0f;
		else
			target[half - 1] &= 0xf0;
	}
}

/* The draft's server-side encryption of the sid ‖ nonce octets, in place (5 to 17 octets). */
static void encrypt_plain(uint8_t *p, int len)
{
	int half = (len + 1) / 2;
	uint8_t l[MAX_PLAIN], r[MAX_PLAIN];

	if (len == 16) {
		aes128_encrypt(&conf.aes, 16, p, p);
		return;
	}
	// halves of ceil(len/2) octets; odd: they share the middle octet, a nibble each
	memcpy(l, p, (size_t)half);
	memcpy(r, p + len - half, (size_t)half);
	if (len % 2) {
		l[half - 1] &= 0xf0;
		r[0] &= 0x0f;
	}
	feistel_pass(len, 1, l, r, half, 1);
	feistel_pass(len, 2, r, l, half, 0);
	feistel_pass(len, 3, l, r, half, 1);
	feistel_pass(len, 4, r, l, half, 0);
	memcpy(p, l, (size_t)half);
	if (len % 2) {
		p[half - 1] = (uint8_t)((l[half - 1] & 0xf0) | (r[0] & 0x0f));
		memcpy(p + half, r + 1, (size_t)half - 1);
	} else {
		memcpy(p + half, r, (size_t)half);
	}
}

static int from_gnutls(const void *caller)
{
	Dl_info info;

	return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libgnutls");
}

int gnutls_rnd(int level, void *data, size_t len)
{
	static rnd_fn real;
	uint8_t *cid = data;
	int rc;

	if (!real)
		real = (rnd_fn)dlsym(RTLD_NEXT, "gnutls_rnd");
	rc = real(level, data, len);
	if (rc != 0 || len != CID_LEN || (conf.mode != PLAIN && conf.mode != ENCRYPTED) ||
	    from_gnutls(__builtin_return_address(0)))
		return rc;
	cid[0] = conf.octet;
	memcpy(cid + 1, conf.sid, (size_t)conf.sid_len);
	if (conf.mode == ENCRYPTED)
		encrypt_plain(cid + 1, conf.sid_len + conf.nonce_len);
	return rc;
}

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
 * the draft's 4-pass Feistel network. The nonce is QS_CID_NONCE_LEN octets (decimal) if set, else
 * all that is left of the 18: 17 - sid. With QS_CID_NONCE_LEN, octets past the nonce stay random
 * (the draft lets a server append them).
 *
 * The CIDs are made by the CID kit (native/include/quicsteer/cid.h), the header server authors
 * use: this shim is its use in a real server, checked end to end by test/priv/migration.test.ts.
 * The drawn octets after the server ID are the kit's random input; the first octet is the
 * operator's QS_CID_FIRST_OCTET verbatim (the kit's own, cr and length, is replaced by it).
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
#include <quicsteer/cid.h>
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
	qscid_quic_lb lb;
} conf;

/* Parses hex (an even number of digits, at most max bytes, nothing after): the number of bytes, or -1. */
static int parse_hex(const char *s, size_t n, uint8_t *out, int max)
{
	int len = qscid_hex_decode(out, (size_t)max, s, n);

	return len < 0 ? -1 : len;
}

/* Reads the key file into key: NULL, or why not (no key material in it). */
static const char *load_key(const char *file, uint8_t key[QSCID_LB_KEY_LEN])
{
	char text[40];
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
	explicit_bzero(text, sizeof(text));
	return NULL;
}

/* The kit's configuration for these lengths (and key, or NULL): NULL, or why not. cr 0: the first
 * octet the kit writes is replaced by QS_CID_FIRST_OCTET. */
static const char *init_kit(const uint8_t *key)
{
	int rc = qscid_quic_lb_init(&conf.lb, 0, (size_t)conf.sid_len, (size_t)conf.nonce_len, CID_LEN, key);

	return rc ? qscid_strerror(rc) : NULL;
}

/* Reads the QS_CID_* variables into conf: NULL, or why they are not usable. */
static const char *configure(void)
{
	const char *octet = getenv("QS_CID_FIRST_OCTET"), *sid = getenv("QS_CID_SERVER_ID");
	const char *key = getenv("QS_CID_KEY_FILE"), *nonce = getenv("QS_CID_NONCE_LEN"), *why;
	uint8_t bytes[QSCID_LB_KEY_LEN];
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
		return init_kit(NULL);
	}
	why = load_key(key, bytes);
	if (why) {
		explicit_bzero(bytes, sizeof(bytes));
		snprintf(msg, sizeof(msg), "QS_CID_KEY_FILE %s: %s", key, why);
		return msg;
	}
	why = init_kit(bytes);
	explicit_bzero(bytes, sizeof(bytes));
	conf.mode = ENCRYPTED;
	return why;
}

__attribute__((constructor)) static void init(void)
{
	const char *why = configure();

	if (why) {
		conf.mode = BROKEN;
		dprintf(STDERR_FILENO, "cidshim: %s; connection IDs left random\n", why);
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
	// the drawn octets after the server ID are the nonce and the extra octets: the kit's random
	if (qscid_quic_lb_encode(&conf.lb, cid, len, conf.sid, (size_t)conf.sid_len, cid + 1 + conf.sid_len,
				 qscid_quic_lb_random_len(&conf.lb)) > 0)
		cid[0] = conf.octet;
	return rc;
}

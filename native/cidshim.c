/*
 * LD_PRELOAD shim that makes ngtcp2's example servers issue routable connection IDs: they draw every
 * CID (18 bytes) from gnutls_rnd(); for such calls not made from inside libgnutls itself, the first
 * bytes become a QUIC-LB plaintext prefix: QS_CID_FIRST_OCTET (hex, config rotation + length bits)
 * then QS_CID_SERVER_ID (hex). The rest stays random (the nonce).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*rnd_fn)(int level, void *data, size_t len);

// The length ngtcp2's examples (0.12) draw connection IDs with.
#define CID_LEN 18

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

/* Parses up to max bytes of hex from the environment: the number of bytes, or -1. */
static int env_hex(const char *name, uint8_t *out, int max)
{
	const char *s = getenv(name);
	int n = 0;

	if (!s)
		return -1;
	while (s[0] && s[1] && n < max) {
		int hi = hexval(s[0]), lo = hexval(s[1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return *s ? -1 : n;
}

static int from_gnutls(const void *caller)
{
	Dl_info info;

	return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libgnutls");
}

int gnutls_rnd(int level, void *data, size_t len)
{
	static rnd_fn real;
	uint8_t octet, sid[15];
	int sid_len, rc;

	if (!real)
		real = (rnd_fn)dlsym(RTLD_NEXT, "gnutls_rnd");
	rc = real(level, data, len);
	if (rc != 0 || len != CID_LEN || from_gnutls(__builtin_return_address(0)))
		return rc;
	sid_len = env_hex("QS_CID_SERVER_ID", sid, (int)sizeof(sid));
	if (sid_len <= 0 || env_hex("QS_CID_FIRST_OCTET", &octet, 1) != 1)
		return rc;
	((uint8_t *)data)[0] = octet;
	memcpy((uint8_t *)data + 1, sid, (size_t)sid_len);
	return rc;
}

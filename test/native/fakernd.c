/*
 * Test-only stand-in for gnutls_rnd (test/unit/cidshim.test.ts): rndprobe links it, and the CID shim
 * preloaded in front takes it for the real one. Every request is filled with QS_FAKE_RND (hex,
 * repeated; zeros without it), so a test fixes the nonce the shim encrypts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int gnutls_rnd(int level, void *data, size_t len);

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

int gnutls_rnd(int level, void *data, size_t len)
{
	const char *hex = getenv("QS_FAKE_RND");
	size_t n = hex ? strlen(hex) / 2 : 0;
	uint8_t *out = data;

	(void)level;
	for (size_t i = 0; i < len; i++)
		out[i] = n ? (uint8_t)(hexval(hex[2 * (i % n)]) << 4 | hexval(hex[2 * (i % n) + 1])) : 0;
	return 0;
}

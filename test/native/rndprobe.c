/*
 * Test-only caller of gnutls_rnd (test/unit/cidshim.test.ts): `rndprobe LEN COUNT` draws COUNT
 * buffers of LEN bytes, as ngtcp2's examples draw connection IDs, and prints each in hex on a line.
 */
#include <stdio.h>
#include <stdlib.h>

int gnutls_rnd(int level, void *data, size_t len);

int main(int argc, char **argv)
{
	unsigned char buf[64];
	int len = argc > 1 ? atoi(argv[1]) : 18, count = argc > 2 ? atoi(argv[2]) : 1;

	if (len < 1 || len > (int)sizeof(buf))
		return 2;
	for (int k = 0; k < count; k++) {
		if (gnutls_rnd(1, buf, (size_t)len) != 0)
			return 1;
		for (int i = 0; i < len; i++)
			printf("%02x", buf[i]);
		printf("\n");
	}
	return 0;
}

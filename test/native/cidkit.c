/*
 * Test driver of the CID kit (native/include/quicsteer/cid.h) for test/unit/cidkit.test.ts: reads
 * requests on stdin, one a line, and prints one line each: the CID in hex, or "error <rc> <why>".
 * Hex fields are "-" when empty; CAP is the output room the encoder is given (octets past it are
 * watched: a write there prints "overflow" and the exit status is 1).
 *
 *   lb CAP CR SID_LEN NONCE_LEN CID_LEN KEY|- SID RANDOM   QUIC-LB (CID_LEN 0: no extra octets)
 *   msquic CAP SID PARTITION RANDOM                         MsQuic load balancing
 *   mvfst CAP VERSION HOST_ID RANDOM                        mvfst v1..v3
 *   aes KEY BLOCK                                           one AES-128 block
 *   hex CAP TEXT                                            qscid_hex_decode of TEXT ("-": empty)
 *   overflow CAP                                            the watch's control: writes CAP + 1 octets
 *
 * A line it cannot parse: "cidkit: line N: <why>" on stderr, exit 2. `cidkit --bench N` times N
 * rounds of each operation and prints nanoseconds per operation. Built as C99, C11 and C++ (the
 * header must work in all three); the source is valid in each.
 */
#include <quicsteer/cid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GUARD 0xa5
#define ROOM 64

/* Hex (or "-" for none) into out: the number of octets, or -1. */
static int parse_hex(const char *s, uint8_t *out, size_t max)
{
	int n;

	if (strcmp(s, "-") == 0)
		return 0;
	n = qscid_hex_decode(out, max, s, strlen(s));
	return n > 0 ? n : -1;
}

static int parse_num(const char *s, unsigned long *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	*out = strtoul(s, &end, 0);
	return *end ? -1 : 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

/* Prints an encoder's result; 1 if it wrote past cap. */
static int report(int rc, const uint8_t *buf, size_t cap)
{
	for (size_t i = cap; i < ROOM; i++)
		if (buf[i] != GUARD) {
			printf("overflow\n");
			return 1;
		}
	if (rc < 0)
		printf("error %d %s\n", rc, qscid_strerror(rc));
	else
		print_hex(buf, (size_t)rc);
	return 0;
}

/* One request line (its fields in f[0..n-1]): 0, 1 (overflow) or -1 (unparsable). */
static int request(char **f, int n)
{
	uint8_t buf[ROOM], key[16], sid[32], rnd[32];
	unsigned long cap, a, b, c, d;
	int sid_n, rnd_n, key_n, rc;

	memset(buf, GUARD, sizeof(buf));
	if (strcmp(f[0], "aes") == 0) {
		qscid_aes128 aes;
		if (n != 3 || parse_hex(f[1], key, 16) != 16 || parse_hex(f[2], buf, 16) != 16)
			return -1;
		qscid_aes128_init(&aes, key);
		qscid_aes128_encrypt(&aes, buf, buf);
		print_hex(buf, 16);
		return 0;
	}
	if (n < 2 || parse_num(f[1], &cap) || cap > ROOM)
		return -1;
	if (strcmp(f[0], "hex") == 0) {
		const char *text = strcmp(f[2], "-") ? f[2] : "";
		if (n != 3)
			return -1;
		rc = qscid_hex_decode(buf, cap, text, strlen(text));
		return report(rc, buf, cap);
	}
	if (strcmp(f[0], "overflow") == 0) {
		if (n != 2 || cap >= ROOM)
			return -1;
		memset(buf, 0, cap + 1);
		return report((int)cap, buf, cap);
	}
	if (strcmp(f[0], "lb") == 0) {
		qscid_quic_lb lb;
		if (n != 9 || parse_num(f[2], &a) || parse_num(f[3], &b) || parse_num(f[4], &c) || parse_num(f[5], &d))
			return -1;
		key_n = parse_hex(f[6], key, sizeof(key));
		sid_n = parse_hex(f[7], sid, sizeof(sid));
		rnd_n = parse_hex(f[8], rnd, sizeof(rnd));
		if ((key_n != 0 && key_n != 16) || sid_n < 0 || rnd_n < 0)
			return -1;
		rc = qscid_quic_lb_init(&lb, (unsigned)a, b, c, d, key_n ? key : NULL);
		if (rc == 0)
			rc = qscid_quic_lb_encode(&lb, buf, cap, sid, (size_t)sid_n, rnd, (size_t)rnd_n);
		qscid_quic_lb_clear(&lb);
		return report(rc, buf, cap);
	}
	if (strcmp(f[0], "msquic") == 0) {
		if (n != 5 || parse_num(f[3], &a) || a > 0xffff)
			return -1;
		sid_n = parse_hex(f[2], sid, sizeof(sid));
		rnd_n = parse_hex(f[4], rnd, sizeof(rnd));
		if (sid_n < 0 || rnd_n < 0)
			return -1;
		rc = qscid_msquic_encode(buf, cap, sid, (size_t)sid_n, (uint16_t)a, rnd, (size_t)rnd_n);
		return report(rc, buf, cap);
	}
	if (strcmp(f[0], "mvfst") == 0) {
		if (n != 5 || parse_num(f[2], &a) || parse_num(f[3], &b) || b > 0xffffffffUL)
			return -1;
		rnd_n = parse_hex(f[4], rnd, sizeof(rnd));
		if (rnd_n < 0)
			return -1;
		rc = qscid_mvfst_encode(buf, cap, (unsigned)a, (uint32_t)b, rnd, (size_t)rnd_n);
		return report(rc, buf, cap);
	}
	return -1;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Nanoseconds per QUIC-LB encode of a configuration (key or NULL), over n rounds. */
static double bench_lb(size_t sid_len, size_t nonce_len, const uint8_t *key, long n)
{
	qscid_quic_lb lb;
	uint8_t sid[16] = {0}, rnd[20] = {0}, cid[QSCID_MAX_LEN];
	unsigned acc = 0;
	double t;

	if (qscid_quic_lb_init(&lb, 0, sid_len, nonce_len, 0, key) != 0)
		return -1;
	t = now_ns();
	for (long i = 0; i < n; i++) {
		rnd[0] = (uint8_t)i; /* a new nonce each time, as a server's would be */
		qscid_quic_lb_encode(&lb, cid, sizeof(cid), sid, sid_len, rnd, nonce_len);
		acc += cid[1];
	}
	t = (now_ns() - t) / (double)n;
	qscid_quic_lb_clear(&lb);
	return acc == 0xffffffffu ? 0 : t; /* acc keeps the loop from being optimised away */
}

static int bench(long n)
{
	static const uint8_t key[16] = {0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80,
					0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f};
	qscid_aes128 aes;
	uint8_t block[16] = {0};
	double t;

	t = now_ns();
	for (long i = 0; i < n; i++)
		qscid_aes128_init(&aes, block), block[0] = (uint8_t)(block[0] + aes.rk[10][0]);
	printf("aes128 key schedule: %.0f ns\n", (now_ns() - t) / (double)n);
	qscid_aes128_init(&aes, key);
	t = now_ns();
	for (long i = 0; i < n; i++)
		qscid_aes128_encrypt(&aes, block, block);
	printf("aes128 block: %.0f ns (%02x)\n", (now_ns() - t) / (double)n, block[0]);
	printf("quic-lb plaintext, sid 2 + nonce 6: %.0f ns\n", bench_lb(2, 6, NULL, n));
	printf("quic-lb encrypted, sid 2 + nonce 6 (4 Feistel passes): %.0f ns\n", bench_lb(2, 6, key, n));
	printf("quic-lb encrypted, sid 2 + nonce 14 (one block): %.0f ns\n", bench_lb(2, 14, key, n));
	printf("quic-lb encrypted, sid 4 + nonce 13 (4 Feistel passes): %.0f ns\n", bench_lb(4, 13, key, n));
	return 0;
}

int main(int argc, char **argv)
{
	char line[1024];
	int overflow = 0;
	long lineno = 0;

	if (argc == 3 && strcmp(argv[1], "--bench") == 0 && atol(argv[2]) > 0)
		return bench(atol(argv[2]));
	if (argc != 1) {
		fprintf(stderr, "usage: cidkit < requests | cidkit --bench ROUNDS\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *f[12];
		int n = 0, rc;

		lineno++;
		for (char *t = strtok(line, " \t\r\n"); t && n < 12; t = strtok(NULL, " \t\r\n"))
			f[n++] = t;
		if (n == 0)
			continue;
		rc = request(f, n);
		if (rc < 0) {
			fprintf(stderr, "cidkit: line %ld: not a request\n", lineno);
			return 2;
		}
		overflow |= rc;
	}
	return overflow;
}

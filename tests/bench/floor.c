/*
 * floor.c — the benchmark's floor: the least an inetd-style HTTP/1.1
 * responder can do.  Reads requests on fd 0 (heads only; bodies announced
 * by Content-Length are skipped), answers each with a fixed small JSON 200
 * on fd 1, keeps the connection alive as HTTP/1.1 asks, exits at EOF or
 * after "Connection: close".  Built static; no store, no parsing beyond
 * what framing needs.  Not part of msghash.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char resp_keep[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 17\r\n\r\n{\"message\":\"foo\"}";
static const char resp_close[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 17\r\nConnection: close\r\n\r\n{\"message\":\"foo\"}";

static char buf[1 << 16];
static size_t len;

/* Value of header `name` within head[0..n), as a number; 0 if absent. */
static long
header_long(const char *head, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *p = head;

	while ((p = memchr(p, '\n', (size_t)(head + n - p))) != NULL) {
		p++;
		if ((size_t)(head + n - p) > nl && strncasecmp(p, name, nl) == 0)
			return strtol(p + nl, NULL, 10);
	}
	return 0;
}

static int
has_close(const char *head, size_t n)
{
	const char *p;

	for (p = head; p + 17 <= head + n; p++)
		if (strncasecmp(p, "Connection: close", 17) == 0)
			return 1;
	return 0;
}

int
main(void)
{
	for (;;) {
		char *end;
		ssize_t r;

		while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
			if (len == sizeof buf ||
			    (r = read(0, buf + len, sizeof buf - len)) <= 0)
				return 0;
			len += (size_t)r;
		}
		size_t head = (size_t)(end - buf) + 4;
		long body = header_long(buf, head, "Content-Length:");
		int close = has_close(buf, head) || memmem(buf, head, "HTTP/1.0", 8);

		while ((long)(len - head) < body) {
			if ((r = read(0, buf + len, sizeof buf - len)) <= 0)
				return 0;
			len += (size_t)r;
		}
		if (write(1, close ? resp_close : resp_keep, close ?
		    sizeof resp_close - 1 : sizeof resp_keep - 1) < 0 || close)
			return 0;
		memmove(buf, buf + head + body, len - head - (size_t)body);
		len -= head + (size_t)body;
	}
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * blkrepl's NBD server against a hand-driven client on a socketpair: every
 * malformed handshake or request gets the protocol's error reply or a clean
 * disconnect, and a refused request never touches the image.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "nbd.h"

#define IMAGE_SIZE (1u << 20)

struct conn {
	struct blkrepl_ctx *ctx;
	struct blkrepl_image *img;
	char path[64];
	int fd; /* the client's end */
	int server_fd;
	int result;
	pthread_t thread;
};

static void *server(void *data)
{
	struct conn *c = data;

	c->result = blkrepl_nbd_serve(c->img, "disk", c->server_fd);
	close(c->server_fd);
	return NULL;
}

static int conn_setup(void **state)
{
	struct conn *c = calloc(1, sizeof(*c));
	int sv[2], fd;

	strcpy(c->path, "/tmp/test-nbd.XXXXXX");
	fd = mkstemp(c->path);
	if (fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
		return -1;
	close(fd);
	if (blkrepl_ctx_new(&c->ctx, NULL, NULL) < 0 ||
	    blkrepl_image_open(c->ctx, c->path, 0, &c->img) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	c->fd = sv[0];
	c->server_fd = sv[1];
	pthread_create(&c->thread, NULL, server, c);
	*state = c;
	return 0;
}

/* the server's verdict once the client is done */
static int finish(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	pthread_join(c->thread, NULL);
	c->thread = 0;
	return c->result;
}

static int conn_teardown(void **state)
{
	struct conn *c = *state;

	if (c->thread)
		finish(c);
	close(c->fd);
	blkrepl_image_close(c->img);
	blkrepl_ctx_free(c->ctx);
	unlink(c->path);
	free(c);
	return 0;
}

static void put(int fd, const void *buf, size_t len)
{
	assert_int_equal(write_full(fd, buf, len), 0);
}

static void get(int fd, void *buf, size_t len)
{
	assert_int_equal(read_full(fd, buf, len), 0);
}

static void greet(struct conn *c, uint32_t flags)
{
	uint8_t hello[18];
	uint64_t magic;

	get(c->fd, hello, sizeof(hello));
	memcpy(&magic, hello, 8);
	assert_true(be64toh(magic) == NBD_MAGIC);
	flags = htobe32(flags);
	put(c->fd, &flags, 4);
}

static void option(struct conn *c, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t hdr[16];
	uint64_t magic = htobe64(NBD_IHAVEOPT);
	uint32_t v = htobe32(opt);

	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &v, 4);
	v = htobe32(len);
	memcpy(hdr + 12, &v, 4);
	put(c->fd, hdr, sizeof(hdr));
	if (len)
		put(c->fd, data, len);
}

/* one option reply: its type; its data into buf */
static uint32_t option_reply(struct conn *c, uint32_t opt, void *buf,
			     uint32_t *len)
{
	uint8_t hdr[20];
	uint32_t v, type;

	get(c->fd, hdr, sizeof(hdr));
	memcpy(&v, hdr + 8, 4);
	assert_int_equal(be32toh(v), opt);
	memcpy(&type, hdr + 12, 4);
	memcpy(&v, hdr + 16, 4);
	*len = be32toh(v);
	assert_true(*len <= 4096);
	get(c->fd, buf, *len);
	return be32toh(type);
}

static void go(struct conn *c, const char *name)
{
	uint8_t data[64], reply[4096];
	uint32_t n = (uint32_t)strlen(name), be = htobe32(n), len;
	uint16_t zero = 0, flags;
	uint64_t size;

	memcpy(data, &be, 4);
	memcpy(data + 4, name, n);
	memcpy(data + 4 + n, &zero, 2);
	option(c, NBD_OPT_GO, data, 6 + n);
	assert_int_equal(option_reply(c, NBD_OPT_GO, reply, &len),
			 NBD_REP_INFO);
	assert_int_equal(len, 12);
	memcpy(&size, reply + 2, 8);
	memcpy(&flags, reply + 10, 2);
	assert_true(be64toh(size) == IMAGE_SIZE);
	flags = be16toh(flags);
	assert_int_equal(!!(flags & NBD_TFLAG_READ_ONLY), c->img->readonly);
	assert_int_equal(!!(flags & NBD_TFLAG_SEND_WRITE_ZEROES),
			 !c->img->readonly);
	assert_int_equal(option_reply(c, NBD_OPT_GO, reply, &len), NBD_REP_ACK);
}

static void connect_go(struct conn *c)
{
	greet(c, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	go(c, "disk");
}

static void request(struct conn *c, uint32_t magic, uint16_t flags,
		    uint16_t type, uint64_t off, uint32_t len)
{
	uint8_t raw[28];
	uint64_t cookie = 0x1122334455667788ull;

	magic = htobe32(magic);
	flags = htobe16(flags);
	type = htobe16(type);
	off = htobe64(off);
	len = htobe32(len);
	memcpy(raw, &magic, 4);
	memcpy(raw + 4, &flags, 2);
	memcpy(raw + 6, &type, 2);
	memcpy(raw + 8, &cookie, 8);
	memcpy(raw + 16, &off, 8);
	memcpy(raw + 24, &len, 4);
	put(c->fd, raw, sizeof(raw));
}

static uint32_t simple_reply(struct conn *c)
{
	uint8_t hdr[16];
	uint32_t magic, error;
	uint64_t cookie;

	get(c->fd, hdr, sizeof(hdr));
	memcpy(&magic, hdr, 4);
	memcpy(&error, hdr + 4, 4);
	memcpy(&cookie, hdr + 8, 8);
	assert_int_equal(be32toh(magic), NBD_SIMPLE_REPLY_MAGIC);
	assert_true(cookie == 0x1122334455667788ull);
	return be32toh(error);
}

static void image_bytes(struct conn *c, uint64_t off, uint8_t *buf, size_t len)
{
	FILE *f = fopen(c->path, "rb");

	assert_non_null(f);
	assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
}

static void write_read_back(void **state)
{
	struct conn *c = *state;
	uint8_t out[4096], in[4096];

	connect_go(c);
	memset(out, 0x5a, sizeof(out));
	request(c, NBD_REQUEST_MAGIC, NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 8192,
		sizeof(out));
	put(c->fd, out, sizeof(out));
	assert_int_equal(simple_reply(c), 0);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_READ, 8192, sizeof(in));
	assert_int_equal(simple_reply(c), 0);
	get(c->fd, in, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	image_bytes(c, 8192, in, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_DISC, 0, 0);
	assert_int_equal(finish(c), 0);
}

/* Refused requests get their error and the connection goes on. */
static void bad_requests_get_errors(void **state)
{
	struct conn *c = *state;
	uint8_t buf[4096], img[4096], zero[4096] = { 0 };

	connect_go(c);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_READ, IMAGE_SIZE - 100, 4096);
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_READ, UINT64_MAX - 10, 4096);
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_READ, 0, 0);
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_READ, 0, 64u << 20);
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	request(c, NBD_REQUEST_MAGIC, 0x80, NBD_CMD_READ, 0, 512);
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	request(c, NBD_REQUEST_MAGIC, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_WRITE, 0,
		sizeof(buf));
	memset(buf, 0xee, sizeof(buf));
	put(c->fd, buf, sizeof(buf));
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	request(c, NBD_REQUEST_MAGIC, 0, 99, 0, 512);
	assert_int_equal(simple_reply(c), NBD_EINVAL);
	/* a write past the end: its payload is read, the image untouched */
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_WRITE, IMAGE_SIZE - 512,
		sizeof(buf));
	put(c->fd, buf, sizeof(buf));
	assert_int_equal(simple_reply(c), NBD_ENOSPC);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_TRIM, IMAGE_SIZE, 1);
	assert_int_equal(simple_reply(c), NBD_ENOSPC);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_FLUSH, 0, 0);
	assert_int_equal(simple_reply(c), 0);
	image_bytes(c, 0, img, sizeof(img));
	assert_memory_equal(img, zero, sizeof(img));
	image_bytes(c, IMAGE_SIZE - 4096, img, sizeof(img));
	assert_memory_equal(img, zero, sizeof(img));
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_DISC, 0, 0);
	assert_int_equal(finish(c), 0);
}

static void bad_magic_disconnects(void **state)
{
	struct conn *c = *state;
	uint8_t b;

	connect_go(c);
	request(c, 0xdeadbeef, 0, NBD_CMD_READ, 0, 512);
	assert_int_equal(finish(c), -EPROTO);
	assert_int_equal(read(c->fd, &b, 1), 0);
}

static void huge_write_disconnects(void **state)
{
	struct conn *c = *state;

	connect_go(c);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_WRITE, 0, 0xffffffffu);
	assert_int_equal(finish(c), -EPROTO);
}

static void truncated_request_is_a_reset(void **state)
{
	struct conn *c = *state;

	connect_go(c);
	put(c->fd, "\x25\x60\x95", 3);
	assert_int_equal(finish(c), -ECONNRESET);
}

static void unknown_client_flags(void **state)
{
	struct conn *c = *state;

	greet(c, 0x100);
	assert_int_equal(finish(c), -EPROTO);
}

static void option_without_magic(void **state)
{
	struct conn *c = *state;
	uint8_t junk[16] = "GARBAGEGARBAGE!";

	greet(c, NBD_FLAG_FIXED_NEWSTYLE);
	put(c->fd, junk, sizeof(junk));
	assert_int_equal(finish(c), -EPROTO);
}

static void oversized_option(void **state)
{
	struct conn *c = *state;
	uint8_t hdr[16];
	uint64_t magic = htobe64(NBD_IHAVEOPT);
	uint32_t v = htobe32(NBD_OPT_GO);

	greet(c, NBD_FLAG_FIXED_NEWSTYLE);
	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &v, 4);
	v = htobe32(1u << 30);
	memcpy(hdr + 12, &v, 4);
	put(c->fd, hdr, sizeof(hdr));
	assert_int_equal(finish(c), -EPROTO);
}

/* Errors during options are replies; the client may go on, then abort. */
static void option_errors_and_abort(void **state)
{
	struct conn *c = *state;
	uint8_t bad[10] = { 0, 0, 0, 4, 'd', 'i', 's', 'k', 0, 3 };
	uint8_t unknown[10] = { 0, 0, 0, 4, 'n', 'o', 'p', 'e', 0, 0 };
	uint8_t reply[4096];
	uint32_t len;

	greet(c, NBD_FLAG_FIXED_NEWSTYLE);
	option(c, 8 /* STRUCTURED_REPLY */, NULL, 0);
	assert_int_equal(option_reply(c, 8, reply, &len), NBD_REP_ERR_UNSUP);
	option(c, NBD_OPT_INFO, bad, sizeof(bad));
	assert_int_equal(option_reply(c, NBD_OPT_INFO, reply, &len),
			 NBD_REP_ERR_INVALID);
	option(c, NBD_OPT_GO, unknown, sizeof(unknown));
	assert_int_equal(option_reply(c, NBD_OPT_GO, reply, &len),
			 NBD_REP_ERR_UNKNOWN);
	option(c, NBD_OPT_INFO, "\0\0", 2);
	assert_int_equal(option_reply(c, NBD_OPT_INFO, reply, &len),
			 NBD_REP_ERR_INVALID);
	option(c, NBD_OPT_LIST, NULL, 0);
	assert_int_equal(option_reply(c, NBD_OPT_LIST, reply, &len),
			 NBD_REP_SERVER);
	assert_int_equal(len, 8);
	assert_memory_equal(reply + 4, "disk", 4);
	assert_int_equal(option_reply(c, NBD_OPT_LIST, reply, &len),
			 NBD_REP_ACK);
	option(c, NBD_OPT_ABORT, NULL, 0);
	assert_int_equal(option_reply(c, NBD_OPT_ABORT, reply, &len),
			 NBD_REP_ACK);
	assert_int_equal(finish(c), 0);
}

static void old_style_export_name(void **state)
{
	struct conn *c = *state;
	uint8_t reply[10];
	uint64_t size;

	greet(c, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	option(c, NBD_OPT_EXPORT_NAME, "disk", 4);
	get(c->fd, reply, sizeof(reply));
	memcpy(&size, reply, 8);
	assert_true(be64toh(size) == IMAGE_SIZE);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_WRITE_ZEROES, 0, 4096);
	assert_int_equal(simple_reply(c), 0);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_DISC, 0, 0);
	assert_int_equal(finish(c), 0);
}

static void read_only_refuses_writes(void **state)
{
	struct conn *c = *state;

	c->img->readonly = 1;
	connect_go(c);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_TRIM, 0, 4096);
	assert_int_equal(simple_reply(c), NBD_EPERM);
	request(c, NBD_REQUEST_MAGIC, 0, NBD_CMD_DISC, 0, 0);
	assert_int_equal(finish(c), 0);
}

#define conn_test(f) \
	cmocka_unit_test_setup_teardown(f, conn_setup, conn_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		conn_test(write_read_back),
		conn_test(bad_requests_get_errors),
		conn_test(bad_magic_disconnects),
		conn_test(huge_write_disconnects),
		conn_test(truncated_request_is_a_reset),
		conn_test(unknown_client_flags),
		conn_test(option_without_magic),
		conn_test(oversized_option),
		conn_test(option_errors_and_abort),
		conn_test(old_style_export_name),
		conn_test(read_only_refuses_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NBD's fixed newstyle handshake: the server's greeting, the client's
 * flags, then options until the client picks the export (GO or the old
 * EXPORT_NAME) or aborts.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"

struct option_hdr {
	uint32_t option;
	uint32_t length;
};

static int reply(int fd, uint32_t option, uint32_t type, const void *data,
		 uint32_t len)
{
	uint8_t hdr[20];
	uint64_t magic = htobe64(NBD_REPLY_OPT_MAGIC);
	uint32_t v;
	int r;

	memcpy(hdr, &magic, 8);
	v = htobe32(option);
	memcpy(hdr + 8, &v, 4);
	v = htobe32(type);
	memcpy(hdr + 12, &v, 4);
	v = htobe32(len);
	memcpy(hdr + 16, &v, 4);
	r = write_full(fd, hdr, sizeof(hdr));
	if (!r && len)
		r = write_full(fd, data, len);
	return r;
}

static int reply_error(int fd, uint32_t option, uint32_t type, const char *msg)
{
	return reply(fd, option, type, msg, (uint32_t)strlen(msg));
}

uint16_t nbd_transmission_flags(const struct blkrepl_image *img)
{
	uint16_t f = NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH |
		     NBD_TFLAG_SEND_FUA;

	if (img->readonly)
		return f | NBD_TFLAG_READ_ONLY;
	return f | NBD_TFLAG_SEND_TRIM | NBD_TFLAG_SEND_WRITE_ZEROES;
}

static int known_export(const char *export, const uint8_t *name, uint32_t len)
{
	return !len || (strlen(export) == len && !memcmp(export, name, len));
}

static int reply_info_export(struct blkrepl_image *img, int fd, uint32_t option)
{
	uint8_t info[12];
	uint16_t t = htobe16(NBD_INFO_EXPORT), f;
	uint64_t size = htobe64(img->size);

	f = htobe16(nbd_transmission_flags(img));
	memcpy(info, &t, 2);
	memcpy(info + 2, &size, 8);
	memcpy(info + 10, &f, 2);
	return reply(fd, option, NBD_REP_INFO, info, sizeof(info));
}

/* Minimum 1 (byte-granular), preferred 4 KiB, maximum one payload. */
static int reply_info_block_size(int fd, uint32_t option)
{
	uint8_t info[14];
	uint16_t t = htobe16(NBD_INFO_BLOCK_SIZE);
	uint32_t v[3] = { htobe32(1), htobe32(4096), htobe32(NBD_MAX_PAYLOAD) };

	memcpy(info, &t, 2);
	memcpy(info + 2, v, sizeof(v));
	return reply(fd, option, NBD_REP_INFO, info, sizeof(info));
}

/* INFO and GO: u32 name length, name, u16 count, count u16 info types */
static int info_or_go(struct blkrepl_image *img, const char *export, int fd,
		      uint32_t option, const uint8_t *data, uint32_t len)
{
	uint32_t name_len, n;
	uint16_t count;
	int r;

	if (len < 6)
		return reply_error(fd, option, NBD_REP_ERR_INVALID,
				   "option shorter than its name length");
	memcpy(&name_len, data, 4);
	name_len = be32toh(name_len);
	if (name_len > len - 6)
		return reply_error(fd, option, NBD_REP_ERR_INVALID,
				   "export name longer than the option");
	memcpy(&count, data + 4 + name_len, 2);
	count = be16toh(count);
	if ((uint32_t)count * 2 != len - 6 - name_len)
		return reply_error(
			fd, option, NBD_REP_ERR_INVALID,
			"info request count does not match the option length");
	if (!known_export(export, data + 4, name_len))
		return reply_error(fd, option, NBD_REP_ERR_UNKNOWN,
				   "no such export");
	r = reply_info_export(img, fd, option);
	for (n = 0; !r && n < count; n++) {
		uint16_t type;

		memcpy(&type, data + 6 + name_len + 2 * n, 2);
		if (be16toh(type) == NBD_INFO_BLOCK_SIZE)
			r = reply_info_block_size(fd, option);
	}
	if (!r)
		r = reply(fd, option, NBD_REP_ACK, NULL, 0);
	return r < 0 ? r : option == NBD_OPT_GO ? 1 : 0;
}

static int list(const char *export, int fd, uint32_t len)
{
	uint32_t n = (uint32_t)strlen(export), be = htobe32(n);
	uint8_t buf[4 + NBD_MAX_OPTION];
	int r;

	if (len)
		return reply_error(fd, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
				   "LIST takes no data");
	if (n > NBD_MAX_OPTION)
		n = NBD_MAX_OPTION;
	memcpy(buf, &be, 4);
	memcpy(buf + 4, export, n);
	r = reply(fd, NBD_OPT_LIST, NBD_REP_SERVER, buf, 4 + n);
	return r ? r : reply(fd, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* The old way in: no reply header, and an unknown name ends it all. */
static int export_name(struct blkrepl_image *img, const char *export, int fd,
		       const uint8_t *name, uint32_t len, int no_zeroes)
{
	uint8_t buf[10 + 124] = { 0 };
	uint64_t size = htobe64(img->size);
	uint16_t f = htobe16(nbd_transmission_flags(img));

	if (!known_export(export, name, len)) {
		br_err(img->ctx, "NBD client asked for an unknown export");
		return -EPROTO;
	}
	memcpy(buf, &size, 8);
	memcpy(buf + 8, &f, 2);
	return write_full(fd, buf, no_zeroes ? 10 : sizeof(buf));
}

static int greet(struct blkrepl_image *img, int fd, uint32_t *client_flags)
{
	uint8_t hello[18];
	uint64_t v = htobe64(NBD_MAGIC);
	uint16_t f = htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	int r;

	memcpy(hello, &v, 8);
	v = htobe64(NBD_IHAVEOPT);
	memcpy(hello + 8, &v, 8);
	memcpy(hello + 16, &f, 2);
	r = write_full(fd, hello, sizeof(hello));
	if (!r)
		r = read_full(fd, client_flags, 4);
	if (r < 0)
		return r;
	*client_flags = be32toh(*client_flags);
	if (*client_flags & ~(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)) {
		br_err(img->ctx, "NBD client sent unknown flags 0x%x",
		       *client_flags);
		return -EPROTO;
	}
	return 0;
}

static int read_option(struct blkrepl_image *img, int fd, struct option_hdr *o,
		       uint8_t *data)
{
	uint8_t hdr[16];
	uint64_t magic;
	int r = read_full(fd, hdr, sizeof(hdr));

	if (r < 0)
		return r;
	memcpy(&magic, hdr, 8);
	memcpy(&o->option, hdr + 8, 4);
	memcpy(&o->length, hdr + 12, 4);
	o->option = be32toh(o->option);
	o->length = be32toh(o->length);
	if (be64toh(magic) != NBD_IHAVEOPT) {
		br_err(img->ctx, "NBD option without IHAVEOPT magic");
		return -EPROTO;
	}
	if (o->length > NBD_MAX_OPTION) {
		br_err(img->ctx, "NBD option %u is %u bytes long (at most %u)",
		       o->option, o->length, NBD_MAX_OPTION);
		return -EPROTO;
	}
	return read_full(fd, data, o->length);
}

int nbd_handshake(struct blkrepl_image *img, const char *export, int fd)
{
	uint8_t data[NBD_MAX_OPTION];
	struct option_hdr o;
	uint32_t flags;
	int r = greet(img, fd, &flags);

	while (!r) {
		r = read_option(img, fd, &o, data);
		if (r < 0)
			return r;
		switch (o.option) {
		case NBD_OPT_EXPORT_NAME:
			r = export_name(img, export, fd, data, o.length,
					flags & NBD_FLAG_NO_ZEROES);
			return r < 0 ? r : 0;
		case NBD_OPT_ABORT:
			reply(fd, o.option, NBD_REP_ACK, NULL, 0);
			return 1;
		case NBD_OPT_LIST:
			r = list(export, fd, o.length);
			break;
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			r = info_or_go(img, export, fd, o.option, data,
				       o.length);
			if (r == 1)
				return 0;
			break;
		default:
			r = reply_error(fd, o.option, NBD_REP_ERR_UNSUP,
					"option not supported");
		}
	}
	return r;
}

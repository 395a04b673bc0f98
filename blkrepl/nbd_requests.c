// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NBD's transmission phase: requests one at a time, each checked as a
 * whole (magic, type, flags, range) before it touches the image; a WRITE's
 * payload is always read, so that a refused one leaves the stream in step.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"

void nbd_request_decode(const uint8_t raw[28], uint32_t *magic,
			struct nbd_request *req)
{
	memcpy(magic, raw, 4);
	memcpy(&req->flags, raw + 4, 2);
	memcpy(&req->type, raw + 6, 2);
	memcpy(&req->cookie, raw + 8, 8);
	memcpy(&req->offset, raw + 16, 8);
	memcpy(&req->length, raw + 24, 4);
	*magic = be32toh(*magic);
	req->flags = be16toh(req->flags);
	req->type = be16toh(req->type);
	req->offset = be64toh(req->offset);
	req->length = be32toh(req->length);
}

static int writes(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES;
}

uint32_t nbd_request_check(const struct blkrepl_image *img,
			   const struct nbd_request *req)
{
	uint16_t allowed = NBD_CMD_FLAG_FUA;

	switch (req->type) {
	case NBD_CMD_FLUSH:
	case NBD_CMD_DISC:
		return 0;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE;
		break;
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
		break;
	default:
		return NBD_EINVAL;
	}
	if (req->flags & ~allowed)
		return NBD_EINVAL;
	if (writes(req->type) && img->readonly)
		return NBD_EPERM;
	if (!req->length || req->offset > img->size ||
	    req->length > img->size - req->offset)
		return writes(req->type) ? NBD_ENOSPC : NBD_EINVAL;
	if (req->type == NBD_CMD_READ && req->length > NBD_MAX_PAYLOAD)
		return NBD_EINVAL;
	return 0;
}

static int send_reply(int fd, uint64_t cookie, uint32_t error, const void *data,
		      uint32_t len)
{
	uint8_t hdr[16];
	uint32_t v = htobe32(NBD_SIMPLE_REPLY_MAGIC);
	int r;

	memcpy(hdr, &v, 4);
	v = htobe32(error);
	memcpy(hdr + 4, &v, 4);
	memcpy(hdr + 8, &cookie, 8);
	r = write_full(fd, hdr, sizeof(hdr));
	if (!r && !error && len)
		r = write_full(fd, data, len);
	return r;
}

static uint32_t nbd_errno(int r)
{
	switch (-r) {
	case 0:
		return 0;
	case ENOSPC:
		return NBD_ENOSPC;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	default:
		return NBD_EIO;
	}
}

static int execute(struct blkrepl_image *img, const struct nbd_request *req,
		   uint8_t *buf)
{
	int r;

	switch (req->type) {
	case NBD_CMD_READ:
		return image_read(img, buf, req->length, req->offset);
	case NBD_CMD_WRITE:
		r = image_change(img, BLKREPL_REC_WRITE, buf, req->length,
				 req->offset, 0);
		break;
	case NBD_CMD_TRIM:
		r = image_change(img, BLKREPL_REC_TRIM, NULL, req->length,
				 req->offset, 1);
		break;
	case NBD_CMD_WRITE_ZEROES:
		r = image_change(img, BLKREPL_REC_ZERO, NULL, req->length,
				 req->offset,
				 !(req->flags & NBD_CMD_FLAG_NO_HOLE));
		break;
	default:
		return image_flush(img);
	}
	if (!r && (req->flags & NBD_CMD_FLAG_FUA))
		r = image_flush(img);
	return r;
}

/* A buffer as large as the largest payload seen so far. */
static uint8_t *payload(uint8_t **buf, uint32_t *cap, uint32_t len)
{
	uint8_t *p;

	if (len <= *cap)
		return *buf;
	p = realloc(*buf, len);
	if (!p)
		return NULL;
	*buf = p;
	*cap = len;
	return p;
}

static int serve_one(struct blkrepl_image *img, int fd, uint8_t **buf,
		     uint32_t *cap)
{
	struct nbd_request req;
	uint8_t raw[28];
	uint32_t magic, error;
	uint8_t *data = NULL;
	int r = read_full(fd, raw, sizeof(raw));

	if (r < 0)
		return r;
	nbd_request_decode(raw, &magic, &req);
	if (magic != NBD_REQUEST_MAGIC) {
		br_err(img->ctx, "NBD request with bad magic 0x%08x", magic);
		return -EPROTO;
	}
	if (req.type == NBD_CMD_WRITE && req.length > NBD_MAX_PAYLOAD) {
		br_err(img->ctx, "NBD write of %u bytes (at most %u)",
		       req.length, NBD_MAX_PAYLOAD);
		return -EPROTO;
	}
	if (req.type == NBD_CMD_WRITE) {
		data = payload(buf, cap, req.length);
		if (!data)
			return -ENOMEM;
		r = read_full(fd, data, req.length);
		if (r < 0)
			return r;
	}
	if (req.type == NBD_CMD_DISC)
		return 1;
	error = nbd_request_check(img, &req);
	if (!error && req.type == NBD_CMD_READ) {
		data = payload(buf, cap, req.length);
		if (!data)
			error = NBD_ENOMEM;
	}
	if (!error)
		error = nbd_errno(execute(img, &req, data));
	return send_reply(fd, req.cookie, error, data,
			  req.type == NBD_CMD_READ ? req.length : 0);
}

int nbd_transmission(struct blkrepl_image *img, int fd)
{
	uint8_t *buf = NULL;
	uint32_t cap = 0;
	int r;

	do
		r = serve_one(img, fd, &buf, &cap);
	while (!r);
	free(buf);
	if (r == 1)
		return image_flush(img) < 0 ? -EIO : 0;
	return r;
}

int blkrepl_nbd_serve(struct blkrepl_image *img, const char *export, int fd)
{
	int r = nbd_handshake(img, export, fd);

	if (r)
		return r > 0 ? 0 : r;
	return nbd_transmission(img, fd);
}

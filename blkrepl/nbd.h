/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD protocol's numbers (NetworkBlockDevice/nbd doc/proto.md). */
#ifndef BLKREPL_NBD_H
#define BLKREPL_NBD_H

#include <stdint.h>

#include "blkrepl-private.h"

#define NBD_MAGIC 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull
#define NBD_REPLY_OPT_MAGIC 0x3e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)

#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_INFO 6
#define NBD_OPT_GO 7

#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_ERR_UNSUP (0x80000000u + 1)
#define NBD_REP_ERR_INVALID (0x80000000u + 3)
#define NBD_REP_ERR_UNKNOWN (0x80000000u + 6)

#define NBD_INFO_EXPORT 0
#define NBD_INFO_BLOCK_SIZE 3

#define NBD_TFLAG_HAS_FLAGS (1u << 0)
#define NBD_TFLAG_READ_ONLY (1u << 1)
#define NBD_TFLAG_SEND_FLUSH (1u << 2)
#define NBD_TFLAG_SEND_FUA (1u << 3)
#define NBD_TFLAG_SEND_TRIM (1u << 5)
#define NBD_TFLAG_SEND_WRITE_ZEROES (1u << 6)

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)

#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4
#define NBD_CMD_WRITE_ZEROES 6

#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP 95

/* The largest READ or WRITE served, as most servers and clients agree. */
#define NBD_MAX_PAYLOAD (32u << 20)
/* Options are names and info lists: anything longer is not one of ours. */
#define NBD_MAX_OPTION 4096

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* nbd_handshake.c: 0 once an export was chosen, 1 after NBD_OPT_ABORT */
int nbd_handshake(struct blkrepl_image *img, const char *export, int fd);
uint16_t nbd_transmission_flags(const struct blkrepl_image *img);

/* nbd_requests.c */
void nbd_request_decode(const uint8_t raw[28], uint32_t *magic,
			struct nbd_request *req);
/* 0 or the NBD error a valid-looking request gets (range, flags) */
uint32_t nbd_request_check(const struct blkrepl_image *img,
			   const struct nbd_request *req);
int nbd_transmission(struct blkrepl_image *img, int fd);

#endif

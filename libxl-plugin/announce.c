// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * After a failover the guest's MACs live behind another host's port, but
 * the LAN's switches still send their frames to the old one until the
 * guest speaks: Linux guests announce nothing on resume (arp_notify is off
 * by default) and HVM guests without PV drivers never learn they moved.
 * So the backup announces them, as QEMU does after a migration: a few
 * broadcast RARP frames from each vif's MAC out of the bridge it is on,
 * which every switch on the way learns from.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libxl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "announce.h"
#include "libxrepl-private.h"

#define ETH_P_RARP_ 0x8035
#define ROUNDS 5

static void rarp_frame(uint8_t frame[ETH_ZLEN], const libxl_mac mac)
{
	static const uint8_t head[] = { 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 3 };
	uint8_t *p = frame;

	memset(frame, 0, ETH_ZLEN);
	memset(p, 0xff, ETH_ALEN);
	memcpy(p + ETH_ALEN, mac, ETH_ALEN);
	p[12] = ETH_P_RARP_ >> 8;
	p[13] = ETH_P_RARP_ & 0xff;
	p += ETH_HLEN;
	memcpy(p, head, sizeof(head));
	memcpy(p + 8, mac, ETH_ALEN); /* sender hardware address */
	memcpy(p + 18, mac, ETH_ALEN); /* target hardware address */
}

static int send_on(struct xrepl_ctx *ctx, int fd, const char *bridge,
		   const uint8_t frame[ETH_ZLEN])
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_halen = ETH_ALEN };

	sll.sll_ifindex = (int)if_nametoindex(bridge);
	if (!sll.sll_ifindex) {
		warn(ctx, "cannot announce the guest on %s: no such interface",
		     bridge);
		return -ENODEV;
	}
	memset(sll.sll_addr, 0xff, ETH_ALEN);
	if (sendto(fd, frame, ETH_ZLEN, 0, (struct sockaddr *)&sll,
		   sizeof(sll)) < 0) {
		warn(ctx, "cannot announce the guest on %s: %s", bridge,
		     strerror(errno));
		return -errno;
	}
	return 0;
}

void xrepl_announce(struct xrepl_ctx *ctx, const libxl_domain_config *dc)
{
	uint8_t frame[ETH_ZLEN];
	struct timespec gap;
	const char *bridge;
	int fd, round, i, sent = 0;

	if (!dc->num_nics)
		return;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		warn(ctx, "cannot announce the guest's MACs: %s",
		     strerror(errno));
		return;
	}
	for (round = 0; round < ROUNDS; round++) {
		for (i = 0; i < dc->num_nics; i++) {
			bridge = dc->nics[i].bridge ? dc->nics[i].bridge :
						      "xenbr0";
			rarp_frame(frame, dc->nics[i].mac);
			if (send_on(ctx, fd, bridge, frame) < 0)
				goto out;
			sent++;
		}
		/* 50, 150, 250... ms apart, as QEMU's announce-self */
		gap = (struct timespec){ 0, (50 + 100 * round) * 1000000L };
		if (round + 1 < ROUNDS)
			nanosleep(&gap, NULL);
	}
out:
	close(fd);
	if (sent)
		info(ctx,
		     "announced the guest's %d MAC(s) on the LAN (%d frames)",
		     dc->num_nics, sent);
}

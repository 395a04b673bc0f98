/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A queue of byte chunks between two threads. Pushing never waits: the
 * primary's reader must never block the guest's pause on anything but the
 * copy.
 */
#ifndef XREPL_CHUNK_QUEUE_H
#define XREPL_CHUNK_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct chunk {
	struct chunk *next;
	size_t len;
	uint8_t data[];
};

struct chunk_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct chunk *head;
	struct chunk *tail;
	size_t bytes;
	int closed;
};

void chunk_queue_init(struct chunk_queue *q);
void chunk_queue_fini(struct chunk_queue *q);
/* Takes ownership of c. */
void chunk_queue_push(struct chunk_queue *q, struct chunk *c);
void chunk_queue_close(struct chunk_queue *q);
/*
 * The next chunk (the caller frees it), or NULL when the queue is closed
 * and empty or timeout_ms passed (*timed_out then set).
 */
struct chunk *chunk_queue_pop(struct chunk_queue *q, int timeout_ms,
			      int *timed_out);

#endif

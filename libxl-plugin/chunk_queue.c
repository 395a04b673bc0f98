// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>

#include "chunk_queue.h"
#include "libxrepl-private.h"

void chunk_queue_init(struct chunk_queue *q)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &attr);
	pthread_condattr_destroy(&attr);
	q->head = NULL;
	q->tail = NULL;
	q->bytes = 0;
	q->closed = 0;
}

void chunk_queue_fini(struct chunk_queue *q)
{
	struct chunk *c;

	while ((c = q->head)) {
		q->head = c->next;
		free(c);
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

void chunk_queue_push(struct chunk_queue *q, struct chunk *c)
{
	c->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->bytes += c->len;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void chunk_queue_close(struct chunk_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct chunk *chunk_queue_pop(struct chunk_queue *q, int timeout_ms,
			      int *timed_out)
{
	struct timespec deadline;
	struct chunk *c;
	int r = 0;

	deadline = xrepl_deadline((unsigned int)timeout_ms);
	*timed_out = 0;
	pthread_mutex_lock(&q->lock);
	while (!q->head && !q->closed && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
	c = q->head;
	if (c) {
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		q->bytes -= c->len;
	} else {
		*timed_out = !q->closed;
	}
	pthread_mutex_unlock(&q->lock);
	return c;
}

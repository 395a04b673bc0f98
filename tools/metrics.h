/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_METRICS_H
#define XREPL_METRICS_H

#include <stdio.h>

/*
 * The status LINES (one JSON object each, as /run/xrepl holds them) as
 * Prometheus text-format metrics, for node_exporter's textfile collector.
 */
void metrics_print(FILE *f, const char *const *lines, size_t n);

#endif

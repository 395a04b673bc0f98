// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Prometheus's text format (version 0.0.4) from the status files: one
 * family per quantity, every guest and role a labelled sample of it, so
 * that node_exporter's textfile collector can serve `xrepl status
 * --metrics > .../xrepl.prom` (written to a temporary file and renamed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "run_dir.h"

enum role { ANY, PRIMARY, BACKUP };

/* A number of the status line: KEY, inside the object IN if set. */
struct scalar {
	const char *name;
	const char *type;
	const char *help;
	enum role role;
	const char *in;
	const char *key;
	double scale;
};

static const struct scalar scalars[] = {
	{ "xrepl_epochs_total", "counter",
	  "Checkpoints taken (primary) or received complete (backup).", ANY,
	  NULL, "epochs", 1 },
	{ "xrepl_acked_epochs_total", "counter",
	  "Checkpoints the backup acknowledged.", PRIMARY, NULL, "acked", 1 },
	{ "xrepl_interval_seconds", "gauge",
	  "The checkpoint interval in force.", PRIMARY, NULL, "interval_ms",
	  1e-3 },
	{ "xrepl_pause_seconds", "gauge",
	  "How long the guest was paused for the last checkpoint.", PRIMARY,
	  "pause_ms", "last", 1e-3 },
	{ "xrepl_pause_avg_seconds", "gauge",
	  "The guest's mean pause per checkpoint.", PRIMARY, "pause_ms", "avg",
	  1e-3 },
	{ "xrepl_pause_max_seconds", "gauge",
	  "The guest's longest pause for a checkpoint.", PRIMARY, "pause_ms",
	  "max", 1e-3 },
	{ "xrepl_ack_latency_seconds", "gauge",
	  "From the end of the last checkpoint to the backup's ACK.", PRIMARY,
	  "ack_latency_ms", "last", 1e-3 },
	{ "xrepl_ack_latency_avg_seconds", "gauge",
	  "The mean time from a checkpoint's end to its ACK.", PRIMARY,
	  "ack_latency_ms", "avg", 1e-3 },
	{ "xrepl_dirty_pages", "gauge", "Pages the last checkpoint carried.",
	  PRIMARY, NULL, "dirty_pages_last", 1 },
	{ "xrepl_bytes_raw_total", "counter",
	  "Checkpoint stream bytes before compression.", ANY, NULL, "bytes_raw",
	  1 },
	{ "xrepl_bytes_wire_total", "counter",
	  "Checkpoint stream bytes on the wire, compressed.", ANY, NULL,
	  "bytes_wire", 1 },
};

/* A number of one object of the array ARRAY, labelled by its LABEL. */
struct item {
	const char *name;
	const char *type;
	const char *help;
	enum role role;
	const char *array;
	const char *label;
	const char *key;
};

static const struct item items[] = {
	{ "xrepl_output_held_bytes", "gauge",
	  "Guest output held until the backup acknowledges its checkpoint.",
	  PRIMARY, "netbuf", "vif", "held_bytes" },
	{ "xrepl_output_held_packets", "gauge",
	  "Guest packets held until the backup acknowledges their checkpoint.",
	  PRIMARY, "netbuf", "vif", "held_packets" },
	{ "xrepl_output_released_bytes_total", "counter",
	  "Guest output released after its checkpoint's ACK.", PRIMARY,
	  "netbuf", "vif", "released_bytes" },
	{ "xrepl_output_dropped_packets_total", "counter",
	  "Guest packets dropped: over the buffer's limit, or held when "
	  "protection ended without the backup's word.",
	  PRIMARY, "netbuf", "vif", "dropped_packets" },
	{ "xrepl_disk_sent_bytes_total", "counter",
	  "Disk changes sent to the backup.", PRIMARY, "disks", "vdev",
	  "sent_bytes" },
	{ "xrepl_replica_committed_epoch", "gauge",
	  "The checkpoint the backup's replica holds.", BACKUP, "disks", "vdev",
	  "committed" },
	{ "xrepl_replica_held_bytes", "gauge",
	  "Disk writes of checkpoints not yet complete, held by the backup.",
	  BACKUP, "disks", "vdev", "held_bytes" },
};

static int role_is(const char *line, enum role role)
{
	char r[16];

	status_field(line, "role", r, sizeof(r));
	return role == ANY ||
	       !strcmp(r, role == PRIMARY ? "primary" : "backup");
}

/* NAME="VALUE", escaped as the format wants */
static void label(FILE *f, const char *name, const char *value)
{
	fprintf(f, "%s=\"", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fputc('\\', f);
		if (*value == '\n')
			fputs("\\n", f);
		else
			fputc(*value, f);
	}
	fputc('"', f);
}

static void labels(FILE *f, const char *line)
{
	char d[256], r[16];

	label(f, "domain", status_field(line, "domain", d, sizeof(d)));
	fputc(',', f);
	label(f, "role", status_field(line, "role", r, sizeof(r)));
}

static void header(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int number(const char *line, const char *key, double *v)
{
	char buf[64], *end;

	status_field(line, key, buf, sizeof(buf));
	*v = strtod(buf, &end);
	return end != buf && !*end;
}

static void print_scalar(FILE *f, const struct scalar *s,
			 const char *const *lines, size_t n)
{
	const char *obj;
	int said = 0;
	size_t i;
	double v;

	for (i = 0; i < n; i++) {
		obj = s->in ? strstr(lines[i], s->in) : lines[i];
		if (!obj || !role_is(lines[i], s->role) ||
		    !number(obj, s->key, &v))
			continue;
		if (!said++)
			header(f, s->name, s->type, s->help);
		fprintf(f, "%s{", s->name);
		labels(f, lines[i]);
		fprintf(f, "} %.9g\n", v * s->scale);
	}
}

static void print_item(FILE *f, const struct item *it, const char *const *lines,
		       size_t n)
{
	char value[256];
	const char *p;
	int said = 0;
	size_t i;
	double v;

	for (i = 0; i < n; i++) {
		if (!role_is(lines[i], it->role))
			continue;
		for (p = NULL; status_next_object(lines[i], it->array, &p);) {
			if (!number(p, it->key, &v))
				continue;
			if (!said++)
				header(f, it->name, it->type, it->help);
			fprintf(f, "%s{", it->name);
			labels(f, lines[i]);
			fputc(',', f);
			label(f, it->label,
			      status_field(p, it->label, value, sizeof(value)));
			fprintf(f, "} %.9g\n", v);
		}
	}
}

/* the state and the split-brain guard as labels of a constant 1 */
static void print_state(FILE *f, const char *const *lines, size_t n)
{
	char state[64], guard[64];
	size_t i;

	if (!n)
		return;
	header(f, "xrepl_state", "gauge",
	       "1, labelled with the protection's state and what guards it from split brain (none: nothing).");
	for (i = 0; i < n; i++) {
		fprintf(f, "xrepl_state{");
		labels(f, lines[i]);
		fputc(',', f);
		label(f, "state",
		      status_field(lines[i], "state", state, sizeof(state)));
		fputc(',', f);
		label(f, "split_brain_guard",
		      status_field(lines[i], "split_brain_guard", guard,
				   sizeof(guard)));
		fputs("} 1\n", f);
	}
}

void metrics_print(FILE *f, const char *const *lines, size_t n)
{
	size_t i;

	print_state(f, lines, n);
	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
		print_scalar(f, &scalars[i], lines, n);
	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		print_item(f, &items[i], lines, n);
}

/*
 * cpgload: the Corosync side of hastack's real-network benchmark.
 *
 * Written for hastack; it talks to a running corosync through libcpg only.
 *
 *   cpgload watch GROUP [--connect-timeout S]
 *       Join GROUP and print one JSON line per event, flushed at once, each with
 *       "ts" = CLOCK_REALTIME in epoch seconds:
 *         {"ts":..,"event":"connected","nodeid":N}
 *         {"ts":..,"event":"regular","ring_id":[rep,seq],"members":[..]}
 *             (a totem regular configuration; the one current at connect time is
 *              reported too, CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF)
 *         {"ts":..,"event":"group_change","group":G,"members":[[nodeid,pid],..],
 *          "left":[[nodeid,pid,reason],..],"joined":[[nodeid,pid,reason],..]}
 *         {"ts":..,"event":"disconnected","error":E}   (corosync went away; exit 1)
 *
 *   cpgload bench GROUP --size N --duration S [--send] [--rate R]
 *                 [--senders K] [--members M] [--timeout T] [--connect-timeout S]
 *       Join GROUP and wait until it has M members (default 1). Then, with --send,
 *       multicast N-byte messages (agreed order) for S seconds, as fast as flow
 *       control allows (CS_ERR_TRY_AGAIN: wait for the IPC socket, dispatch, retry)
 *       or at R messages/s, and finish with one END message. Every member counts
 *       the DATA messages delivered to it until it has seen END from K senders
 *       (default 1), or T seconds (default 30) after the sending time is over.
 *       It prints one JSON object:
 *         {"node","delivered","sent","duration_s","msgs_per_s","bytes_per_s",
 *          "latency_ms":{"p50","p90","p99","max"},"order_hash","first",
 *          "senders_ended","timed_out","group_changes"}
 *       duration_s runs from the moment the group was complete to the last DATA
 *       delivery. order_hash is FNV-1a 64 (offset 0xcbf29ce484222325, prime
 *       0x100000001b3) over, for every DATA message in delivery order, the sender's
 *       nodeid as 4 bytes little-endian then its counter as 8 bytes little-endian;
 *       printed as 16 lowercase hex digits. first = [nodeid, counter] of the first
 *       DATA message delivered (null if none).
 *
 * Message layout (little-endian): u32 magic "HABN", u32 kind (1 DATA, 2 END),
 * u32 sender nodeid, u32 zero, u64 per-sender counter (from 0), u64 send time in
 * CLOCK_REALTIME nanoseconds; the rest up to --size is filler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>

#define MAGIC 0x4e424148u /* "HABN" read as little-endian u32 */
#define KIND_DATA 1u
#define KIND_END 2u
#define HEADER_BYTES 32u
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define MAX_SENDERS 64

struct options {
	const char *mode;
	const char *group;
	size_t size;
	double duration_s;
	int send;
	double rate;
	unsigned senders;
	unsigned members;
	double timeout_s;
	double connect_timeout_s;
};

struct bench_state {
	uint32_t nodeid;
	int started;
	double t_start;
	double t_last;
	uint64_t delivered;
	uint64_t delivered_bytes;
	uint64_t hash;
	int have_first;
	uint32_t first_node;
	uint64_t first_counter;
	double *lat_ms;
	size_t lat_len, lat_cap;
	struct { uint32_t nodeid, pid; } ended[MAX_SENDERS];
	unsigned n_ended;
	uint64_t group_changes;
};

static struct options opt;
static struct bench_state st;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static void die(const char *what, cs_error_t err)
{
	printf("{\"ts\":%.6f,\"event\":\"error\",\"what\":\"%s\",\"error\":%d}\n",
	       now_s(), what, (int)err);
	fflush(stdout);
	exit(1);
}

/* ---- watch mode callbacks ------------------------------------------------------ */

static void print_addresses(const struct cpg_address *a, size_t n, int with_reason)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		if (with_reason)
			printf("%s[%u,%u,%u]", i ? "," : "", a[i].nodeid, a[i].pid, a[i].reason);
		else
			printf("%s[%u,%u]", i ? "," : "", a[i].nodeid, a[i].pid);
	}
	putchar(']');
}

static void watch_group_change(cpg_handle_t h, const struct cpg_name *g,
			       const struct cpg_address *members, size_t n_members,
			       const struct cpg_address *left, size_t n_left,
			       const struct cpg_address *joined, size_t n_joined)
{
	(void)h;
	printf("{\"ts\":%.6f,\"event\":\"group_change\",\"group\":\"%.*s\",\"members\":",
	       now_s(), (int)g->length, g->value);
	print_addresses(members, n_members, 0);
	printf(",\"left\":");
	print_addresses(left, n_left, 1);
	printf(",\"joined\":");
	print_addresses(joined, n_joined, 1);
	printf("}\n");
	fflush(stdout);
}

static void watch_totem_change(cpg_handle_t h, struct cpg_ring_id ring_id,
			       uint32_t n_members, const uint32_t *members)
{
	(void)h;
	printf("{\"ts\":%.6f,\"event\":\"regular\",\"ring_id\":[%u,%" PRIu64 "],\"members\":[",
	       now_s(), ring_id.nodeid, ring_id.seq);
	for (uint32_t i = 0; i < n_members; i++)
		printf("%s%u", i ? "," : "", members[i]);
	printf("]}\n");
	fflush(stdout);
}

static void watch_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid,
			  uint32_t pid, void *msg, size_t len)
{
	(void)h; (void)g; (void)nodeid; (void)pid; (void)msg; (void)len;
}

/* ---- bench mode callbacks ------------------------------------------------------ */

static void bench_group_change(cpg_handle_t h, const struct cpg_name *g,
			       const struct cpg_address *members, size_t n_members,
			       const struct cpg_address *left, size_t n_left,
			       const struct cpg_address *joined, size_t n_joined)
{
	(void)h; (void)g; (void)members; (void)left; (void)n_left; (void)joined; (void)n_joined;
	st.group_changes++;
	if (!st.started && n_members >= opt.members) {
		st.started = 1;
		st.t_start = now_s();
	}
}

static void note_end(uint32_t nodeid, uint32_t pid)
{
	for (unsigned i = 0; i < st.n_ended; i++)
		if (st.ended[i].nodeid == nodeid && st.ended[i].pid == pid)
			return;
	if (st.n_ended < MAX_SENDERS) {
		st.ended[st.n_ended].nodeid = nodeid;
		st.ended[st.n_ended].pid = pid;
		st.n_ended++;
	}
}

static void bench_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid,
			  uint32_t pid, void *msg, size_t len)
{
	const unsigned char *p = msg;
	(void)h; (void)g;
	if (len < HEADER_BYTES || get_u32(p) != MAGIC)
		return;
	if (get_u32(p + 4) == KIND_END) {
		note_end(nodeid, pid);
		return;
	}
	double t = now_s();
	uint32_t sender = get_u32(p + 8);
	uint64_t counter = get_u64(p + 16);
	uint64_t sent_ns = get_u64(p + 24);
	st.hash = fnv1a(st.hash, p + 8, 4);
	st.hash = fnv1a(st.hash, p + 16, 8);
	if (!st.have_first) {
		st.have_first = 1;
		st.first_node = sender;
		st.first_counter = counter;
	}
	st.delivered++;
	st.delivered_bytes += len;
	st.t_last = t;
	if (st.lat_len == st.lat_cap) {
		st.lat_cap = st.lat_cap ? 2 * st.lat_cap : 65536;
		st.lat_ms = realloc(st.lat_ms, st.lat_cap * sizeof(double));
		if (!st.lat_ms) {
			perror("realloc");
			exit(1);
		}
	}
	st.lat_ms[st.lat_len++] = ((double)now_ns() - (double)sent_ns) / 1e6;
}

/* ---- connection ---------------------------------------------------------------- */

static cpg_handle_t connect_and_join(cpg_model_v1_data_t *model)
{
	cpg_handle_t handle;
	struct cpg_name name;
	cs_error_t err;
	double give_up = now_s() + opt.connect_timeout_s;

	for (;;) {
		err = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)model, NULL);
		if (err == CS_OK)
			break;
		if (now_s() > give_up)
			die("cpg_model_initialize", err);
		usleep(10000);
	}
	name.length = (uint32_t)strlen(opt.group);
	memcpy(name.value, opt.group, name.length);
	while ((err = cpg_join(handle, &name)) == CS_ERR_TRY_AGAIN)
		usleep(1000);
	if (err != CS_OK)
		die("cpg_join", err);
	return handle;
}

/* Wait up to timeout_ms for the IPC fd, then run every callback that is ready. */
static void pump(cpg_handle_t handle, int fd, int timeout_ms, const char *mode)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = poll(&pfd, 1, timeout_ms);
	if (r < 0 && errno != EINTR) {
		perror("poll");
		exit(1);
	}
	if (r > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) && !(pfd.revents & POLLIN)) {
		printf("{\"ts\":%.6f,\"event\":\"disconnected\",\"error\":\"%s\"}\n", now_s(), mode);
		fflush(stdout);
		exit(1);
	}
	if (r > 0) {
		cs_error_t err = cpg_dispatch(handle, CS_DISPATCH_ALL);
		if (err != CS_OK && err != CS_ERR_TRY_AGAIN) {
			printf("{\"ts\":%.6f,\"event\":\"disconnected\",\"error\":%d}\n", now_s(), (int)err);
			fflush(stdout);
			exit(1);
		}
	}
}

static int run_watch(void)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = watch_deliver,
		.cpg_confchg_fn = watch_group_change,
		.cpg_totem_confchg_fn = watch_totem_change,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	cpg_handle_t handle = connect_and_join(&model);
	unsigned int nodeid = 0;
	int fd;
	cpg_local_get(handle, &nodeid);
	printf("{\"ts\":%.6f,\"event\":\"connected\",\"nodeid\":%u}\n", now_s(), nodeid);
	fflush(stdout);
	if (cpg_fd_get(handle, &fd) != CS_OK)
		die("cpg_fd_get", CS_ERR_LIBRARY);
	for (;;)
		pump(handle, fd, -1, "watch");
	return 0;
}

/* ---- bench --------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double q)
{
	if (st.lat_len == 0)
		return 0.0;
	size_t k = (size_t)(q * (double)(st.lat_len - 1) + 0.5);
	return st.lat_ms[k];
}

static cs_error_t mcast(cpg_handle_t handle, unsigned char *buf, uint32_t kind, uint64_t counter)
{
	struct iovec iov = { .iov_base = buf, .iov_len = opt.size };
	put_u32(buf + 4, kind);
	put_u64(buf + 16, counter);
	put_u64(buf + 24, now_ns());
	return cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
}

static int run_bench(void)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = bench_deliver,
		.cpg_confchg_fn = bench_group_change,
		.cpg_totem_confchg_fn = NULL,
		.flags = 0,
	};
	st.hash = FNV_OFFSET;
	cpg_handle_t handle = connect_and_join(&model);
	unsigned int nodeid = 0;
	int fd, timed_out = 0, send_done = !opt.send;
	uint64_t sent = 0;
	unsigned char *buf = calloc(1, opt.size);
	cs_error_t err;

	if (!buf || cpg_fd_get(handle, &fd) != CS_OK || cpg_local_get(handle, &nodeid) != CS_OK)
		die("setup", CS_ERR_LIBRARY);
	st.nodeid = nodeid;
	put_u32(buf, MAGIC);
	put_u32(buf + 8, nodeid);

	double wait_until = now_s() + opt.connect_timeout_s + opt.timeout_s;
	while (!st.started) {
		if (now_s() > wait_until)
			die("waiting for the group to be complete", CS_ERR_TIMEOUT);
		pump(handle, fd, 100, "bench");
	}
	double t_stop = st.t_start + opt.duration_s;
	double give_up = t_stop + opt.timeout_s;

	while (!send_done || st.n_ended < opt.senders) {
		double t = now_s();
		if (t > give_up) {
			timed_out = 1;
			break;
		}
		if (send_done) {
			pump(handle, fd, 50, "bench");
			continue;
		}
		if (t >= t_stop) {
			while ((err = mcast(handle, buf, KIND_END, sent)) == CS_ERR_TRY_AGAIN)
				pump(handle, fd, 1, "bench");
			if (err != CS_OK)
				die("cpg_mcast_joined END", err);
			send_done = 1;
			continue;
		}
		if (opt.rate > 0) {
			double due = st.t_start + (double)sent / opt.rate;
			if (t < due) {
				pump(handle, fd, (int)((due - t) * 1000.0), "bench");
				continue;
			}
		}
		err = mcast(handle, buf, KIND_DATA, sent);
		if (err == CS_OK) {
			sent++;
			if ((sent & 31) == 0)
				pump(handle, fd, 0, "bench");
		} else if (err == CS_ERR_TRY_AGAIN) {
			pump(handle, fd, 1, "bench");
		} else {
			die("cpg_mcast_joined", err);
		}
	}

	double duration = st.delivered ? st.t_last - st.t_start : 0.0;
	if (st.lat_len)
		qsort(st.lat_ms, st.lat_len, sizeof(double), cmp_double);
	printf("{\"node\":%u,\"delivered\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"duration_s\":%.6f,"
	       "\"msgs_per_s\":%.1f,\"bytes_per_s\":%.1f,"
	       "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
	       "\"order_hash\":\"%016" PRIx64 "\",",
	       nodeid, st.delivered, sent, duration,
	       duration > 0 ? (double)st.delivered / duration : 0.0,
	       duration > 0 ? (double)st.delivered_bytes / duration : 0.0,
	       pct(0.50), pct(0.90), pct(0.99), st.lat_len ? st.lat_ms[st.lat_len - 1] : 0.0,
	       st.hash);
	if (st.have_first)
		printf("\"first\":[%u,%" PRIu64 "],", st.first_node, st.first_counter);
	else
		printf("\"first\":null,");
	printf("\"senders_ended\":%u,\"timed_out\":%s,\"group_changes\":%" PRIu64 "}\n",
	       st.n_ended, timed_out ? "true" : "false", st.group_changes);
	fflush(stdout);
	cpg_finalize(handle);
	return timed_out ? 2 : 0;
}

/* ---- arguments ----------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: cpgload watch GROUP [--connect-timeout S]\n"
		"       cpgload bench GROUP --size N --duration S [--send] [--rate R]\n"
		"                     [--senders K] [--members M] [--timeout T] [--connect-timeout S]\n");
	exit(2);
}

static double number(const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "cpgload: bad number %s (expected %g..%g)\n", s, lo, hi);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv)
{
	if (argc < 3)
		usage();
	opt.mode = argv[1];
	opt.group = argv[2];
	opt.size = 100;
	opt.duration_s = 10;
	opt.senders = 1;
	opt.members = 1;
	opt.timeout_s = 30;
	opt.connect_timeout_s = 30;
	size_t glen = strlen(opt.group);
	if (glen == 0 || glen >= CPG_MAX_NAME_LENGTH)
		usage();
	for (size_t i = 0; i < glen; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			    opt.group[i]))
			usage();
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--send") == 0) {
			opt.send = 1;
			continue;
		}
		if (!v)
			usage();
		if (strcmp(a, "--size") == 0)
			opt.size = (size_t)number(v, HEADER_BYTES, 1 << 20);
		else if (strcmp(a, "--duration") == 0)
			opt.duration_s = number(v, 0, 86400);
		else if (strcmp(a, "--rate") == 0)
			opt.rate = number(v, 0, 1e9);
		else if (strcmp(a, "--senders") == 0)
			opt.senders = (unsigned)number(v, 0, MAX_SENDERS);
		else if (strcmp(a, "--members") == 0)
			opt.members = (unsigned)number(v, 1, CPG_MEMBERS_MAX);
		else if (strcmp(a, "--timeout") == 0)
			opt.timeout_s = number(v, 0, 86400);
		else if (strcmp(a, "--connect-timeout") == 0)
			opt.connect_timeout_s = number(v, 0, 86400);
		else
			usage();
		i++;
	}
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	if (strcmp(opt.mode, "watch") == 0)
		return run_watch();
	if (strcmp(opt.mode, "bench") == 0)
		return run_bench();
	usage();
	return 2;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `shadowctl peek`: hexdump one page of the target, if authorized. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "args.h"
#include "clock.h"
#include "conn.h"
#include "render-json.h"
#include "render-text.h"
#include "shadowctl.h"
#include "table.h"
#include "watch-req.h"

static int parse_args(struct sctl_watch_req *req, uint64_t *vaddr, bool *json, int argc,
		      char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			sctl_help_peek();
			return -1;
		default:
			return sctl_option_error("peek", argc, argv, c);
		}
	}
	if (argc - optind < 2)
		return sctl_usage_error("peek", "expected PID VADDR");
	if (argc - optind > 2)
		return sctl_usage_error("peek", "unexpected argument '%s'", argv[optind + 2]);
	if (sctl_parse_pid(argv[optind], &req->pid, &why) < 0)
		return sctl_usage_error("peek", "invalid PID '%s': %s", argv[optind], why);
	if (sctl_parse_addr(argv[optind + 1], vaddr, &why) < 0)
		return sctl_usage_error("peek", "invalid VADDR '%s': %s", argv[optind + 1], why);
	*vaddr &= ~(SPT_PAGE_SIZE - 1);
	/* Watch only the page itself: the snapshot stays tiny. */
	req->has_range = true;
	req->range.start = *vaddr;
	req->range.end = *vaddr + SPT_PAGE_SIZE;
	return 0;
}

static int send_peek(struct sctl_conn *conn, uint32_t watch_id, uint64_t vaddr,
		     uint32_t *request_id)
{
	Shadowpt__Peek p = SHADOWPT__PEEK__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	p.has_watch_id = p.has_vaddr = 1;
	p.watch_id = watch_id;
	p.vaddr = vaddr;
	f.has_request_id = 1;
	f.request_id = *request_id = sctl_conn_new_request_id(conn);
	f.msg_case = SHADOWPT__FRAME__MSG_PEEK;
	f.peek = &p;
	return sctl_conn_send(conn, &f);
}

/* Waits for the PeekReply, keeping the table current meanwhile. */
static int await_reply(struct sctl_conn *conn, const Shadowpt__WatchStarted *ws,
		       uint32_t request_id, uint64_t vaddr, struct sctl_table *t, bool json)
{
	for (;;) {
		const Shadowpt__PeekReply *pr;
		const char *why;
		SptFrame *f;
		bool interrupted;
		int r = sctl_conn_wait(conn, &f, 30000, &interrupted);

		if (r || interrupted)
			return r;
		switch (f->msg_case) {
		case SHADOWPT__FRAME__MSG_PEEK_REPLY:
			pr = f->peek_reply;
			if (f->request_id != request_id || pr->vaddr != vaddr) {
				r = sctl_fail_protocol(json, ws->pid, -1,
						       "peek reply for another request");
			} else if (!pr->has_data || pr->data.len != SPT_PAGE_SIZE) {
				r = sctl_fail_protocol(json, ws->pid, -1,
						       "peek reply is not one page");
			} else {
				if (json)
					sctl_json_peek(stdout, ws, t, vaddr, pr->data.data,
						       pr->data.len);
				else
					sctl_text_hexdump(stdout, vaddr, pr->data.data,
							  pr->data.len);
				r = -1;
			}
			break;
		case SHADOWPT__FRAME__MSG_SNAPSHOT:
			r = sctl_table_snapshot(t, f->snapshot, sctl_now_ms(), &why);
			r = r < 0 ? sctl_fail_protocol(json, ws->pid, -1, why) : 0;
			break;
		case SHADOWPT__FRAME__MSG_DELTA:
			r = sctl_table_delta(t, f->delta, sctl_now_ms(), &why);
			r = r < 0 ? sctl_fail_protocol(json, ws->pid, -1, why) : 0;
			break;
		case SHADOWPT__FRAME__MSG_TARGET_EXITED:
			r = sctl_fail(json, ws->pid, -1, SCTL_EXIT_NO_PROCESS,
				      "process %d exited before the page was read", ws->pid);
			break;
		case SHADOWPT__FRAME__MSG_ERROR:
			r = sctl_fail_error(f->error, json, ws->pid, -1);
			break;
		case SHADOWPT__FRAME__MSG_PONG:
		case SHADOWPT__FRAME__MSG_WATCH_STATUS: /* the data source's health: no answer */
			r = 0;
			break;
		default:
			r = sctl_fail_protocol(json, ws->pid, -1, "unexpected message during peek");
			break;
		}
		spt_frame_free(f);
		if (r)
			return r < 0 ? 0 : r;
	}
}

/* The peek command's body: ask for the page, print the reply. */
static int peek_page(struct sctl_conn *conn, const Shadowpt__WatchStarted *ws,
		     struct sctl_table *t, bool json, void *ctx)
{
	uint64_t vaddr = *(const uint64_t *)ctx;
	uint32_t request_id = 0;
	int r = send_peek(conn, ws->watch_id, vaddr, &request_id);

	return r ? r : await_reply(conn, ws, request_id, vaddr, t, json);
}

int sctl_cmd_peek(const struct sctl_global *g, int argc, char **argv)
{
	struct sctl_watch_req req = {0};
	bool json = g->json;
	uint64_t vaddr = 0;
	int r = parse_args(&req, &vaddr, &json, argc, argv);

	if (r)
		return r < 0 ? SCTL_EXIT_OK : r;
	return sctl_run_watch(g, &req, json, peek_page, &vaddr);
}

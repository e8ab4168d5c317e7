/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `shadowctl status`: ask shadowptd for its counters and sessions. */
#include <getopt.h>
#include <stdio.h>

#include "conn.h"
#include "render-json.h"
#include "render-text.h"
#include "shadowctl.h"
#include "watch-req.h"

int sctl_cmd_status(const struct sctl_global *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	Shadowpt__Status st = SHADOWPT__STATUS__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;
	struct sctl_conn conn;
	bool json = g->json;
	int c, r;

	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			sctl_help_status();
			return SCTL_EXIT_OK;
		default:
			return sctl_option_error("status", argc, argv, c);
		}
	}
	if (optind < argc)
		return sctl_usage_error("status", "unexpected argument '%s'", argv[optind]);

	r = sctl_conn_open(&conn, g->socket_path, json, 0);
	if (!r)
		r = sctl_enter_sandbox(g);
	if (!r)
		r = sctl_conn_handshake(&conn);
	if (!r && !sctl_interrupted) {
		f.has_request_id = 1;
		f.request_id = sctl_conn_new_request_id(&conn);
		f.msg_case = SHADOWPT__FRAME__MSG_STATUS;
		f.status = &st;
		r = sctl_conn_send(&conn, &f);
	}
	while (!r && !sctl_interrupted) {
		SptFrame *reply;
		bool interrupted;

		r = sctl_conn_wait(&conn, &reply, 10000, &interrupted);
		if (r || interrupted)
			break;
		if (reply->msg_case == SHADOWPT__FRAME__MSG_STATUS_REPLY &&
		    reply->request_id == f.request_id) {
			if (json)
				sctl_json_status(stdout, reply->status_reply);
			else
				sctl_text_status(stdout, reply->status_reply);
			spt_frame_free(reply);
			break;
		}
		if (reply->msg_case == SHADOWPT__FRAME__MSG_ERROR)
			r = sctl_fail_error(reply->error, json, 0, -1);
		else if (reply->msg_case != SHADOWPT__FRAME__MSG_PONG)
			r = sctl_fail_protocol(json, 0, -1, "unexpected reply to status");
		spt_frame_free(reply);
	}
	sctl_conn_close(&conn);
	if (fflush(stdout) == EOF) {
		sctl_err("cannot write output");
		return r ? r : SCTL_EXIT_RUNTIME;
	}
	return r;
}

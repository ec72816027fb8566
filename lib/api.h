/*
 * api.h — the HTTP API: a parsed request (+ its body) in, a response out.
 *
 * The only module that includes cJSON.  Routes (the contract, msghash(1)):
 *   POST /messages            {"message": "..."} -> 201/200 {"digest": "..."}
 *   GET|HEAD /messages/<hex>  -> 200 {"message": "..."} (or raw bytes when
 *                                the client accepts application/octet-stream)
 *   GET|HEAD /healthz         -> 200 when the store opens
 *   OPTIONS <route> | *       -> 204 + Allow
 * Errors are {"err_msg": "..."} with the status of the table in status.c or
 * a more precise 4xx.  The store is opened on the first request that needs
 * it and kept until api_close.  api knows requests and answers (http.h),
 * not connections: cmd/serve.c hands it to lib/conn.c as the handler.
 */
#ifndef MH_API_H
#define MH_API_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "status.h"

struct store;

struct api_ctx {
	const char	*db_dir;	/* the store directory */
	size_t		 max_message;	/* --max-size */
	struct store	*store;		/* NULL until first needed */
	bool		 batch;		/* POSTs wait for api_commit */
	char		 detail[MH_ERR_MAX]; /* why the last 5xx happened: the
					       answer's detail points here */
};

/* The largest request body accepted for a message limit (JSON escapes). */
size_t	api_body_limit(size_t max_message);

/* Whether the route takes a request body (POST /messages). */
bool	api_wants_body(const struct http_request *req);

/* Handles one request; HEAD is answered like GET (the caller drops the body). */
void	api_handle(struct api_ctx *ctx, const struct http_request *req,
	    const char *body, size_t body_len, struct http_answer *resp);

/* A JSON error answer {"err_msg": msg} with the given status. */
void	api_error(struct http_answer *resp, int status, const char *msg);

/* The answer when the store cannot answer: 503 + Retry-After (also the
 * last words of a serve process that gives up inside the store). */
void	api_unavailable(struct http_answer *resp);

/*
 * With batch set, api_handle defers each valid POST (resp->pending, a
 * struct api_post): api_commit stores up to MH_STORE_BATCH_MAX of them in
 * one transaction (one log flush, one quorum wait: group commit) and gives
 * each its answer, out[i] for posts[i], all 201/200 or all the same
 * error; they are freed.  api_discard frees one never committed.
 */
struct api_post;
void	api_commit(struct api_ctx *ctx, struct api_post **posts,
	    struct http_answer *out, size_t n);
void	api_discard(struct api_post *post);

/* Closes the store if it was opened. */
void	api_close(struct api_ctx *ctx);

#endif /* MH_API_H */

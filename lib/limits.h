/*
 * limits.h — every size and time limit of msghash, in one place.
 *
 * Options may override some of these at run time (see `msghash --help`,
 * `msghash serve --help`); the defaults live here and nowhere else.
 */
#ifndef MH_LIMITS_H
#define MH_LIMITS_H

/* Messages. */
#define MH_MESSAGE_MAX_DEFAULT	(4UL * 1024 * 1024)	/* bytes; --max-size */
#define MH_MESSAGE_MAX_CEILING	(1024UL * 1024 * 1024)	/* the largest --max-size */
#define MH_IO_CHUNK		(64 * 1024)		/* read size for streams */

/* The store (lib/store.c, lib/guard.c): how long a process waits on others. */
#define MH_STORE_LOCK_TIMEOUT_MS	10000	/* wait for msghash.lock */
#define MH_STORE_BUSY_SEC		3	/* retry lock timeouts this long, then
					   "busy" (503 / exit 3) */
#define MH_STORE_TICK_SEC		1	/* the watchdog's period in a call */
#define MH_STORE_STALL_SEC		6	/* a call with no progress this long
					   gives up (503 / exit 3) */
#define MH_STORE_GATE_SEC		3	/* ... while holding msghash.lock */
#define MH_STORE_GATE_PROGRESS_US	1000	/* CPU per tick that counts as
					   progress */
#define MH_STORE_WATCHDOG_SEC		30	/* the longest one call may run */
#define MH_STORE_RECOVERY_SEC		600	/* ... or a recovery */
#define MH_STORE_DEADLOCK_RETRIES	20	/* DB_LOCK_DEADLOCK/NOTGRANTED */
#define MH_STORE_BACKOFF_MAX_US		10000	/* random back-off ceiling */
#define MH_STORE_RECOVERY_RETRIES	3	/* DB_RUNRECOVERY: reopen + redo */
/* Free space kept on the store's filesystem: a put that would leave less
 * than this (plus twice the message, for log and page) is refused with
 * 507 / exit 3 before libdb runs out of space mid-commit. */
#define MH_STORE_SPACE_RESERVE		(64ULL * 1024 * 1024)

/*
 * The store's Berkeley DB settings, written into its DB_CONFIG when it is
 * created (lib/store.c); an operator raises them there (msghash(1),
 * FILES).  Sized for a store of small messages used by a few dozen
 * processes at once.  Large messages need no more: their overflow pages
 * pass through the cache and are logged page by page.
 */
#define MH_STORE_CACHE_BYTES		(8UL * 1024 * 1024)	/* set_cachesize */
#define MH_STORE_LOG_BUFFER_BYTES	(1024UL * 1024)		/* set_lg_bsize */
#define MH_STORE_LOG_FILE_BYTES		(16UL * 1024 * 1024)	/* set_lg_max */
/* libdb's own lock wait (set_lock_timeout): it ends only when somebody
 * runs the deadlock detector; the watchdog bounds the rest. */
#define MH_STORE_DB_LOCK_TIMEOUT_US	2000000
#define MH_STORE_LOCKS_MAX		2000	/* set_lk_max_locks */
#define MH_STORE_LOCKERS_MAX		2000	/* set_lk_max_lockers */
#define MH_STORE_LOCK_OBJECTS_MAX	2000	/* set_lk_max_objects */
#define MH_STORE_TX_MAX			200	/* set_tx_max */
/* The most messages one transaction stores (store_put_batch): a wait-mode
 * worker's POSTs of one turn of its loop, which handles at most
 * MH_SERVE_EPOLL_EVENTS events.  Each takes a few page locks until the
 * commit; 2 workers' batches stay far below MH_STORE_LOCKS_MAX. */
#define MH_STORE_BATCH_MAX		64
/* `msghash verify`: a hot backup that lost a log file to a checkpoint
 * meanwhile is made again, up to this many copies in all. */
#define MH_VERIFY_COPY_TRIES		3
/* What the regions of the settings above take on disk: an open that will
 * create them first checks that there is room.  Raise it with them. */
#define MH_STORE_REGIONS_ESTIMATE	(18ULL << 20)

/* HTTP (lib/http.c, lib/conn.c, lib/api.c, cmd/serve*.c); RFC 9112 §3
 * suggests >= 8000 octets. */
#define MH_HTTP_REQUEST_LINE_MAX	8192	/* 414 beyond */
#define MH_HTTP_HEADER_LINE_MAX		8192	/* 431 beyond */
#define MH_HTTP_HEADER_SECTION_MAX	16384	/* 431 beyond (request line included) */
#define MH_HTTP_HEADER_COUNT_MAX	100	/* 431 beyond */
#define MH_HTTP_CHUNK_EXT_MAX		4096	/* 400 beyond, per chunk line */
#define MH_HTTP_LEADING_CRLF_MAX	4	/* empty lines ignored before a request */
#define MH_HTTP_LOCATION_MAX		(MH_GROUP_URL_MAX + 96)	/* a Location value
					   (a master's URL + "/messages/<hex>") */
#define MH_HTTP_RESPONSE_HEAD_MAX	1024	/* a response's status line and fields */
/* The request body limit for a --max-size of M (api_body_limit): room for
 * the JSON around the message and a fair share of escapes; a message
 * decoded over M still gets 413. */
#define MH_HTTP_BODY_MAX(m)		(2 * (m) + 4096)
#define MH_HTTP_BODY_READ_MAX		(4 * MH_IO_CHUNK) /* one read of a body */
#define MH_HTTP_HEADER_TIMEOUT_MS	10000	/* 408: whole header section */
#define MH_HTTP_BODY_TIMEOUT_MS		30000	/* 408: whole body */
#define MH_HTTP_IDLE_TIMEOUT_MS		5000	/* silent close between requests */
#define MH_HTTP_WRITE_TIMEOUT_MS	10000	/* give up on a client that never reads */
#define MH_HTTP_TIMEOUT_MIN_MS		1	/* --*-timeout: 0.001 s ... */
#define MH_HTTP_TIMEOUT_MAX_MS		3600000	/* ... to an hour */
#define MH_HTTP_WRITE_SLICE_MS		1000	/* per-connection socket writes: one
					   write(2) blocks at most this long */
#define MH_HTTP_LINGER_MS		2000	/* after a last answer, read and drop */
#define MH_HTTP_LINGER_MAX		(1024 * 1024)	/* ... at most this much */
#define MH_HTTP_SIGNAL_SLICE_MS		250	/* per-connection socket reads: longest
					   wait before a SIGTERM is noticed */
#define MH_HTTP_MAX_REQUESTS		100000	/* per connection, then Connection: close;
					   each reconnect costs a process start */
#define MH_HTTP_MAX_REQUESTS_CEILING	1000000	/* the largest --max-requests */
#define MH_HTTP_RETRY_AFTER_SEC		1	/* Retry-After of a 503 */

/* The access log: one write(2) of at most this (PIPE_BUF on Linux, which
 * a pipe keeps whole) carries whole lines only. */
#define MH_LOG_WRITE_MAX		4096
#define MH_LOG_FLUSH_MS			1000	/* lines wait at most this long */
#define MH_LOG_PATH_MAX			200	/* bytes of a request path logged */

/* serve in both modes. */
#define MH_SERVE_LAST_WORDS_MAX		512	/* the store watchdog's 503, whole */
#define MH_SERVE_LAST_WORDS_FDS		4096	/* ... also to idle connections
					   with a request come meanwhile,
					   these fds at most */

/* serve in wait mode (a listening socket). */
#define MH_SERVE_WORKERS_MAX		256	/* --workers */
#define MH_SERVE_RESPAWN_BACKOFF_MS	1000	/* a worker that died young ... */
#define MH_SERVE_WORKER_YOUNG_MS	1000	/* ... this soon after its start */
#define MH_SERVE_EPOLL_EVENTS		64	/* events one epoll_pwait returns */
#define MH_SERVE_ACCEPT_PAUSE_MS	100	/* out of descriptors: stop accepting */
/* Connections accepted per wake-up: one, so that a burst of connections
 * is shared among the workers (EPOLLEXCLUSIVE wakes one; the next arrival
 * wakes another while this one answers) instead of landing on one. */
#define MH_SERVE_ACCEPT_BATCH		1
/* A worker this many connections above the least loaded stops accepting. */
#define MH_SERVE_BALANCE_SLACK		1
/* Request body bytes a worker holds at once, across its connections, in
 * largest bodies (api_body_limit of --max-size: 32 MiB by default).  Past
 * it, connections wait unread for memory, but one reads on
 * (cmd/serve-wait.c). */
#define MH_SERVE_BODY_BUDGET		4

/*
 * A replication group (lib/store-group.c, DESIGN.md §9).  Failover must
 * finish within 5 s of a master's death or stop: a stopped master is
 * noticed when no heartbeat came for HEARTBEAT_MONITOR, then an election
 * of a few milliseconds.  A short-lived writer's records reach a replica
 * out of order and are asked for again only on the master's next message:
 * HEARTBEAT_SEND bounds that wait (msghash(1) hash on a master).
 */
#define MH_GROUP_SITES_MAX		16	/* sites in --group */
#define MH_GROUP_ADDR_MAX		128	/* "host:port" of a site */
#define MH_GROUP_URL_MAX		256	/* a node's --url */
#define MH_GROUP_ACK_TIMEOUT_US		1000000	/* a commit waits this long for
					   its quorum, then 503 */
#define MH_GROUP_CONNECT_WAIT_MS	1000	/* a writer's connections to a
					   quorum of sites, before a commit */
#define MH_GROUP_FIRST_CONNECT_MS	250	/* ... a new handle's first one */
#define MH_GROUP_CLOSE_ABORT_MS		10	/* while closing: connects in
					   progress aborted this often */
#define MH_GROUP_HEARTBEAT_SEND_US	50000	/* the master, when idle */
/* A replica's master lease: it votes in no election this long after it
 * last acknowledged a commit (DESIGN.md §9.2).  A failover waits for it,
 * and for a pause as long, before the election. */
#define MH_GROUP_LEASE_TIMEOUT_US	250000
#define MH_GROUP_HEARTBEAT_MONITOR_US	2000000	/* a replica: no heartbeat this
					   long, and the master is gone */
/* A replica missing records asks for them again after MIN, doubling up
 * to MAX (Berkeley DB: 40 ms to 1.28 s, which a short-lived writer's
 * first commit then waits for). */
#define MH_GROUP_REQUEST_MIN_US		20000
#define MH_GROUP_REQUEST_MAX_US		100000
#define MH_GROUP_CONNECT_RETRY_US	500000	/* reconnect to a lost site */
#define MH_GROUP_ELECTION_RETRY_US	500000	/* a failed election, again */
/* One election's wait for votes.  With leases libdb waits for every
 * site's, so a dead master's too: the whole timeout, on every failover
 * (2 s here made a stop's 4.5 s). */
#define MH_GROUP_ELECTION_TIMEOUT_US	500000
#define MH_GROUP_THREADS		3	/* the replication process's
					   message threads */
#define MH_GROUP_PRIORITY		100	/* every site is electable */
#define MH_GROUP_TICK_MS		100	/* the replication process's loop */
#define MH_GROUP_CTL_MS			1000	/* a control socket client */
#define MH_GROUP_JOIN_RETRY_MS		1000	/* no helper answered: again */

#endif /* MH_LIMITS_H */

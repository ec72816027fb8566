/*
 * serve-wait.c — `msghash serve` in wait mode (inetd wait, systemd
 * Accept=no): fd 0, or systemd's fd 3, is a listening socket.
 *
 * A master forks the workers, which share it; each accepts and serves
 * many connections in one epoll loop, with its own store, and commits as
 * a group (worker_sync).  The master only forks, reaps and replaces
 * workers that die and, on a stop signal, lets them drain.
 */
#include <config.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "conn.h"
#include "guard.h"
#include "io.h"
#include "limits.h"
#include "serve.h"
#include "status.h"
#include "banned.h"

/* The workers by default: one per CPU this process may run on. */
static int
cpu_count(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 &&
	    (n = CPU_COUNT(&set)) > 0)
		return n;
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

/* One connection of a worker. */
struct wconn {
	int		 fd;
	uint32_t	 events;	/* the epoll interest now */
	bool		 held;		/* its answer waits for worker_sync */
	bool		 lingering;	/* answered and shut down: draining */
	int64_t		 linger_until;
	size_t		 lingered;	/* bytes dropped while lingering */
	size_t		 body_held;	/* conn_body_held, as last counted */
	bool		 parked;	/* waits for body memory (unread) */
	struct conn	 c;
	struct wconn	*prev, *next;
	struct wconn	*park_prev, *park_next;
	char		 peer[SERVE_PEER_MAX];
};

/*
 * A worker's slot in the memory the master shares with all workers (see
 * Load sharing below).
 */
struct worker_slot {
	int	conns;		/* open connections; -1: no worker here */
	int	listening;	/* lfd is in its epoll set */
	int	kicked;		/* a kick is on its way */
	int	kick_fd;	/* an eventfd in its epoll set */
};

struct worker {
	int			 lfd, ep;
	const struct conn_config *cfg;
	struct api_ctx		*api;
	struct wconn		*conns;	/* all open connections */
	size_t			 nconns;
	size_t			 nheld;	/* answers waiting for worker_sync */
	bool			 draining;
	bool			 listening;	/* lfd is in the epoll set */
	int64_t			 accept_paused_until;	/* 0: not paused */
	/* Request bodies (see Body memory below). */
	size_t			 body_held, body_budget;
	bool			 body_freed;	/* worker_body_resume has work */
	struct wconn		*body_first;	/* may exceed the budget */
	struct wconn		*parked, *parked_tail;	/* oldest first */
	size_t			 nparked;
	struct worker_slot	*slots;	/* shared, nslots of them */
	int			 slot, nslots;
};

static bool
listen_interest(struct worker *w, bool on)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;	/* no thundering herd */
	ev.data.ptr = NULL;
	return epoll_ctl(w->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->lfd,
	    on ? &ev : NULL) == 0;
}

/*
 * Load sharing.  EPOLLEXCLUSIVE wakes one worker per arrival, and a burst
 * of keep-alive connections could all land on one (seen: 32 to 0, half
 * the throughput).  So each worker publishes its connection count in its
 * slot, and one with more than MH_SERVE_BALANCE_SLACK connections over the
 * least loaded other one leaves the epoll set of the listening socket.
 *
 * A worker out of the set sleeps until one of its own connections or
 * timers wakes it, so it does not notice when its share comes round: if
 * the least loaded worker is out of the set, whoever finds itself over
 * its share kicks it (an eventfd in its set) to look again.  Either it
 * comes back, or it is itself over the share of a third and kicks that
 * one; as nobody accepts meanwhile, counts only fall, and somebody comes
 * back.  A connection already accepted is served wherever it landed.
 */
static void
loads_publish(struct worker *w)
{
	__atomic_store_n(&w->slots[w->slot].conns, (int)w->nconns,
	    __ATOMIC_RELAXED);
}

/* The slot of the least loaded other worker (-1: none), its count in *n. */
static int
loads_least(const struct worker *w, int *n)
{
	int j, c, least = -1;

	*n = 0;
	for (j = 0; j < w->nslots; j++) {
		if (j == w->slot)
			continue;
		c = __atomic_load_n(&w->slots[j].conns, __ATOMIC_RELAXED);
		if (c >= 0 && (least < 0 || c < *n)) {
			least = j;
			*n = c;
		}
	}
	return least;
}

/*
 * Wakes worker j unless it listens or a kick is on its way.  A worker
 * clears its listening flag before it leaves the set, and reads j's after
 * (sequentially consistent): of two workers leaving at once, the later
 * sees the other's flag clear.
 */
static void
loads_kick(struct worker *w, int j)
{
	struct worker_slot *s = &w->slots[j];
	uint64_t one = 1;

	if (__atomic_load_n(&s->listening, __ATOMIC_SEQ_CST) ||
	    __atomic_exchange_n(&s->kicked, 1, __ATOMIC_SEQ_CST))
		return;
	(void)!write(s->kick_fd, &one, sizeof one);
}

/*
 * This worker was kicked: worker_listen_update looks again.  The eventfd
 * is emptied before the flag is cleared: the other way round, a kick sent
 * in between would be swallowed with the flag left set, and no further
 * kick would be sent.
 */
static void
worker_kicked(struct worker *w)
{
	struct worker_slot *s = &w->slots[w->slot];
	uint64_t n;

	(void)!read(s->kick_fd, &n, sizeof n);
	__atomic_store_n(&s->kicked, 0, __ATOMIC_SEQ_CST);
}

/* Puts lfd in or out of the epoll set, with the shared flag in step. */
static void
worker_listen(struct worker *w, bool on)
{
	int *flag = &w->slots[w->slot].listening;

	if (!on)
		__atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);	/* see loads_kick */
	if (!listen_interest(w, on))
		return;
	w->listening = on;
	if (on)
		__atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
}

/* In the epoll set unless draining, paused, or over its share. */
static void
worker_listen_update(struct worker *w, int64_t now)
{
	int least, n;
	bool fair, want;

	if (w->accept_paused_until != 0 && now >= w->accept_paused_until)
		w->accept_paused_until = 0;
	least = loads_least(w, &n);
	fair = least < 0 || (long)w->nconns <= (long)n + MH_SERVE_BALANCE_SLACK;
	want = !w->draining && w->accept_paused_until == 0 && fair;
	if (want != w->listening)
		worker_listen(w, want);
	if (!fair && !w->draining)
		loads_kick(w, least);
}

static void
worker_pause_accept(struct worker *w)
{
	w->accept_paused_until = io_now_ms() + MH_SERVE_ACCEPT_PAUSE_MS;
	worker_listen_update(w, io_now_ms());
}

/*
 * Body memory.  A worker buffers each request body until it is complete
 * (conn_read_buf), and many slow uploads at once could take any amount
 * of memory.  So it counts the body bytes its connections hold, and once
 * the next read would take that over body_budget, the connection stops
 * being read: it leaves the epoll set (its bytes wait in the kernel's
 * socket buffer, its deadlines still run) and queues until memory is
 * freed.  Bodies already partly read must not wait for each other for
 * ever, so one connection, body_first, may always read on: the first to
 * be stopped, then the longest waiting.
 */
static void
wconn_unpark(struct worker *w, struct wconn *wc)
{
	if (wc->park_prev != NULL)
		wc->park_prev->park_next = wc->park_next;
	else
		w->parked = wc->park_next;
	if (wc->park_next != NULL)
		wc->park_next->park_prev = wc->park_prev;
	else
		w->parked_tail = wc->park_prev;
	wc->park_prev = wc->park_next = NULL;
	wc->parked = false;
	w->nparked--;
}

static void
wconn_park(struct worker *w, struct wconn *wc)
{
	if (wc->events != 0)
		(void)epoll_ctl(w->ep, EPOLL_CTL_DEL, wc->fd, NULL);
	wc->events = 0;		/* wconn_interest adds it back */
	wc->parked = true;
	wc->park_prev = w->parked_tail;
	if (w->parked_tail != NULL)
		w->parked_tail->park_next = wc;
	else
		w->parked = wc;
	w->parked_tail = wc;
	w->nparked++;
}

/* Counts what the connection holds now; notes memory given back. */
static void
wconn_body_count(struct worker *w, struct wconn *wc)
{
	size_t held = conn_body_held(&wc->c);

	if (held < wc->body_held)
		w->body_freed = true;
	w->body_held = w->body_held - wc->body_held + held;
	wc->body_held = held;
	if (w->body_first == wc && !conn_body_pending(&wc->c)) {
		w->body_first = NULL;
		w->body_freed = true;
	}
}

/* Whether the connection may read now (false: it must be parked). */
static bool
wconn_body_room(struct worker *w, struct wconn *wc)
{
	size_t n = conn_body_read_size(&wc->c);

	if (n == 0 || w->body_first == wc ||
	    w->body_held + n <= w->body_budget)
		return true;
	if (w->body_first == NULL && w->parked == NULL) {
		w->body_first = wc;
		return true;
	}
	return false;
}

static void
wconn_close(struct worker *w, struct wconn *wc)
{
	if (wc->parked)
		wconn_unpark(w, wc);
	if (w->body_first == wc) {
		w->body_first = NULL;
		w->body_freed = true;
	}
	if (wc->body_held > 0)
		w->body_freed = true;
	w->body_held -= wc->body_held;
	serve_last_words_idle(wc->fd, false);
	close(wc->fd);		/* also leaves the epoll set */
	api_discard(conn_pending(&wc->c));	/* aborted while it waited */
	conn_free(&wc->c);
	if (wc->held)
		w->nheld--;
	if (wc->prev != NULL)
		wc->prev->next = wc->next;
	else
		w->conns = wc->next;
	if (wc->next != NULL)
		wc->next->prev = wc->prev;
	w->nconns--;
	free(wc);
	loads_publish(w);
}

static void
wconn_interest(struct worker *w, struct wconn *wc, uint32_t events)
{
	struct epoll_event ev;

	if (wc->events == events)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = wc;
	/* events 0: not in the epoll set yet (see worker_accept) */
	if (epoll_ctl(w->ep, wc->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
	    wc->fd, &ev) == 0)
		wc->events = events;
	else
		conn_abort(&wc->c);
}

/* Writes what it can; false when the socket is full (wait for EPOLLOUT). */
static bool
wconn_write(struct wconn *wc)
{
	struct iovec iov[2];
	int n = conn_output(&wc->c, iov);
	ssize_t k;

	while ((k = writev(wc->fd, iov, n)) == -1 && errno == EINTR)
		;
	if (k < 0) {
		if (errno == EAGAIN)
			return false;
		conn_abort(&wc->c);
		return true;
	}
	serve_last_words_arm(wc->fd);
	conn_sent(&wc->c, (size_t)k, io_now_ms());
	serve_last_words_disarm();
	return true;
}

enum rd { RD_NONE, RD_SOME, RD_ALL };

/*
 * Reads what there is: RD_NONE if nothing (wait for EPOLLIN), RD_SOME if
 * less than the room (the socket is drained: reading again would only say
 * EAGAIN), RD_ALL if it filled the room (there may be more).
 */
static enum rd
wconn_read(struct wconn *wc)
{
	char *p;
	size_t cap;
	ssize_t n;

	if (!conn_read_buf(&wc->c, &p, &cap)) {
		conn_abort(&wc->c);
		return RD_ALL;
	}
	while ((n = read(wc->fd, p, cap)) == -1 && errno == EINTR)
		;
	if (n < 0) {
		if (errno == EAGAIN)
			return RD_NONE;
		conn_abort(&wc->c);
		return RD_ALL;
	}
	serve_last_words_arm(wc->fd);
	conn_received(&wc->c, (size_t)n, io_now_ms());
	serve_last_words_disarm();
	return (size_t)n < cap && n > 0 ? RD_SOME : RD_ALL;
}

/*
 * Lingering close (RFC 9112 §9.6; Apache's lingering_close): after the
 * last answer, if the client may still be sending, shut down our side
 * (the client reads the answer and EOF), drop what still arrives until the
 * client closes, MH_HTTP_LINGER_MS pass or MH_HTTP_LINGER_MAX bytes came,
 * and only then close: closing with unread input resets the connection,
 * which can destroy the answer before the client has read it.  A peek
 * finds input the connection had not seen yet (pipelined requests).
 */
static bool
wconn_linger_read(struct worker *w, struct wconn *wc)
{
	static char sink[MH_IO_CHUNK];
	ssize_t n;

	while ((n = read(wc->fd, sink, sizeof sink)) > 0)
		if ((wc->lingered += (size_t)n) > MH_HTTP_LINGER_MAX)
			break;
	if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
	    wc->lingered <= MH_HTTP_LINGER_MAX)
		return true;	/* nothing more for now: keep waiting */
	wconn_close(w, wc);	/* EOF, an error, or enough */
	return false;
}

/* The connection is done: close it, or linger first (see above). */
static void
wconn_done(struct worker *w, struct wconn *wc)
{
	if (wc->lingering) {
		(void)wconn_linger_read(w, wc);
		return;
	}
	if (!serve_client_may_be_sending(&wc->c, wc->fd)) {
		wconn_close(w, wc);	/* nothing unread: a plain close is clean */
		return;
	}
	shutdown(wc->fd, SHUT_WR);
	wc->lingering = true;
	wc->linger_until = io_now_ms() + MH_HTTP_LINGER_MS;
	if (wconn_linger_read(w, wc))
		wconn_interest(w, wc, EPOLLIN);
}

/* Waits for the connection's next bytes; between requests it is idle. */
static void
wconn_await(struct worker *w, struct wconn *wc)
{
	wconn_interest(w, wc, EPOLLIN);
	serve_last_words_idle(wc->fd, conn_idle(&wc->c));
}

/*
 * Moves one connection as far as it goes without blocking.  `fresh`: the
 * socket may have unread bytes (just accepted, or EPOLLIN); once a read
 * came back short it is drained, and epoll says when more arrives (level
 * triggered), which saves a read(2) that would fail per request.
 */
static void
wconn_drive(struct worker *w, struct wconn *wc, bool fresh)
{
	serve_last_words_idle(wc->fd, false);
	if (wc->parked)
		wconn_unpark(w, wc);	/* parked again below if need be */
	for (;;) {
		wconn_body_count(w, wc);
		if (w->draining)
			conn_shutdown(&wc->c);
		switch (conn_want(&wc->c)) {
		case CONN_DONE:
			wconn_done(w, wc);
			return;
		case CONN_WAIT:		/* a POST: worker_sync */
			if (!wc->held)
				w->nheld++;
			wc->held = true;
			return;
		case CONN_WRITE:
			if (!wconn_write(wc)) {
				wconn_interest(w, wc, EPOLLOUT);
				return;
			}
			break;
		case CONN_READ:
			if (!fresh) {
				wconn_await(w, wc);
				return;
			}
			if (!wconn_body_room(w, wc)) {
				wconn_park(w, wc);
				return;
			}
			switch (wconn_read(wc)) {
			case RD_NONE:
				wconn_await(w, wc);
				return;
			case RD_SOME:
				fresh = false;
				break;
			case RD_ALL:
				break;
			}
			break;
		}
	}
}

/*
 * Memory was given back: drive the parked connections, oldest first, each
 * once a round (one parked again goes to the back).
 */
static void
worker_body_resume(struct worker *w)
{
	struct wconn *wc;
	size_t n;

	while (w->body_freed) {
		w->body_freed = false;
		for (n = w->nparked; n > 0 && (wc = w->parked) != NULL; n--) {
			if (w->body_first == NULL)
				w->body_first = wc;
			else if (w->body_held + conn_body_read_size(&wc->c) >
			    w->body_budget)
				break;
			wconn_drive(w, wc, true);	/* unparks it */
		}
	}
}

/* Accepts what is waiting (a bounded batch, to stay fair to the others). */
static void
worker_accept(struct worker *w)
{
	struct sockaddr_storage ss;
	struct wconn *wc;
	socklen_t sl;
	int fd, i;

	for (i = 0; i < MH_SERVE_ACCEPT_BATCH; i++) {
		sl = sizeof ss;
		fd = accept4(w->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* EAGAIN: another worker was faster.  Out of
			 * descriptors or memory: the listening socket stays
			 * readable, so stop polling it for a while (the
			 * backlog keeps the connections). */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				worker_pause_accept(w);
			return;
		}
		if ((wc = calloc(1, sizeof *wc)) == NULL) {
			close(fd);
			return;
		}
		wc->fd = fd;
		serve_addr_name(&ss, wc->peer, sizeof wc->peer);
		conn_init(&wc->c, w->cfg, wc->peer, io_now_ms());
		wc->next = w->conns;
		if (w->conns != NULL)
			w->conns->prev = wc;
		w->conns = wc;
		w->nconns++;
		loads_publish(w);
		/* The request is often there already; a connection that is
		 * answered and closed at once never enters the epoll set. */
		wconn_drive(w, wc, true);
	}
}

/* Ends connections whose deadline passed; returns ms to the next one. */
static int
worker_timeouts(struct worker *w)
{
	struct wconn *wc, *next;
	int64_t now = io_now_ms(), first = -1, d;

	for (wc = w->conns; wc != NULL; wc = next) {
		next = wc->next;
		d = wc->lingering ? wc->linger_until : conn_deadline(&wc->c);
		if (d <= now && wc->lingering) {
			wconn_close(w, wc);
			continue;
		}
		if (d <= now && conn_idle(&wc->c) && io_input_waiting(wc->fd)) {
			/* The idle timeout passed while this worker was stuck
			 * in the store, and the next request came in time:
			 * read it (closing would drop it with a reset).  The
			 * drive may close and free wc; its new deadline counts
			 * at the next turn. */
			wconn_drive(w, wc, true);
			first = now;
		} else if (d <= now) {
			serve_last_words_arm(wc->fd);
			conn_timeout(&wc->c, now);
			serve_last_words_disarm();
			wconn_drive(w, wc, false);
		} else if (first == -1 || d < first)
			first = d;
	}
	if (w->accept_paused_until != 0 &&
	    (first == -1 || w->accept_paused_until < first))
		first = w->accept_paused_until;
	if ((d = serve_log_due()) != -1 && (first == -1 || d < first))
		first = d > now ? d : now + 1;
	return first == -1 ? -1 : (int)(first - now);
}

/*
 * Group commit.  A worker's POSTs wait (CONN_WAIT, wconn_drive); here, once
 * per turn of the event loop, api_commit stores them in one transaction:
 * one log flush, and on a group node one quorum wait, for all of them,
 * and then each gets its answer (a 503 for all if that failed).  Under
 * load one commit serves many POSTs; nothing is acknowledged before it is
 * durable.  An answer may let a pipelined POST wait in turn: it goes in
 * the next batch.
 */
static void
worker_sync(struct worker *w)
{
	struct api_post *posts[MH_STORE_BATCH_MAX];
	struct http_answer answers[MH_STORE_BATCH_MAX];
	struct wconn *batch[MH_STORE_BATCH_MAX], *wc;
	int fds[MH_STORE_BATCH_MAX];
	size_t i, n;

	while (w->nheld > 0) {
		for (n = 0, wc = w->conns; wc != NULL && n < MH_STORE_BATCH_MAX;
		    wc = wc->next)
			if (wc->held) {
				batch[n] = wc;
				fds[n] = wc->fd;
				posts[n++] = conn_pending(&wc->c);
			}
		if (n == 0)
			break;		/* cannot happen: nheld counts them */
		serve_last_words_arm_batch(fds, n);
		api_commit(w->api, posts, answers, n);
		serve_last_words_disarm();
		for (i = 0; i < n; i++) {
			wc = batch[i];
			wc->held = false;
			w->nheld--;
			conn_answer(&wc->c, &answers[i], io_now_ms());
		}
		for (i = 0; i < n; i++)
			wconn_drive(w, batch[i], false);
	}
}

/* SIGTERM: stop accepting, finish what is in progress. */
static void
worker_drain(struct worker *w)
{
	struct wconn *wc, *next;

	w->draining = true;
	worker_listen_update(w, io_now_ms());
	close(w->lfd);
	for (wc = w->conns; wc != NULL; wc = next) {
		next = wc->next;
		wconn_drive(w, wc, false);
	}
}

static void
worker_run(struct worker *w, const sigset_t *wait_mask)
{
	struct epoll_event evs[MH_SERVE_EPOLL_EVENTS];
	int i, n, timeout;

	for (;;) {
		if (serve_terminating && !w->draining)
			worker_drain(w);
		if (w->draining && w->nconns == 0)
			return;
		worker_body_resume(w);
		timeout = worker_timeouts(w);
		worker_sync(w);
		worker_listen_update(w, io_now_ms());
		serve_log_flush(false);
		n = epoll_pwait(w->ep, evs, MH_SERVE_EPOLL_EVENTS, timeout,
		    wait_mask);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				if (!w->draining)
					worker_accept(w);
			} else if (evs[i].data.ptr == w)
				worker_kicked(w);
			else
				wconn_drive(w, evs[i].data.ptr, true);
		}
		worker_sync(w);
	}
}

/* A worker process: its own epoll set, store and connections. */
static int
worker_main(int lfd, const struct conn_config *cfg, struct api_ctx *api,
    pid_t master, struct worker_slot *slots, int slot, int nslots)
{
	struct worker w;
	struct epoll_event ev;
	sigset_t wait_mask;

	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* drain if the master dies */
	serve_signals_setup(&wait_mask);
	sigdelset(&wait_mask, SIGCHLD);
	if (getppid() != master)
		return 0;
	memset(&w, 0, sizeof w);
	w.lfd = lfd;
	w.cfg = cfg;
	w.api = api;
	api->batch = true;		/* see worker_sync */
	w.slots = slots;
	w.slot = slot;
	w.nslots = nslots;
	w.body_budget = MH_SERVE_BODY_BUDGET * cfg->body_limit;
	if ((w.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return status_exit_code(MH_SYSTEM);
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &w;	/* see worker_kicked */
	if (epoll_ctl(w.ep, EPOLL_CTL_ADD, slots[slot].kick_fd, &ev) == -1)
		return status_exit_code(MH_SYSTEM);
	worker_listen_update(&w, io_now_ms());
	if (!w.listening)
		return status_exit_code(MH_SYSTEM);
	worker_run(&w, &wait_mask);
	serve_log_flush(true);
	api_close(api);
	return 0;
}

/* The master: keeps its workers running until a stop signal. */
struct master {
	pid_t		*pids;		/* 0: a free slot */
	int64_t		*started;	/* io_now_ms() of each start */
	struct worker_slot *slots;	/* shared with the workers */
	int		 n, alive;
	int64_t		 respawn_at;	/* 0: none pending */
	/* A group node's replication process (DESIGN.md §9): one per site,
	 * and it must not fork, so it is the master's child, not a worker. */
	const struct store_group_config *group;	/* NULL: not a group node */
	const char	*dir;
	pid_t		 repl_pid;	/* 0: not running */
	int64_t		 repl_started;
};

/* A slot for a worker about to start (conns 0), or for none (-1). */
static void
slot_reset(struct worker_slot *s, int conns)
{
	s->conns = conns;
	s->listening = 0;
	s->kicked = 0;
}

/* n slots in memory shared with the children, each with its eventfd. */
static struct worker_slot *
slots_create(int n)
{
	struct worker_slot *slots;
	int i;

	slots = mmap(NULL, (size_t)n * sizeof *slots, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		return NULL;
	for (i = 0; i < n; i++) {
		slot_reset(&slots[i], -1);
		slots[i].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (slots[i].kick_fd == -1)
			return NULL;	/* at start-up: the process exits */
	}
	return slots;
}

static pid_t
worker_spawn(const struct master *m, int slot, int lfd,
    const struct conn_config *cfg, struct api_ctx *api)
{
	pid_t master = getpid(), pid;

	serve_log_flush(true);	/* the child must not write our lines again */
	if ((pid = fork()) != 0)
		return pid;
	_exit(worker_main(lfd, cfg, api, master, m->slots, slot, m->n));
}

/* Runs the replication process in a child until a stop signal. */
static pid_t
replicator_spawn(const struct master *m, int lfd)
{
	pid_t master = getpid(), pid;
	struct mh_err err = { MH_OK, "" };
	enum mh_status status;

	serve_log_flush(true);
	if ((pid = fork()) != 0)
		return pid;
	close(lfd);			/* it answers no HTTP */
	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* blocked: it ends its loop */
	if (getppid() != master)
		_exit(0);
	status = store_replicate(m->dir, m->group, &err);
	if (status != MH_OK)
		serve_log_line("msghash serve: replication: %s\n", err.msg);
	serve_log_flush(true);
	_exit(status_exit_code(status));
}

static void
master_log_death(pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		serve_log_line("msghash serve: worker %ld was killed by "
		    "signal %d; starting another\n", (long)pid,
		    WTERMSIG(status));
	else
		serve_log_line("msghash serve: worker %ld exited with "
		    "status %d; starting another\n", (long)pid,
		    WEXITSTATUS(status));
	serve_log_flush(true);
}

/* Reaps dead workers; schedules replacements unless stopping. */
static void
master_reap(struct master *m)
{
	int status, i;
	pid_t pid;
	int64_t now = io_now_ms();

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->repl_pid) {
			m->repl_pid = 0;
			if (serve_terminating)
				continue;
			serve_log_line("msghash serve: the replication process "
			    "%ld ended (%s %d); starting another\n", (long)pid,
			    WIFSIGNALED(status) ? "signal" : "status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
			    WEXITSTATUS(status));
			serve_log_flush(true);
			m->respawn_at = now - m->repl_started <
			    MH_SERVE_WORKER_YOUNG_MS ?
			    now + MH_SERVE_RESPAWN_BACKOFF_MS : now;
			continue;
		}
		for (i = 0; i < m->n && m->pids[i] != pid; i++)
			;
		if (i == m->n)
			continue;
		m->pids[i] = 0;
		slot_reset(&m->slots[i], -1);
		m->alive--;
		if (serve_terminating)
			continue;
		master_log_death(pid, status);
		/* A worker that dies at once would die again: back off. */
		m->respawn_at = now - m->started[i] < MH_SERVE_WORKER_YOUNG_MS ?
		    now + MH_SERVE_RESPAWN_BACKOFF_MS : now;
	}
}

static void
master_spawn(struct master *m, int lfd, const struct conn_config *cfg,
    struct api_ctx *api)
{
	int i;
	pid_t pid;

	if (m->group != NULL && m->repl_pid == 0) {
		if ((pid = replicator_spawn(m, lfd)) > 0) {
			m->repl_pid = pid;
			m->repl_started = io_now_ms();
		}
	}
	for (i = 0; i < m->n; i++) {
		if (m->pids[i] != 0)
			continue;
		slot_reset(&m->slots[i], 0);
		if ((pid = worker_spawn(m, i, lfd, cfg, api)) == -1) {
			slot_reset(&m->slots[i], -1);
			break;	/* fork failed: try again later */
		}
		m->pids[i] = pid;
		m->started[i] = io_now_ms();
		m->alive++;
	}
	m->respawn_at = m->alive < m->n || (m->group != NULL &&
	    m->repl_pid == 0) ? io_now_ms() + MH_SERVE_RESPAWN_BACKOFF_MS : 0;
}

enum mh_status
serve_wait(int lfd, const struct conn_config *cfg, struct api_ctx *api,
    int workers, const struct store_group_config *group, struct mh_err *err)
{
	struct master m;
	sigset_t stop, set;
	struct timespec ts;
	int i, sig, flags, one = 1;
	int64_t wait;

	memset(&m, 0, sizeof m);
	m.n = workers > 0 ? workers : cpu_count();
	m.group = group;
	m.dir = api->db_dir;
	m.pids = calloc((size_t)m.n, sizeof *m.pids);
	m.started = calloc((size_t)m.n, sizeof *m.started);
	m.slots = slots_create(m.n);
	if (m.pids == NULL || m.started == NULL || m.slots == NULL) {
		free(m.pids);
		free(m.started);
		return mh_errf(err, MH_SYSTEM, "cannot start the workers: %s",
		    strerror(errno));
	}
	if ((flags = fcntl(lfd, F_GETFL)) == -1 ||
	    fcntl(lfd, F_SETFL, flags | O_NONBLOCK) == -1)
		return mh_errf(err, MH_SYSTEM, "cannot use the listening "
		    "socket: %s", strerror(errno));
	/* Accepted sockets inherit it: one answer is one writev, not to be
	 * held back waiting for an ACK. */
	(void)setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* The master only waits for signals: take them synchronously. */
	guard_stop_signals(&stop);
	set = stop;
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	master_spawn(&m, lfd, cfg, api);
	for (;;) {
		if (m.respawn_at != 0 && !serve_terminating) {
			wait = m.respawn_at - io_now_ms();
			if (wait <= 0) {
				master_spawn(&m, lfd, cfg, api);
				continue;
			}
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
			sig = sigtimedwait(&set, NULL, &ts);
		} else
			sig = sigwaitinfo(&set, NULL);
		if (sig > 0 && sigismember(&stop, sig) == 1) {
			serve_terminating = 1;
			for (i = 0; i < m.n; i++)
				if (m.pids[i] != 0)
					kill(m.pids[i], SIGTERM);
			if (m.repl_pid != 0)
				kill(m.repl_pid, SIGTERM);
		}
		master_reap(&m);
		if (serve_terminating && m.alive == 0 && m.repl_pid == 0)
			break;
	}
	close(lfd);
	free(m.pids);
	free(m.started);
	return MH_OK;
}

#!/usr/bin/env python3
# tests/soak/group-load.py -- the load and the final check of the group soak
# (tests/soak/group-chaos runs it; not a test of its own).
#
#   group-load.py load WORK TOKEN CLIENTS PORT...
#       CLIENTS threads write unique messages through a random node,
#       following 307s by hand (at most 4 hops, POST kept), and read
#       acknowledged digests back on random nodes (redirects followed); a
#       monitor thread polls every node's /healthz every 0.2 s.  Until
#       WORK/stop exists.  Writes:
#         WORK/acks      one JSON line per acknowledged POST:
#                        {"d": digest, "m": message, "t0": start, "t1": end,
#                        "n": the node that answered}
#                        (wall-clock seconds; the message's exact text:
#                        its UTF-8 bytes are what was stored)
#         WORK/requests  "POST|GET t0 t1 first-node final-node code hops"
#         WORK/errors    contract violations seen by the load (wrong digest,
#                        wrong bytes from a GET, a status outside the
#                        contract)
#         WORK/monitor   "t node-index" each time the node that the
#                        answering nodes call master changes ("t 0": none)
#         WORK/load.json counters
#   group-load.py check WORK SECONDS PORT...
#       every acknowledged digest GET on every node directly (no redirect),
#       retried for up to SECONDS while a node catches up; the answer must
#       be 200 with the exact message.  Writes WORK/check.json (per node:
#       ok, missing, wrong) and WORK/lost (one line per digest that some
#       node does not give back, with the nodes).
import hashlib
import http.client
import json
import os
import random
import sys
import threading
import time
from urllib.parse import urlsplit

TIMEOUT = 10.0
SPECIALS = ['"', '\\', '\n', '\t', '/', 'é', 'ß', '€', '😀', '\u2028', '{}', '[]', ' ']


def request(host, port, method, path, body=None, timeout=TIMEOUT):
    """One request on a new connection: (status, headers dict, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = {"Connection": "close"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def follow(port, method, path, body=None, hops=4):
    """request() following 307/308 by hand, method and body kept.
    Returns (status, body, final port, hops); status 0: no answer."""
    host = "127.0.0.1"
    for hop in range(hops + 1):
        try:
            st, h, data = request(host, port, method, path, body)
        except (OSError, http.client.HTTPException):
            return 0, b"", port, hop
        if st in (307, 308) and "location" in h:
            u = urlsplit(h["location"])
            if u.hostname is None or u.port is None:
                return -1, h["location"].encode(), port, hop
            host, port, path = u.hostname, u.port, u.path
            continue
        return st, data, port, hop
    return st, data, port, hops


class Load:
    def __init__(self, work, token, nclients, ports):
        self.work, self.token, self.ports = work, token, ports
        self.nclients = nclients
        self.lock = threading.Lock()
        self.acked = []          # (digest, message)
        self.count = {}
        self.stop = os.path.join(work, "stop")
        self.f_acks = open(os.path.join(work, "acks"), "a", encoding="utf-8")
        self.f_req = open(os.path.join(work, "requests"), "a")
        self.f_err = open(os.path.join(work, "errors"), "a")
        self.f_mon = open(os.path.join(work, "monitor"), "a")

    def bump(self, k, n=1):
        with self.lock:
            self.count[k] = self.count.get(k, 0) + n

    def error(self, what):
        with self.lock:
            self.f_err.write("%.3f %s\n" % (time.time(), what))
            self.f_err.flush()

    def log(self, op, t0, t1, first, final, st, hops):
        with self.lock:
            self.f_req.write("%s %.3f %.3f %d %d %d %d\n" % (op, t0, t1, first, final, st, hops))

    def node(self, port):
        try:
            return self.ports.index(port) + 1
        except ValueError:
            return 0

    def message(self, c, i):
        rnd = random.Random()
        parts = ["group soak %s c%d.%d " % (self.token, c, i)]
        for _ in range(rnd.randrange(0, 6)):
            parts.append(rnd.choice(SPECIALS))
        n = rnd.choice([0, 10, 100, 1000, 10000, 60000])
        parts.append("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randrange(n + 1))))
        return "".join(parts)

    def post(self, c, i):
        m = self.message(c, i)
        body = json.dumps({"message": m}).encode()
        first = random.randrange(len(self.ports))
        t0 = time.time()
        st, data, fport, hops = follow(self.ports[first], "POST", "/messages", body)
        t1 = time.time()
        self.log("POST", t0, t1, first + 1, self.node(fport), st, hops)
        self.bump("post_%d" % st)
        if st in (200, 201):
            want = hashlib.sha256(m.encode()).hexdigest()
            try:
                d = json.loads(data)["digest"]
            except (ValueError, KeyError, TypeError):
                self.error("POST %d with no digest: %r" % (st, data[:200]))
                return
            if d != want:
                self.error("POST answered digest %s, sha256 is %s" % (d, want))
                return
            with self.lock:
                self.f_acks.write(json.dumps({"d": d, "m": m, "t0": round(t0, 3), "t1": round(t1, 3),
                                              "n": self.node(fport)}) + "\n")
                self.f_acks.flush()
                self.acked.append((d, m))
        elif st in (503, 0):
            time.sleep(random.uniform(0.05, 0.2))
        elif st == 307:
            self.bump("redirect_loops")
        else:
            self.error("POST answered %d: %r" % (st, data[:200]))
            time.sleep(0.1)

    def get(self):
        with self.lock:
            d, m = random.choice(self.acked)
        first = random.randrange(len(self.ports))
        t0 = time.time()
        st, data, fport, hops = follow(self.ports[first], "GET", "/messages/" + d)
        t1 = time.time()
        self.log("GET", t0, t1, first + 1, self.node(fport), st, hops)
        self.bump("get_%d" % st)
        if st == 200:
            try:
                got = json.loads(data)["message"]
            except (ValueError, KeyError, TypeError):
                got = None
            if got != m:
                self.error("GET %s on node %d: 200 with other bytes: %r" % (d, self.node(fport), data[:200]))
        elif st == 404:
            # an acknowledged digest unknown to a node that answered as
            # the master (a replica redirects): a stale master's answer
            self.bump("get_404_acked")
        elif st in (503, 0):
            time.sleep(random.uniform(0.05, 0.2))
        elif st != 307:
            self.error("GET %s answered %d: %r" % (d, st, data[:200]))

    def client(self, c):
        i = 0
        while not os.path.exists(self.stop):
            i += 1
            with self.lock:
                have = len(self.acked)
            if have == 0 or random.random() < 0.6:
                self.post(c, i)
            else:
                self.get()

    def monitor(self):
        last = None
        while not os.path.exists(self.stop):
            t = time.time()
            masters = []
            for k, p in enumerate(self.ports):
                try:
                    st, h, data = request("127.0.0.1", p, "GET", "/healthz", timeout=0.5)
                    if st == 200 and json.loads(data).get("role") == "master":
                        masters.append(k + 1)
                except (OSError, ValueError, http.client.HTTPException):
                    pass
            if len(masters) > 1:
                self.bump("multi_master_polls")
            cur = masters[0] if len(masters) == 1 else None
            if cur is not None and cur != last:
                if last is not None:
                    self.bump("failovers")
                last = cur
                self.f_mon.write("%.3f %d\n" % (t, cur))
                self.f_mon.flush()
            time.sleep(max(0.0, 0.2 - (time.time() - t)))

    def run(self):
        ts = [threading.Thread(target=self.client, args=(c,)) for c in range(self.nclients)]
        ts.append(threading.Thread(target=self.monitor))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for f in (self.f_acks, self.f_req, self.f_err, self.f_mon):
            f.close()
        self.count.setdefault("failovers", 0)
        with open(os.path.join(self.work, "load.json"), "w") as f:
            json.dump(self.count, f, sort_keys=True)


def check(work, seconds, ports):
    acked = {}
    with open(os.path.join(work, "acks"), encoding="utf-8") as f:
        for line in f:
            a = json.loads(line)
            acked[a["d"]] = a["m"]
    res, bad = {}, {}
    for k, p in enumerate(ports):
        # each node its own catch-up time: one shared deadline let a node
        # with one digest truly missing use it all, and every later node
        # then looked as if it had none of them
        end = time.time() + seconds
        pending = set(acked)
        wrong = set()
        conn = None
        while pending and time.time() < end:
            for d in list(pending):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", p, timeout=TIMEOUT)
                    conn.request("GET", "/messages/" + d)
                    r = conn.getresponse()
                    data = r.read()
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.1)
                    continue
                if r.status == 200:
                    try:
                        got = json.loads(data)["message"]
                    except (ValueError, KeyError, TypeError):
                        got = None
                    if got == acked[d]:
                        pending.discard(d)
                        wrong.discard(d)
                    else:
                        wrong.add(d)
            if pending:
                time.sleep(0.5)
        if conn is not None:
            conn.close()
        res[k + 1] = {"ok": len(acked) - len(pending), "missing": len(pending - wrong), "wrong": len(wrong)}
        for d in pending:
            bad.setdefault(d, []).append(k + 1)
    with open(os.path.join(work, "lost"), "w") as f:
        for d, nodes in sorted(bad.items()):
            f.write("%s nodes %s\n" % (d, ",".join(map(str, nodes))))
    with open(os.path.join(work, "check.json"), "w") as f:
        json.dump({"acked": len(acked), "lost": len(bad), "nodes": res}, f, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "load":
        Load(sys.argv[2], sys.argv[3], int(sys.argv[4]), [int(p) for p in sys.argv[5:]]).run()
    elif len(sys.argv) >= 4 and sys.argv[1] == "check":
        check(sys.argv[2], float(sys.argv[3]), [int(p) for p in sys.argv[4:]])
    else:
        sys.exit("usage: group-load.py load WORK TOKEN CLIENTS PORT... | check WORK SECONDS PORT...")

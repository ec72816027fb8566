-- wrk: keep-alive POST of one repeated message (idempotent: 200 after the first)
wrk.method = "POST"
wrk.body = '{"message":"foo"}'
wrk.headers["Content-Type"] = "application/json"

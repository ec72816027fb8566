#!/usr/bin/env bats
# msghash serve in per-connection mode: raw request bytes piped to stdin,
# responses on stdout.
# Expected values come from the specification (msghash(1) serve, RFC 9110 and
# RFC 9112 status codes and reason phrases, DESIGN.md §5)
# and from sha256sum -- never from a run of msghash.

bats_require_minimum_version 1.5.0

load helper
load serve-helper

setup() {
	common_setup
	# D = SHA-256 of "foo" (the specification's example digest), J its body.
	D=$(sha256_of_string foo)
	J='{"message":"foo"}'
	# a valid 64-hex digest that nothing in these tests hashes to
	UNK=0000000000000000000000000000000000000000000000000000000000000000
	H='Host: a\r\n'
	ROW_FAILURES=()
	ROW_ALLOW=
	ROW_ERRMSG=
	SERVE_GLOBAL=()
}

teardown() {
	stop_writer
	common_teardown
}

# post_fmt BODY_FORMAT [HEADER_LINES_FORMAT]: a printf format for
# POST /messages whose Content-Length is the length of printf BODY_FORMAT.
post_fmt() {
	local len
	len=$(printf -- "$1" | wc -c)
	printf '%s' "POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n${2:-}Content-Length: $len\r\n\r\n$1"
}

# chunked_fmt HEADER_LINES_FORMAT CHUNKED_BODY_FORMAT: POST /messages, chunked
chunked_fmt() {
	printf '%s' "POST /messages HTTP/1.1\r\nHost: a\r\n${1}Transfer-Encoding: chunked\r\n\r\n$2"
}

# check_fixture NAME: NAME.req piped into msghash serve gives NAME.resp
# byte for byte once the Date values are replaced by DATE; serve exits 0.
check_fixture() {
	local name=$1
	[[ -f $HTTP_FIXTURES/$name.req && -f $HTTP_FIXTURES/$name.resp ]] ||
		fail "missing fixture $HTTP_FIXTURES/$name.{req,resp}"
	serve_raw "$HTTP_FIXTURES/$name.req"
	norm_date "$SERVE_OUT" >"$BATS_TEST_TMPDIR/got"
	if ! cmp -s "$BATS_TEST_TMPDIR/got" "$HTTP_FIXTURES/$name.resp"; then
		diff -u --label expected --label got <(cat -A "$HTTP_FIXTURES/$name.resp") \
			<(cat -A "$BATS_TEST_TMPDIR/got") | batslib_decorate "response to $name.req differs" | fail
	fi
	assert_equal "$SERVE_RC" 0
}

# a request line of LEN bytes (without CRLF): GET /messages/UNK?aaa... HTTP/1.1
long_get() {
	local pad=$(($1 - 14 - 64 - 1 - 9))
	printf 'GET /messages/%s?%s HTTP/1.1' "$UNK" "$(head -c "$pad" /dev/zero | tr '\0' a)"
}

# ---------------------------------------------------------------- basics

@test "serve --help exits 0 and names the timeout options" {
	run -0 --separate-stderr "$MSGHASH" serve --help
	assert_output --partial -- --header-timeout
	assert_output --partial -- --idle-timeout
	assert_output --partial -- --max-requests
}

@test "at least 25 fixtures, each .req with its .resp, CRLF header lines only" {
	local n=0 f
	for f in "$HTTP_FIXTURES"/*.req; do
		[[ -f ${f%.req}.resp ]] || fail "no .resp for $f"
		n=$((n + 1))
	done
	((n >= 25)) || fail "only $n fixtures in $HTTP_FIXTURES"
}

# ---------------------------------------------------------------- fixtures

@test "fixture 01-healthz: GET /healthz -> 200 {\"status\":\"ok\"}" { check_fixture 01-healthz; }
@test "fixture 02-head-healthz: HEAD -> GET's headers, no body" { check_fixture 02-head-healthz; }
@test "fixture 03-post-new: 201 Created + Location + digest" { check_fixture 03-post-new; }
@test "fixture 04-post-twice: 201 then 200 without Location" { check_fixture 04-post-twice; }
@test "fixture 05-post-then-get: GET sees the pipelined POST" { check_fixture 05-post-then-get; }
@test "fixture 06-get-unknown: 404 Message not found" { check_fixture 06-get-unknown; }
@test "fixture 07-get-uppercase-hex: digest hex is case-insensitive" { check_fixture 07-get-uppercase-hex; }
@test "fixture 08-get-query-ignored" { check_fixture 08-get-query-ignored; }
@test "fixture 09-absolute-form target, Host ignored" { check_fixture 09-absolute-form; }
@test "fixture 10-leading-crlf lines before a request are ignored" { check_fixture 10-leading-crlf; }
@test "fixture 11-http-1.2-as-1.1 (RFC 9110 2.5)" { check_fixture 11-http-1.2-as-1.1; }
@test "fixture 12-empty-host is valid (RFC 9112 3.2)" { check_fixture 12-empty-host; }
@test "fixture 13-options-messages: 204 Allow: POST, OPTIONS" { check_fixture 13-options-messages; }
@test "fixture 14-options-digest: 204 Allow: GET, HEAD, OPTIONS" { check_fixture 14-options-digest; }
@test "fixture 15-options-healthz: 204 Allow: GET, HEAD, OPTIONS" { check_fixture 15-options-healthz; }
@test "fixture 16-options-star: 204 Allow: GET, HEAD, POST, OPTIONS" { check_fixture 16-options-star; }
@test "fixture 17-connection-close: Connection: close, nothing more read" { check_fixture 17-connection-close; }
@test "fixture 18-http10-keep-alive: Connection: keep-alive answered in kind" { check_fixture 18-http10-keep-alive; }
@test "fixture 19-expect-100-continue: 100 Continue, then 201" { check_fixture 19-expect-100-continue; }
@test "fixture 20-chunked request body" { check_fixture 20-chunked; }
@test "fixture 21-chunked-ext-trailers: extensions and trailers ignored" { check_fixture 21-chunked-ext-trailers; }
@test "fixture 22-te-uppercase: Transfer-Encoding: CHUNKED" { check_fixture 22-te-uppercase; }
@test "fixture 23-content-length-ows" { check_fixture 23-content-length-ows; }
@test "fixture 24-content-length-zeros: 00017" { check_fixture 24-content-length-zeros; }
@test "fixture 25-unicode-escape: \\u00e9 hashed as c3 a9, returned as UTF-8" { check_fixture 25-unicode-escape; }
@test "fixture 26-surrogate-pair: \\ud83d\\ude00 hashed as f0 9f 98 80" { check_fixture 26-surrogate-pair; }
@test "fixture 27-nul-round-trip: \\u0000 stored and returned escaped" { check_fixture 27-nul-round-trip; }
@test "fixture 28-output-escaping: \\\" \\\\ and \\u00XX lowercase" { check_fixture 28-output-escaping; }
@test "fixture 29-empty-message: e3b0c442..." { check_fixture 29-empty-message; }
@test "fixture 30-unknown-members are ignored" { check_fixture 30-unknown-members; }
@test "fixture 31-octet-stream: raw bytes with Accept: application/octet-stream" { check_fixture 31-octet-stream; }
@test "fixture 32-head-message: Content-Length of the GET body, no body" { check_fixture 32-head-message; }
@test "fixture 33-head-unknown: 404 headers, no body" { check_fixture 33-head-unknown; }
@test "fixture 34-pipelined: six requests, responses in order" { check_fixture 34-pipelined; }
@test "fixture 35-any-content-type is accepted" { check_fixture 35-any-content-type; }
@test "fixture 36-obs-text-unknown-header is accepted" { check_fixture 36-obs-text-unknown-header; }
@test "fixture 37-post-close: 201 with Connection: close" { check_fixture 37-post-close; }
@test "fixture 38-http10-post-keep-alive" { check_fixture 38-http10-post-keep-alive; }
@test "fixture 39-unknown-digest-keeps the connection" { check_fixture 39-unknown-digest-keeps; }

@test "every fixture in the directory matches (including ones added later)" {
	local f failed=()
	for f in "$HTTP_FIXTURES"/*.req; do
		# each fixture starts from an empty store
		MSGHASH_DB=$BATS_TEST_TMPDIR/store.${f##*/} serve_raw "$f"
		norm_date "$SERVE_OUT" | cmp -s - "${f%.req}.resp" || failed+=("${f##*/}")
	done
	((${#failed[@]} == 0)) || fail "fixtures not matched: ${failed[*]}"
}

@test "a connection that only reads does not load libcrypto (nor does its 404)" {
	"$MSGHASH" hash foo >/dev/null
	printf "GET /messages/$D HTTP/1.1\r\n$H\r\nGET /messages/$UNK HTTP/1.1\r\n$H\r\n" \
	    >"$BATS_TEST_TMPDIR/req"
	LD_DEBUG=files "$MSGHASH" serve <"$BATS_TEST_TMPDIR/req" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/ld"
	run -0 grep -o 'HTTP/1\.1 [0-9]\{3\}' "$BATS_TEST_TMPDIR/out"
	assert_output $'HTTP/1.1 200\nHTTP/1.1 404'
	grep -qF "$J" "$BATS_TEST_TMPDIR/out"
	run -1 loads_libcrypto "$BATS_TEST_TMPDIR/ld"
}

# ---------------------------------------------------------------- response format

@test "error responses: RFC 9110 reason phrase, IMF-fixdate Date, JSON type, Content-Length, header order" {
	local reqs=(
		"GET /other HTTP/1.1\r\n$H\r\n"                      # 404
		"PUT /messages/$D HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" # 405
		"POST /messages HTTP/1.1\r\n$H\r\n"                  # 411
		"$(post_fmt '{"message":1}')"                         # 400 (JSON)
		"GET /healthz HTTP/1.1\r\n\r\n"                       # 400 (framing)
		"GET /messages/$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1\r\n$H\r\n" # 414
		"GET /healthz HTTP/1.1\r\n${H}X: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n" # 431
		"$(post_fmt "$J" 'Expect: xyz\r\n')"                  # 417
		"FOO /healthz HTTP/1.1\r\n$H\r\n"                     # 501
		"GET /healthz HTTP/2.0\r\n$H\r\n"                     # 505
		"POST /messages HTTP/1.1\r\n${H}Content-Length: 99999999\r\n\r\n" # 413
	)
	local r codes p problems all=
	for r in "${reqs[@]}"; do
		serve_printf "$r"
		codes=$(split_responses "$SERVE_OUT") || fail "unparsable response to $(printf %q "$r")"
		for p in "$SERVE_OUT".[0-9]; do
			problems=$(check_response "$p")
			[[ -z $problems ]] || all+="$(printf %q "$r") -> $codes: $problems"$'\n'
		done
	done
	[[ -z $all ]] || fail "$all"
}

@test "a successful POST, GET, OPTIONS and 404 are well formed too" {
	serve_printf "$(post_fmt "$J")GET /messages/$D HTTP/1.1\r\n$H\r\nOPTIONS /messages HTTP/1.1\r\n$H\r\nGET /messages/$UNK HTTP/1.1\r\n$H\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output '201 200 204 404'
	local p problems all=
	for p in "$SERVE_OUT".[0-9]; do
		problems=$(check_response "$p")
		[[ -z $problems ]] || all+="$p: $problems"$'\n'
	done
	[[ -z $all ]] || fail "$all"
}

@test "one log line per request on stderr (method, path, status)" {
	serve_printf "GET /healthz HTTP/1.1\r\n$H\r\n$(post_fmt "$J")GET /messages/$UNK HTTP/1.1\r\n$H\r\n"
	assert_equal "$SERVE_RC" 0
	run -0 cat "$SERVE_ERR"
	assert_line --regexp 'GET.*/healthz.*200'
	assert_line --regexp 'POST.*/messages.*201'
	assert_line --regexp "GET.*/messages/$UNK.*404"
}

# ---------------------------------------------------------------- digests

@test "POST digest = sha256sum = msghash hash of the same bytes (escapes decoded)" {
	local bytes='caf\303\251 \360\237\230\200 tab\there'
	local expected
	expected=$(printf "$bytes" | sha256sum | cut -c1-64)
	serve_printf "$(post_fmt '{"message":"caf\\u00e9 \\ud83d\\ude00 tab\\there"}')"
	run -0 split_responses "$SERVE_OUT"
	assert_output 201
	assert_equal "$(cat "$SERVE_OUT.1.b")" "{\"digest\":\"$expected\"}"
	assert_equal "$(printf "$bytes" | "$MSGHASH" hash -n)" "$expected"
}

@test "\\u0000 round trip: digest of the bytes with NUL, JSON escaped, raw with octet-stream" {
	printf 'a\0b' >"$BATS_TEST_TMPDIR/msg"
	local d
	d=$(sha256_of_file "$BATS_TEST_TMPDIR/msg")
	serve_printf "$(post_fmt '{"message":"a\\u0000b"}')GET /messages/$d HTTP/1.1\r\n$H\r\nGET /messages/$d HTTP/1.1\r\n${H}Accept: application/octet-stream\r\n\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output '201 200 200'
	assert_equal "$(cat "$SERVE_OUT.1.b")" "{\"digest\":\"$d\"}"
	assert_equal "$(cat "$SERVE_OUT.2.b")" '{"message":"a\u0000b"}'
	cmp "$SERVE_OUT.3.b" "$BATS_TEST_TMPDIR/msg"
	assert_equal "$(resp_header "$SERVE_OUT.3" Content-Type)" application/octet-stream
	assert_equal "$(printf 'a\0b' | "$MSGHASH" hash -n)" "$d"
}

@test "JSON: accepted edge cases (whitespace, DEL, unknown members) hash the decoded bytes" {
	local -a bodies=(
		'\t{\n "message" :\t"ws" \r\n}\n'
		'{"message":"del\177"}'
		'{"n":1e5,"message":"members","o":{"message":[1,2]}}'
		'{"message":"\\/\\b\\f\\r\\u00E9"}'
	)
	local -a msgs=('ws' 'del\177' 'members' '/\b\f\r\303\251')
	local i d
	for i in "${!bodies[@]}"; do
		d=$(printf "${msgs[$i]}" | sha256sum | cut -c1-64)
		serve_printf "$(post_fmt "${bodies[$i]}")"
		run -0 split_responses "$SERVE_OUT"
		assert_output 201
		assert_equal "$(cat "$SERVE_OUT.1.b")" "{\"digest\":\"$d\"}"
	done
}

# ---------------------------------------------------------------- GET variants

@test "GET: Accept: application/json and */* get JSON" {
	serve_printf "$(post_fmt "$J")GET /messages/$D HTTP/1.1\r\n${H}Accept: application/json\r\n\r\nGET /messages/$D HTTP/1.1\r\n${H}Accept: */*\r\n\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output '201 200 200'
	assert_equal "$(cat "$SERVE_OUT.2.b")" "$J"
	assert_equal "$(cat "$SERVE_OUT.3.b")" "$J"
	assert_equal "$(resp_header "$SERVE_OUT.3" Content-Type)" application/json
}

@test "406 for a JSON GET of a non-UTF-8 message stored with msghash hash; octet-stream returns it" {
	printf 'x\377y\300\n' >"$BATS_TEST_TMPDIR/msg"
	local d
	d=$(sha256_of_file "$BATS_TEST_TMPDIR/msg")
	run -0 --separate-stderr "$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg"
	assert_output "$d"
	serve_printf "GET /messages/$d HTTP/1.1\r\n$H\r\nGET /messages/$d HTTP/1.1\r\n${H}Accept: application/octet-stream\r\n\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output '406 200'
	is_err_body "$SERVE_OUT.1" || fail "406 body: $(cat -v "$SERVE_OUT.1.b")"
	grep -qF application/octet-stream "$SERVE_OUT.1.b" || fail "406 err_msg does not name application/octet-stream"
	! has_close "$SERVE_OUT.1" || fail "406 closed the connection"
	cmp "$SERVE_OUT.2.b" "$BATS_TEST_TMPDIR/msg"
	assert_equal "$(resp_header "$SERVE_OUT.2" Content-Type)" application/octet-stream
	assert_equal "$(resp_header "$SERVE_OUT.2" Content-Length)" "$(stat -c %s "$BATS_TEST_TMPDIR/msg")"
}

@test "octet-stream GET of a binary message (all 256 byte values) stored with msghash hash" {
	local i
	for i in {0..255}; do printf "\\$(printf %03o "$i")"; done >"$BATS_TEST_TMPDIR/msg"
	local d
	d=$(sha256_of_file "$BATS_TEST_TMPDIR/msg")
	"$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg" >/dev/null
	serve_printf "GET /messages/${d^^} HTTP/1.1\r\n${H}Accept: application/octet-stream\r\n\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output 200
	cmp "$SERVE_OUT.1.b" "$BATS_TEST_TMPDIR/msg"
}

@test "HEAD on every GET route: same status and headers as GET, no body" {
	local targets=("/healthz" "/messages/$D" "/messages/$UNK" "/messages/abc")
	local t req="$(post_fmt "$J")" heads=()
	local n=1
	for t in "${targets[@]}"; do
		req+="GET $t HTTP/1.1\r\n$H\r\nHEAD $t HTTP/1.1\r\n$H\r\n"
		heads+=($((n + 2)))
		n=$((n + 2))
	done
	serve_printf "$req"
	run -0 split_responses "$SERVE_OUT" "${heads[@]}"
	assert_output '201 200 200 200 200 404 404 404 404'
	local i
	for ((i = 2; i <= 8; i += 2)); do
		diff <(norm_date "$SERVE_OUT.$i.h") <(norm_date "$SERVE_OUT.$((i + 1)).h") ||
			fail "HEAD ${targets[$((i / 2 - 1))]}: headers differ from GET"
		[[ ! -s $SERVE_OUT.$((i + 1)).b ]] || fail "HEAD sent a body"
	done
}

@test "GET /messages/<not 64 hex> -> 404 naming '64 hexadecimal characters', connection kept" {
	ROW_ERRMSG='64 hexadecimal characters'
	local pct=
	local i
	for ((i = 0; i < 64; i++)); do pct+="%%$(printf %02x "'${D:i:1}")"; done
	expect_row 404 keep "GET /messages/${D:0:63} HTTP/1.1\r\n$H\r\n"
	expect_row 404 keep "GET /messages/${D}0 HTTP/1.1\r\n$H\r\n"
	expect_row 404 keep "GET /messages/${D:0:63}g HTTP/1.1\r\n$H\r\n"
	expect_row 404 keep "GET /messages/$pct HTTP/1.1\r\n$H\r\n"
	expect_row 404 keep "GET /messages/abc HTTP/1.1\r\n$H\r\n"
	assert_rows
}

@test "unknown paths -> 404, connection kept" {
	local p
	for p in / /other /messages/$D/ /messages/$D/x /messagesx /healthz/x /Messages/$D; do
		expect_row 404 keep "GET $p HTTP/1.1\r\n$H\r\n"
	done
	assert_rows
}

# ---------------------------------------------------------------- methods

@test "405 + Allow for known routes with another known method; body consumed, connection kept" {
	local m
	ROW_ALLOW='GET, HEAD, OPTIONS'
	for m in PUT DELETE PATCH TRACE; do
		expect_row 405 keep "$m /messages/$D HTTP/1.1\r\n$H\r\n"
		expect_row 405 keep "$m /healthz HTTP/1.1\r\n$H\r\n"
	done
	expect_row 405 keep "POST /messages/$D HTTP/1.1\r\n${H}Content-Length: 17\r\n\r\n$J"
	expect_row 405 keep "PUT /messages/$D HTTP/1.1\r\n${H}Content-Length: 17\r\n\r\n$J"
	expect_row 405 keep "POST /healthz HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n"
	ROW_ALLOW='POST, OPTIONS'
	for m in GET PUT DELETE PATCH TRACE; do
		expect_row 405 keep "$m /messages HTTP/1.1\r\n$H\r\n"
	done
	expect_row 405 keep "PUT /messages HTTP/1.1\r\n${H}Content-Length: 17\r\n\r\n$J"
	assert_rows
}

@test "HEAD /messages -> 405 + Allow: POST, OPTIONS, no body" {
	serve_printf "HEAD /messages HTTP/1.1\r\n$H\r\n$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT" 1
	assert_output '405 200'
	assert_equal "$(resp_header "$SERVE_OUT.1" Allow)" 'POST, OPTIONS'
}

@test "unknown method tokens (FOO, get, CONNECT, 300 bytes) -> 501 and close" {
	expect_row 501 close "FOO /messages HTTP/1.1\r\n$H\r\n"
	expect_row 501 close "get /healthz HTTP/1.1\r\n$H\r\n"
	expect_row 501 close "Get /healthz HTTP/1.1\r\n$H\r\n"
	expect_row 501 close "CONNECT a:80 HTTP/1.1\r\n$H\r\n"
	expect_row 501 close "PROPFIND /messages HTTP/1.1\r\n$H\r\n"
	# an unknown method: 501 (or 400)
	expect_row '501|400' close "$(head -c 300 /dev/zero | tr '\0' A) /healthz HTTP/1.1\r\n$H\r\n"
	assert_rows
}

# ---------------------------------------------------------------- request line

@test "policy: request-line rows: 400 and close" {
	expect_row 400 close "GET a:80 HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET * HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /messages/$D#x HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /a\177b HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /caf\303\251 HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /healthz\200 HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /he lthz HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET  /healthz HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /healthz  HTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET\t/healthz\tHTTP/1.1\r\n$H\r\n"
	expect_row 400 close "GET /healthz HTTP/1.1 \r\n$H\r\n"
	expect_row 400 close "GET /healthz\0 HTTP/1.1\r\n$H\r\n"
	assert_rows
}

@test "policy: version rows: malformed -> 400, HTTP/2.0+ -> 505, both close" {
	local v
	for v in HTTP/1.10 HTTP/01.1 http/1.1 HTTP/1 HTTP/1. HTTP/1.x HTTPS/1.1 HTTP/11 'HTTP/1.1x'; do
		expect_row 400 close "GET /healthz $v\r\n$H\r\n"
	done
	for v in HTTP/2.0 HTTP/3.0 HTTP/9.9; do
		expect_row 505 close "GET /healthz $v\r\n$H\r\n"
	done
	# the HTTP/2 connection preface: version 2.0 (505; PRI is also
	# an unknown method, so 501 is accepted as well)
	expect_row '505|501' close 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
	assert_rows
}

@test "HTTP/0.9 request line: 400 and close, or closed without a response" {
	serve_printf "GET /healthz\r\n\r\n$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	if [[ -n $output ]]; then
		assert_output 400
		has_close "$SERVE_OUT.1" || fail "400 without Connection: close"
	fi
	assert_equal "$SERVE_RC" 0
}

@test "HTTP/1.0 without keep-alive: one response, then the connection ends" {
	serve_printf "GET /healthz HTTP/1.0\r\n\r\n$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output 200
	assert_equal "$(cat "$SERVE_OUT.1.b")" "$HEALTH_BODY"
	assert_equal "$SERVE_RC" 0
}

# ---------------------------------------------------------------- header section

@test "policy: Host rows: missing, duplicate or invalid Host on HTTP/1.1 -> 400 and close" {
	expect_row 400 close 'GET /healthz HTTP/1.1\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nX: 1\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: a:xy\r\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: u@a\r\n\r\n'
	assert_rows
}

@test "policy: header syntax rows: 400 and close" {
	local g="GET /healthz HTTP/1.1\r\n$H"
	expect_row 400 close "${g}X-A : 1\r\n\r\n"
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n'
	expect_row 400 close "${g}X-A: 1\r\n 2\r\n\r\n"
	expect_row 400 close "${g}X-A: 1\r\n\t2\r\n\r\n"
	expect_row 400 close "POST /messages HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n  abc\r\n\r\n11\r\n$J\r\n0\r\n\r\n"
	expect_row 400 close 'GET /healthz HTTP/1.1\r\n Host: a\r\n\r\n'
	expect_row 400 close "${g}X: a\0b\r\n\r\n"
	expect_row 400 close "${g}X: a\rb\r\n\r\n"
	expect_row 400 close 'GET /healthz HTTP/1.1\nHost: a\n\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\r\nHost: a\n\r\n'
	expect_row 400 close 'GET /healthz HTTP/1.1\rHost: a\r\n\r\n'
	expect_row 400 close "POST /messages HTTP/1.1\r\nHost: a\r\nx:x\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n"
	expect_row 400 close "${g}X@Y: 1\r\n\r\n"
	expect_row 400 close "${g}X Y: 1\r\n\r\n"
	expect_row 400 close "${g}: 1\r\n\r\n"
	expect_row 400 close "${g}a\0b: c\r\n\r\n"
	expect_row 400 close "${g}X\200: 1\r\n\r\n"
	expect_row 400 close "${g}Foo\r\n\r\n"
	expect_row 400 close "${g}X: a\001b\r\n\r\n"
	expect_row 400 close "${g}X: a\177b\r\n\r\n"
	expect_row 400 close "${g}X: a\033b\r\n\r\n"
	assert_rows
}

@test "header values with HTAB, SP and obs-text are accepted" {
	local g="GET /healthz HTTP/1.1\r\n$H"
	expect_row 200 keep "${g}X: a\tb c\r\n\r\n"
	expect_row 200 keep "${g}X:\tpadded\t \r\n\r\n"
	expect_row 200 keep "${g}X: caf\303\251\r\n\r\n"
	expect_row 200 keep "${g}X:\r\n\r\n"
	assert_rows
}

# ---------------------------------------------------------------- limits

@test "414 for a request line over 8192 bytes; 8000 bytes are fine" {
	expect_row 414 close "$(long_get 8200)\r\n$H\r\n"
	expect_row 414 close "GET /messages/$(head -c 10000 /dev/zero | tr '\0' a) HTTP/1.1\r\n$H\r\n"
	expect_row 404 keep "$(long_get 8000)\r\n$H\r\n"
	assert_rows
}

@test "431 for a header line over 8192 bytes, a section over 16384 bytes, or 101 fields" {
	local a9000 a900 a1000 i many= section= fine= hundred=
	a9000=$(head -c 9000 /dev/zero | tr '\0' a)
	a900=$(head -c 900 /dev/zero | tr '\0' a)
	a1000=$(head -c 1000 /dev/zero | tr '\0' a)
	for i in {1..20}; do section+="X-$i: $a900\r\n"; done        # about 18000 bytes
	for i in {1..100}; do many+="X-$i: 1\r\n"; done               # + Host = 101 fields
	for i in {1..99}; do hundred+="X-$i: 1\r\n"; done             # + Host = 100 fields
	for i in {1..13}; do fine+="X-$i: $a1000\r\n"; done           # about 13100 bytes
	expect_row 431 close "GET /healthz HTTP/1.1\r\n${H}X: $a9000\r\n\r\n"
	expect_row 431 close "GET /healthz HTTP/1.1\r\n$H$section\r\n"
	expect_row 431 close "GET /healthz HTTP/1.1\r\n$H$many\r\n"
	expect_row 200 keep "GET /healthz HTTP/1.1\r\n$H$hundred\r\n"
	expect_row 200 keep "GET /healthz HTTP/1.1\r\n$H$fine\r\n"
	expect_row 200 keep "GET /healthz HTTP/1.1\r\n${H}X: ${a1000}${a1000}${a1000}${a1000}${a1000}${a1000}${a1000}\r\n\r\n"
	assert_rows
}

@test "411 for POST without Content-Length or chunked; the connection stays open" {
	expect_row 411 keep "POST /messages HTTP/1.1\r\n$H\r\n"
	expect_row 411 keep "POST /messages HTTP/1.1\r\n${H}Content-Type: application/json\r\n\r\n"
	assert_rows
}

@test "--max-size 1K: JSON body limit is 2*1024+4096 = 6144 bytes" {
	SERVE_GLOBAL=(--max-size 1K)
	local pad
	pad=$(head -c $((6144 - 17)) /dev/zero | tr '\0' ' ')
	# exactly 6144 bytes of valid JSON (trailing whitespace): accepted
	expect_row 201 keep "POST /messages HTTP/1.1\r\n${H}Content-Length: 6144\r\n\r\n$J$pad"
	# 6145 bytes: 413 and close
	expect_row 413 close "POST /messages HTTP/1.1\r\n${H}Content-Length: 6145\r\n\r\n$J$pad "
	assert_rows
}

@test "--max-size 1K: a decoded message of 1024 bytes is stored, 1025 or 2000 bytes (also chunked) -> 413 and close" {
	SERVE_GLOBAL=(--max-size 1K)
	local m1024 m1025 m2000 esc=
	m1024=$(head -c 1024 /dev/zero | tr '\0' m)
	m1025=${m1024}m
	m2000=$(head -c 2000 /dev/zero | tr '\0' m)
	expect_row 201 keep "$(post_fmt "{\"message\":\"$m1024\"}")"
	# A refused body ends the connection, as one over the body limit does
	# (the contract of DESIGN.md §5 and msghash(1)).
	expect_row 413 close "$(post_fmt "{\"message\":\"$m1025\"}")"
	expect_row 413 close "$(post_fmt "{\"message\":\"$m2000\"}")"
	# the same body chunked: 413 and close too, the probe after it unanswered
	local j="{\"message\":\"$m2000\"}"
	expect_row 413 close "POST /messages HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n$(printf %x ${#j})\r\n$j\r\n0\r\n\r\n"
	# 1000 x \u0041 + 24 x a: a 6038-byte body that decodes to 1024 bytes
	local i
	for i in {1..1000}; do esc+='\\u0041'; done
	expect_row 201 keep "$(post_fmt "{\"message\":\"$esc$(head -c 24 /dev/zero | tr '\0' a)\"}")"
	assert_rows
	# and the stored 1024-byte messages have the right digests
	local d1 d2
	d1=$(sha256_of_string "$m1024")
	d2=$(sha256_of_string "$(head -c 1000 /dev/zero | tr '\0' A)$(head -c 24 /dev/zero | tr '\0' a)")
	serve_printf "GET /messages/$d1 HTTP/1.1\r\n$H\r\nGET /messages/$d2 HTTP/1.1\r\n$H\r\nGET /messages/$(sha256_of_string "$m1025") HTTP/1.1\r\n$H\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output '200 200 404'
}

@test "413 at once, without reading the body (Content-Length over the limit, writer keeps the pipe open)" {
	# default --max-size 4M: limit 2*4194304+4096 = 8392704
	serve_fifo 0 "POST /messages HTTP/1.1\r\n${H}Content-Length: 8392705\r\n\r\n" --body-timeout 10
	run -0 split_responses "$SERVE_OUT"
	assert_output 413
	has_close "$SERVE_OUT.1" || fail "413 without Connection: close"
	assert_equal "$SERVE_RC" 0
	SERVE_GLOBAL=(--max-size 1K)
	serve_fifo 0 "POST /messages HTTP/1.1\r\n${H}Content-Length: 6145\r\n\r\n" --body-timeout 10
	run -0 split_responses "$SERVE_OUT"
	assert_output 413
	assert_equal "$SERVE_RC" 0
}

@test "Expect: 100-continue with an oversized Content-Length -> 413 at once, no 100" {
	serve_fifo 0 "POST /messages HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 99999999\r\n\r\n" --body-timeout 10
	run -0 split_responses "$SERVE_OUT"
	assert_output 413
	has_close "$SERVE_OUT.1" || fail "413 without Connection: close"
	assert_equal "$SERVE_RC" 0
}

@test "Expect: 100-continue: 100 Continue is sent before the body arrives" {
	# the writer sends only the header section and keeps the pipe open: the
	# interim response must come without the body (then the body timeout ends it)
	serve_fifo 0 "POST /messages HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 17\r\n\r\n" --body-timeout 0.5
	run -0 split_responses "$SERVE_OUT"
	assert_output '100 408'
	head -c 25 "$SERVE_OUT" | cmp - <(printf 'HTTP/1.1 100 Continue\r\n\r\n')
}

@test "Expect: other than 100-continue -> 417 and close" {
	expect_row 417 close "$(post_fmt "$J" 'Expect: something-else\r\n')"
	expect_row 417 close "GET /healthz HTTP/1.1\r\n${H}Expect: foo\r\n\r\n"
	assert_rows
}

# ---------------------------------------------------------------- Content-Length

@test "policy: Content-Length rows: conflicting or invalid -> 400 and close" {
	local p="POST /messages HTTP/1.1\r\n$H"
	expect_row 400 close "${p}Content-Length: 17\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n$J\r\n0\r\n\r\n"
	expect_row 400 close "${p}Transfer-Encoding: chunked\r\nContent-Length: 17\r\n\r\n11\r\n$J\r\n0\r\n\r\n"
	expect_row 400 close "${p}Content-Length: 17\r\nContent-Length: 18\r\n\r\n$J "
	expect_row 400 close "${p}Content-Length: 17\r\nContent-Length: 17\r\n\r\n$J"
	expect_row 400 close "${p}Content-Length: 17, 17\r\n\r\n$J"
	local v
	for v in +17 -1 0x11 '1 7' '1\t7' '' 17.0 17a ' '; do
		expect_row 400 close "${p}Content-Length: $v\r\n\r\n$J"
	done
	# > 2^64: 413 (or 400), never wrapped around
	expect_row '413|400' close "${p}Content-Length: 18446744073709551617\r\n\r\n$J"
	expect_row '413|400' close "${p}Content-Length: 18446744073709551633\r\n\r\n$J"
	assert_rows
}

@test "Content-Length shorter than the JSON: no 2xx, the rest is never a request" {
	serve_printf "POST /messages HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n$J$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	[[ $output =~ ^400( 4[0-9][0-9]| 50[15])*$ ]] || fail "responses: $output"
	local -a c
	read -r -a c <<<"$output"
	has_close "$SERVE_OUT.${#c[@]}" || fail "the last response does not close"
}

@test "GET with a body: the body is consumed or the connection closed, never parsed as a request" {
	serve_printf "GET /healthz HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	if [[ $output == 200 ]]; then
		has_close "$SERVE_OUT.1" || fail "one response, but no Connection: close"
	else
		assert_output '200 200'
	fi
}

# ---------------------------------------------------------------- Transfer-Encoding

@test "policy: Transfer-Encoding rows: not ending in chunked -> 400 (gzip, chunked -> 501), close" {
	local body="11\r\n$J\r\n0\r\n\r\n" p="POST /messages HTTP/1.1\r\n$H"
	expect_row 400 close "${p}Transfer-Encoding: gzip\r\n\r\n$body"
	expect_row 501 close "${p}Transfer-Encoding: gzip, chunked\r\n\r\n$body"
	expect_row 400 close "${p}Transfer-Encoding: chunked, chunked\r\n\r\n$body"
	expect_row 400 close "${p}Transfer-Encoding: identity\r\n\r\n$body"
	expect_row 400 close "${p}Transfer-Encoding: identity\r\nContent-Length: 17\r\n\r\n$J"
	expect_row 400 close "${p}Transfer-Encoding: xchunked\r\n\r\n$body"
	expect_row 400 close "${p}Transfer-Encoding: chunkedchunked\r\n\r\n$body"
	expect_row 400 close "${p}Transfer-Encoding:\r\n\r\n$body"
	expect_row 400 close "${p}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n$body"
	expect_row 400 close "POST /messages HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n$body"
	assert_rows
}

@test "policy: chunk rows: bad sizes, bad extensions, bad framing -> 400 (or 413) and close" {
	expect_row '400|413' close "$(chunked_fmt '' 'ffffffffffffffffff\r\nabc\r\n0\r\n\r\n')"
	expect_row '400|413' close "$(chunked_fmt '' '10000000000000011\r\n{"message":"foo"}\r\n0\r\n\r\n')"
	local s
	for s in -5 0x5 ' 5' '5 ' '5\t' '' ';a' g '+5'; do
		expect_row 400 close "$(chunked_fmt '' "$s\r\nhello\r\n0\r\n\r\n")"
	done
	expect_row 400 close "$(chunked_fmt '' '5;a="b\r\nhello\r\n0\r\n\r\n')"
	expect_row 400 close "$(chunked_fmt '' "5;a=$(head -c 5000 /dev/zero | tr '\0' x)\r\nhello\r\n0\r\n\r\n")"
	expect_row 400 close "$(chunked_fmt '' '5\r\nhelloXX0\r\n\r\n')"
	expect_row 400 close "$(chunked_fmt '' '5\r\nhel\r\n0\r\n\r\n')"
	expect_row 400 close "$(chunked_fmt '' '5\nhello\n0\n\n')"
	expect_row 400 close "$(chunked_fmt '' '5\r\nhello\n0\r\n\r\n')"
	# the last chunk directly followed by a request line: an invalid trailer field
	expect_row 400 close "$(chunked_fmt '' "11\r\n$J\r\n0\r\nGET /healthz HTTP/1.1\r\n")"
	assert_rows
}

@test "chunked: decoded body over the limit -> 413 and close" {
	SERVE_GLOBAL=(--max-size 1K)
	local chunk
	chunk=$(head -c 4096 /dev/zero | tr '\0' ' ')
	expect_row 413 close "$(chunked_fmt '' "11\r\n$J\r\n1000\r\n$chunk\r\n1000\r\n$chunk\r\n0\r\n\r\n")"
	assert_rows
}

@test "chunked: many small chunks, an empty-extension value and trailers; the digest is right" {
	local body='{"message":"chunky"}' i chunks=
	for ((i = 0; i < ${#body}; i++)); do chunks+="1;n=$i\r\n${body:i:1}\r\n"; done
	serve_printf "$(chunked_fmt 'Content-Type: application/json\r\n' "${chunks}0\r\nX-Trailer: x\r\n\r\n")$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output '201 200'
	assert_equal "$(cat "$SERVE_OUT.1.b")" "{\"digest\":\"$(sha256_of_string chunky)\"}"
}

@test "garbage after a valid chunked POST is the next request: 201, then 400 and close" {
	serve_printf "$(chunked_fmt '' "11\r\n$J\r\n0\r\n\r\nXYZ\r\n\r\n")$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output '201 400'
	has_close "$SERVE_OUT.2" || fail "400 without Connection: close"
}

# ---------------------------------------------------------------- JSON bodies (B3)

@test "B3 JSON rejects: 400 with err_msg, connection kept" {
	local -a bad=(
		'{"message":"foo"'
		"{'message':'x'}"
		'{"message":"x",}'
		'/*c*/{"message":"x"}'
		'{"message":"x","n":NaN}'
		'{"message":"\\x41"}'
		'{"message":"\\u00g1"}'
		'{"message":"\\U00e9"}'
		'{"message":"x","n":0012}'
		'{"message":"a"}xyz'
		'{"message":"a"}\0garbage'
		'{"message":"a"}{"message":"b"}'
		'{"message":"a"}}'
		'"message"'
		'[]'
		'123'
		'null'
		'[{"message":"x"}]'
		'{}'
		'{"Message":"x"}'
		'{"mess\\u0000age":"x"}'
		'{"message\\u0000junk":"x"}'
		'{"message":"a","message":"b"}'
		'{"message":"a","message":"a"}'
		'{"message":123}'
		'{"message":null}'
		'{"message":true}'
		'{"message":{}}'
		'{"message":["x"]}'
		'{"message":"\377\376\300\257"}'
		'{"message":"\300\257"}'
		'{"message":"\340\200\257"}'
		'{"message":"\355\240\200"}'
		'{"message":"\355\277\277"}'
		'{"message":"\364\220\200\200"}'
		'{"message":"\342\202"}'
		'{"message":"\200"}'
		'{"message":"x","\377":1}'
		'{"message":"\\ud800"}'
		'{"message":"\\udc00"}'
		'{"message":"\\ud83dx"}'
		'{"message":"\\ude00\\ud83d"}'
		'{"message":"\\ud83d\\u0041"}'
		'{"message":"a\nb"}'
		'{"message":"a\tb"}'
		'{"message":"a\rb"}'
		'{"message":"a\037b"}'
		'{\001"message":"a"}'
		'{"message":\0"a"}'
		'{"message":"a"}\013'
		'\357\273\277{"message":"x"}'
	)
	local b
	for b in "${bad[@]}"; do
		expect_row 400 keep "$(post_fmt "$b")"
	done
	# empty body
	expect_row 400 keep "POST /messages HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n"
	expect_row 400 keep "$(chunked_fmt '' '0\r\n\r\n')"
	assert_rows
}

@test "a JSON 400 stores nothing (duplicate keys, invalid UTF-8 after a valid message)" {
	serve_printf "$(post_fmt '{"message":"dup1","message":"dup2"}')$(post_fmt '{"message":"valid1","x":"\377"}')"
	run -0 split_responses "$SERVE_OUT"
	assert_output '400 400'
	local m req=
	for m in dup1 dup2 valid1; do req+="GET /messages/$(sha256_of_string "$m") HTTP/1.1\r\n$H\r\n"; done
	serve_printf "$req"
	run -0 split_responses "$SERVE_OUT"
	assert_output '404 404 404'
}

# ---------------------------------------------------------------- connections

@test "Connection tokens are case-insensitive (RFC 9110 7.6.1)" {
	serve_printf "GET /healthz HTTP/1.1\r\n${H}Connection: CLOSE\r\n\r\n$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output 200
	has_close "$SERVE_OUT.1" || fail "no Connection: close"
	serve_printf "GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output '200 200'
}

@test "pipelining: 50 POSTs and GETs of distinct messages in one write, answered in order" {
	local i req= exp=()
	for i in {1..25}; do
		req+="$(post_fmt "{\"message\":\"pipelined $i\"}")GET /messages/$(sha256_of_string "pipelined $i") HTTP/1.1\r\n$H\r\n"
	done
	serve_printf "$req"
	run -0 split_responses "$SERVE_OUT"
	assert_output "$(for i in {1..25}; do printf '201 200 '; done | sed 's/ $//')"
	for i in {1..25}; do
		assert_equal "$(cat "$SERVE_OUT.$((2 * i - 1)).b")" "{\"digest\":\"$(sha256_of_string "pipelined $i")\"}"
		assert_equal "$(cat "$SERVE_OUT.$((2 * i)).b")" "{\"message\":\"pipelined $i\"}"
	done
	assert_equal "$SERVE_RC" 0
}

@test "keep-alive: 404, 405, 406, 411 and JSON 400 all keep the connection open" {
	printf 'bin\377' | "$MSGHASH" hash >/dev/null
	local d406
	d406=$(printf 'bin\377' | sha256sum | cut -c1-64)
	serve_printf "GET /messages/$UNK HTTP/1.1\r\n$H\r\nDELETE /messages HTTP/1.1\r\n$H\r\nGET /messages/$d406 HTTP/1.1\r\n$H\r\nPOST /messages HTTP/1.1\r\n$H\r\n$(post_fmt '[]')$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output '404 405 406 411 400 200'
}

@test "--max-requests 3: three responses, then the connection ends" {
	serve_printf "$PROBE_REQ$PROBE_REQ$PROBE_REQ$PROBE_REQ$PROBE_REQ" --max-requests 3
	run -0 split_responses "$SERVE_OUT"
	assert_output '200 200 200'
	assert_equal "$SERVE_RC" 0
}

@test "EOF after pipelined requests: all answered, exit 0, nothing on stdout after them" {
	serve_printf "$PROBE_REQ$PROBE_REQ"
	run -0 split_responses "$SERVE_OUT"
	assert_output '200 200'
	assert_equal "$SERVE_RC" 0
	serve_printf ''
	assert_equal "$SERVE_RC" 0
	[[ ! -s $SERVE_OUT ]] || fail "output for an empty connection: $(cat -v "$SERVE_OUT")"
}

# ---------------------------------------------------------------- timeouts

@test "header timeout: an incomplete header section -> 408 and close (writer keeps the pipe open)" {
	serve_fifo 0 "GET /healthz HTTP/1.1\r\nHost: a\r\n" --header-timeout 0.3
	run -0 split_responses "$SERVE_OUT"
	assert_output 408
	has_close "$SERVE_OUT.1" || fail "408 without Connection: close"
	is_err_body "$SERVE_OUT.1" || fail "408 body: $(cat -v "$SERVE_OUT.1.b")"
	assert_equal "$SERVE_RC" 0
}

@test "header timeout is a deadline for the whole section, not per byte (slowloris)" {
	# one byte per 0.05 s for ~560 bytes would take ~28 s: serve must give up
	# after 0.3 s (timeout 20 in serve_raw is the hang detector)
	serve_fifo 0.05 "GET /healthz HTTP/1.1\r\nHost: a\r\nX: $(head -c 520 /dev/zero | tr '\0' a)\r\n\r\n" --header-timeout 0.3
	run -0 split_responses "$SERVE_OUT"
	assert_output 408
	has_close "$SERVE_OUT.1" || fail "408 without Connection: close"
	assert_equal "$SERVE_RC" 0
}

@test "header timeout on the second request of a connection: 200, then 408 and close" {
	serve_fifo 0 "${PROBE_REQ}GET /healthz HTTP/1.1\r\n" --header-timeout 0.3 --idle-timeout 5
	run -0 split_responses "$SERVE_OUT"
	assert_output '200 408'
	has_close "$SERVE_OUT.2" || fail "408 without Connection: close"
}

@test "body timeout: an incomplete body -> 408 and close, nothing stored" {
	serve_fifo 0 "POST /messages HTTP/1.1\r\n${H}Content-Length: 20\r\n\r\n{\"message\":\"abc\"}" --body-timeout 0.3
	run -0 split_responses "$SERVE_OUT"
	assert_output 408
	has_close "$SERVE_OUT.1" || fail "408 without Connection: close"
	assert_equal "$SERVE_RC" 0
	serve_printf "GET /messages/$(sha256_of_string abc) HTTP/1.1\r\n$H\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output 404
}

@test "body timeout with a chunked body: 408, nothing stored" {
	serve_fifo 0 "$(chunked_fmt '' "11\r\n{\"message\":\"abc\"}\r\n")" --body-timeout 0.3
	run -0 split_responses "$SERVE_OUT"
	assert_output 408
	serve_printf "GET /messages/$(sha256_of_string abc) HTTP/1.1\r\n$H\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output 404
}

@test "idle timeout: a kept-alive connection is closed silently (no bytes written)" {
	serve_fifo 0 "$PROBE_REQ" --idle-timeout 0.3
	run -0 split_responses "$SERVE_OUT"
	assert_output 200
	! has_close "$SERVE_OUT.1" || fail "the response itself announced a close"
	assert_equal "$SERVE_RC" 0
}

@test "write timeout counts from the answer: a GET that waited for a busy store lock still gets its 200" {
	run -0 "$MSGHASH" hash foo
	# another process holds the store's lock for 1.5 s (as a crowd of
	# openers does under load); serve waits for it, then has 0.5 s to write
	hold_store_lock 1.5
	serve_printf "GET /messages/$D HTTP/1.1\r\n$H\r\n" --write-timeout 0.5
	wait "$STORE_LOCK_HOLDER"
	run -0 split_responses "$SERVE_OUT"
	assert_output 200
	assert_equal "$(cat "$SERVE_OUT.1.b")" '{"message":"foo"}'
	assert_equal "$SERVE_RC" 0
}

@test "a POST cut off mid-body (EOF) stores nothing" {
	serve_printf "POST /messages HTTP/1.1\r\n${H}Content-Length: 20\r\n\r\n{\"message\":\"abc\"}"
	assert_equal "$SERVE_RC" 0
	serve_printf "$(chunked_fmt '' "11\r\n{\"message\":\"xyz\"}\r\n")"
	serve_printf "GET /messages/$(sha256_of_string abc) HTTP/1.1\r\n$H\r\nGET /messages/$(sha256_of_string xyz) HTTP/1.1\r\n$H\r\n"
	run -0 split_responses "$SERVE_OUT"
	assert_output '404 404'
}

@test "serve typed at a terminal: a usage error saying what serve expects, not a silent wait" {
	# a pseudo-terminal on stdin, stdout and stderr, as at a shell prompt
	run -0 timeout 20 python3 -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "serve"])
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
status = os.waitpid(pid, 0)[1]
sys.stdout.write(out.decode().replace("\r", ""))
print("status=%d" % os.waitstatus_to_exitcode(status))' "$MSGHASH"
	assert_line --index 0 --regexp '^msghash serve: standard input is a terminal: .*inetd or systemd.*man msghash'
	assert_line --index 1 "Try 'msghash serve --help' for more information."
	assert_line "status=2"
}

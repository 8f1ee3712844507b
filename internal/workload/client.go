package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// WriteOutcomeHeader is mysite's header on a 5xx answer to a write:
// "not-applied" when the write certainly did not happen, "unknown" when it
// may have. (The same name as mysite.WriteOutcomeHeader; it is repeated here
// because the wire protocol, not the app's Go package, is the contract.)
const WriteOutcomeHeader = "Mysite-Write-Outcome"

// ServerHeader is mysite's header naming the server that answered; every op
// with an answer records it in history.Op.Server.
const ServerHeader = "Mysite-Server"

// CacheHeader is mysite's header saying how its cache answered a read's
// lookup (hit, miss, error); recorded in history.Op.Cache.
const CacheHeader = "Mysite-Cache"

// ShardHeader is mysite's header naming the database shard a request of a
// key was routed to (stage 11), on errors too; recorded in history.Op.Shard.
const ShardHeader = "Mysite-Shard"

// SessionCookie is mysite's session cookie.
const SessionCookie = "session"

// Read-your-writes tokens (stage 4, mysite -reads read-your-writes): a write's
// answer carries LSNHeader, the primary's WAL position after its commit; the
// client sends the highest it got as MinLSNHeader on its reads, so that mysite
// serves them from a replica that has replayed that far. ReadFromHeader:
// primary asks for a read from the primary (the final read-back).
const (
	LSNHeader      = "Mysite-LSN"
	MinLSNHeader   = "Mysite-Min-LSN"
	ReadFromHeader = "Mysite-Read-From"
)

// Wire shapes of a mysite user.
type userBody struct {
	ID           string        `json:"id"`
	FirstName    string        `json:"firstName"`
	LastName     string        `json:"lastName"`
	Address      *address      `json:"address"`
	PhoneNumbers []phoneNumber `json:"phoneNumbers"`
	WriteID      string        `json:"writeId"`
}

type address struct {
	StreetAddress string `json:"streetAddress"`
	City          string `json:"city"`
	State         string `json:"state"`
	PostalCode    string `json:"postalCode"`
}

type phoneNumber struct {
	Type   string `json:"type"`
	Number string `json:"number"`
}

// storedUser is the part of an answer the history needs. Pointers tell a
// missing field from an empty one: a 200 without id or writeId is not a
// mysite user, and must not be recorded as a read of "".
type storedUser struct {
	ID      *string `json:"id"`
	WriteID *string `json:"writeId"`
	Version int64   `json:"version"`
}

// maxResponseBytes bounds how much of an answer is read. mysite's answers are
// well under 1 KiB; anything near this is not mysite.
const maxResponseBytes = 1 << 20

// newTransport is tuned for many concurrent requests to one host.
//
//   - MaxConnsPerHost is 0 (unlimited): a limit would queue requests inside
//     the transport, delaying sends behind slow ones; that is exactly the
//     coordinated omission the open model exists to avoid. The engine's
//     in-flight cap is the only bound, and it is reported when hit.
//   - MaxIdleConnsPerHost keeps enough warm connections that steady traffic
//     does not pay a dial per request (the default of 2 would).
//   - IdleConnTimeout (30s) is below mysite's server idle timeout (60s): the
//     client drops an idle connection before the server can, so a request
//     never races the server closing it under its feet, which would turn a
//     healthy write into a spurious Unknown.
//   - Proxy is nil: lab traffic goes straight to the URL it is given (fault
//     proxies are addressed explicitly); an HTTP_PROXY in the environment
//     must not reroute it.
//   - HTTP/1.1 only: mysite serves plain HTTP/1.1, and the outcome rules
//     below reason about one request per connection at a time.
func newTransport(idlePerHost int, dialTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          idlePerHost,
		MaxIdleConnsPerHost:   idlePerHost,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// newHTTPClient builds the one client of a run. Redirects are not followed:
// mysite never redirects, so a 3xx is an answer to record, not to chase.
// There is no Client.Timeout: each request carries its own context deadline
// (requester.timeout), which also covers reading the body.
func newHTTPClient(idlePerHost int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: newTransport(idlePerHost, timeout),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// newResolvingClient is newHTTPClient for one client that reaches the site
// by name through its own resolver (Config.Resolve): a transport of its own,
// so that its connections go where its DNS answers sent it, not where
// another client's did. Every request is a new visit on a new connection,
// which resolves the name (from the cache while its TTL lasts): so what
// DNS answers decides where each request goes, rather than a connection
// kept open from before (a site's clients are many short visits).
func newResolvingClient(timeout time.Duration, r *Resolver) *http.Client {
	hc := newHTTPClient(1, timeout)
	tr := hc.Transport.(*http.Transport)
	tr.DialContext = r.DialContext
	tr.DisableKeepAlives = true
	return hc
}

// requester performs single operations against one mysite.
type requester struct {
	client  *http.Client
	base    string // scheme://host[:port][/prefix], no trailing slash
	timeout time.Duration
	header  http.Header // added to every request (e.g. ReadFromHeader)
}

func newRequester(client *http.Client, baseURL string, timeout time.Duration) (*requester, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	return &requester{client: client, base: base, timeout: timeout}, nil
}

func parseBaseURL(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("target URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("target URL %q: want http://host[:port]", baseURL)
	}
	return strings.TrimRight(baseURL, "/"), nil
}

func (q *requester) userURL(key string) string { return q.base + "/users/" + url.PathEscape(key) }

// result is what one exchange taught the client.
type result struct {
	outcome history.Outcome
	status  int    // HTTP status, 0 when no answer came
	err     string // short reason; "" exactly when outcome is OK
	value   string // writeId read (reads), session id (logins and session checks)
	version int64  // version the server reported, 0 when unknown
	server  string // the Mysite-Server header of the answer
	cache   string // reads: the Mysite-Cache header of the answer
	shard   string // the Mysite-Shard header of the answer
	source  string // asset loads: who answered last (history.SourceEdge or SourceOrigin)
	lsn     int64  // the LSNHeader of the answer, 0 when none
	// cookies are the answer's Set-Cookie values other than the session's
	// (e.g. a load balancer's stickiness cookie).
	cookies []*http.Cookie
}

// exec performs one read (GET) or write (PUT of user) of key and classifies
// the outcome. onSend, when not nil, is called just before the request is
// handed to the transport (the engine measures schedule lag there).
func (q *requester) exec(parent context.Context, kind history.Kind, key string, user *userBody, onSend func()) result {
	return q.execAs(parent, kind, key, user, "", onSend)
}

// execAs is exec for a logged-in client: session, when not "", is sent as
// the session cookie. Besides reads and writes it performs the session
// kinds: history.Login (POST /login as user key) and history.SessionCheck
// (GET /me), classified by classifySession.
func (q *requester) execAs(parent context.Context, kind history.Kind, key string, user *userBody, session string, onSend func()) result {
	return q.do(parent, kind, key, user, session, nil, 0, onSend)
}

// execWith is execAs also sending the client's other cookies (e.g. a load
// balancer's stickiness cookie); the answer's Set-Cookie values come back in
// result.cookies.
func (q *requester) execWith(parent context.Context, kind history.Kind, key string, user *userBody, session string, cookies []*http.Cookie, onSend func()) result {
	return q.do(parent, kind, key, user, session, cookies, 0, onSend)
}

// execMin is exec carrying a read-your-writes token: minLSN, when > 0, is
// sent as MinLSNHeader.
func (q *requester) execMin(parent context.Context, kind history.Kind, key string, user *userBody, minLSN int64, onSend func()) result {
	return q.do(parent, kind, key, user, "", nil, minLSN, onSend)
}

func (q *requester) do(parent context.Context, kind history.Kind, key string, user *userBody, session string, cookies []*http.Cookie, minLSN int64, onSend func()) result {
	ctx, cancel := context.WithTimeout(parent, q.timeout)
	defer cancel()

	// mayHaveSent turns true once the transport hands the request a
	// connection. GotConn is called synchronously in the goroutine running
	// Do, before any byte of the request is written, so when Do returns an
	// error without it having fired, the server cannot have seen the
	// request. The converse is conservative: a connection obtained does not
	// prove a byte left.
	var mayHaveSent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { mayHaveSent.Store(true) },
	})

	method, target, body := http.MethodGet, q.userURL(key), io.Reader(nil)
	var payload any
	switch kind {
	case history.Write:
		method, payload = http.MethodPut, user
	case history.Login:
		method, target, payload = http.MethodPost, q.base+"/login", map[string]string{"user": key}
	case history.SessionCheck:
		target = q.base + "/me"
	}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return result{outcome: history.Failed, err: "encoding body: " + err.Error()}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return result{outcome: history.Failed, err: "building request: " + err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: session})
	}
	for _, c := range cookies {
		if c.Name != SessionCookie {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	if minLSN > 0 {
		req.Header.Set(MinLSNHeader, strconv.FormatInt(minLSN, 10))
	}
	for k, v := range q.header {
		req.Header[k] = v
	}

	if onSend != nil {
		onSend()
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return classifyTransportError(kind, err, ctx, mayHaveSent.Load())
	}
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	if readErr != nil {
		readErr = errors.New(describeError(readErr, ctx))
	}
	var r result
	if kind == history.Login || kind == history.SessionCheck {
		r = classifySession(kind, key, session, resp.StatusCode, data, readErr)
	} else {
		r = classifyResponse(kind, key, resp.StatusCode, resp.Header.Get(WriteOutcomeHeader), data, readErr)
	}
	r.server = resp.Header.Get(ServerHeader)
	r.cache = resp.Header.Get(CacheHeader)
	r.shard = resp.Header.Get(ShardHeader)
	for _, c := range resp.Cookies() {
		if c.Name != SessionCookie {
			r.cookies = append(r.cookies, c)
		}
	}
	if v, err := strconv.ParseInt(resp.Header.Get(LSNHeader), 10, 64); err == nil && v > 0 && r.outcome == history.OK {
		r.lsn = v
	}
	return r
}

// classifyTransportError classifies an exchange that got no HTTP answer.
//
//   - Nothing can have reached the server (no connection was handed the
//     request, or the final error is from dialing: refused, DNS, dial
//     timeout) -> Failed, reads and writes alike. WHY: a write the server
//     never saw certainly did not happen. A dial error is final even after
//     a transport retry, because Go only retries a PUT when the previous
//     attempt wrote nothing.
//   - The request may have been sent (timeout, reset, EOF afterwards):
//     writes -> Unknown, WHY: the server may have applied it and lost only
//     the answer; calling it Failed would let a checker blame the system for
//     a value "nobody wrote". Reads -> Failed, WHY: a read has no effect, so
//     all that matters for availability is that it did not succeed, and it
//     returned no value for the consistency checkers to judge.
func classifyTransportError(kind history.Kind, err error, ctx context.Context, mayHaveSent bool) result {
	desc := describeError(err, ctx)
	if !mayHaveSent || isDialError(err) {
		if !strings.Contains(desc, "refused") && !strings.HasPrefix(desc, "dns") {
			desc += " (not sent)"
		}
		return result{outcome: history.Failed, err: desc}
	}
	if kind == history.Write {
		return result{outcome: history.Unknown, err: desc}
	}
	return result{outcome: history.Failed, err: desc}
}

// classifyResponse classifies an exchange that got an HTTP status.
//
//   - 2xx -> OK. WHY: mysite answers 2xx only after the store succeeded, so
//     the status line alone acknowledges a write (its version is kept when
//     the body could be read). A read needs its body too: a 200 whose user
//     cannot be decoded (truncated, not mysite's shape, another id) names no
//     value, so it is Failed rather than recorded as a read of "".
//   - 404 on a read -> OK with Value "". WHY: the key does not exist yet;
//     that is a valid observation of "nothing", which the stale-read checker
//     treats as the key's initial absence.
//   - other 4xx (and 1xx/3xx) -> Failed. WHY: the server rejected the request
//     before storing anything.
//   - 5xx on a read -> Failed (no value, no effect).
//   - 5xx on a write -> Failed when Mysite-Write-Outcome is "not-applied"
//     (the app knows the statement never reached the database), else
//     Unknown: "unknown", or no header at all (a proxy's 502, a crash
//     page), means the write may have been applied.
func classifyResponse(kind history.Kind, key string, status int, writeOutcome string, body []byte, readErr error) result {
	r := result{status: status}
	switch {
	case status >= 200 && status <= 299:
		u, decodeErr := decodeUser(key, body, readErr)
		if kind == history.Write {
			r.outcome = history.OK
			if decodeErr == nil {
				r.version = u.Version
			}
			return r
		}
		if decodeErr != nil {
			r.outcome, r.err = history.Failed, fmt.Sprintf("%d with unusable body: %v", status, decodeErr)
			return r
		}
		r.outcome, r.value, r.version = history.OK, *u.WriteID, u.Version
		return r
	case status == http.StatusNotFound && kind == history.Read:
		r.outcome = history.OK
		return r
	case status >= 500 && kind == history.Write:
		r.err = statusError(status, body)
		if strings.EqualFold(strings.TrimSpace(writeOutcome), "not-applied") {
			r.outcome = history.Failed
		} else {
			r.outcome = history.Unknown
			if writeOutcome == "" {
				r.err += " (no " + WriteOutcomeHeader + " header)"
			}
		}
		return r
	default:
		r.outcome, r.err = history.Failed, statusError(status, body)
		return r
	}
}

func decodeUser(key string, body []byte, readErr error) (storedUser, error) {
	var u storedUser
	if readErr != nil {
		return u, fmt.Errorf("reading body: %v", readErr)
	}
	if err := json.Unmarshal(body, &u); err != nil {
		return u, fmt.Errorf("decoding body: %v", err)
	}
	switch {
	case u.ID == nil || u.WriteID == nil:
		return u, errors.New("body lacks id or writeId")
	case *u.ID != key:
		return u, fmt.Errorf("body is user %q, asked for %q", *u.ID, key)
	}
	return u, nil
}

// statusError is "503: database unavailable: ...", from mysite's
// {"error": ...} body when there is one.
func statusError(status int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	msg := http.StatusText(status)
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return shorten(fmt.Sprintf("%d: %s", status, msg))
}

// errAbandoned is the cancel cause of requests still running at the drain
// deadline.
var errAbandoned = errors.New("abandoned at the drain deadline")

// describeError is a short, stable name for a transport error, so that
// histories can be grouped by Error.
func describeError(err error, ctx context.Context) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(context.Cause(ctx), errAbandoned):
		return errAbandoned.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return shorten("dns: " + dnsErr.Err)
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed (EOF)"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is in the op already
	}
	return shorten(err.Error())
}

func isDialError(err error) bool {
	var op *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dnsErr)
}

func shorten(s string) string {
	const max = 160
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

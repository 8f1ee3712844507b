package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/scalelab/scalelab/internal/history"
)

// Sessions (Config.Sessions): every client is a logged-in user.
//
// A client with no session turns its next scheduled op, whatever it was,
// into a login (history.Login, Key = SessionUser(client), Value = the session
// id when OK). The slot's read, write or session check is not sent: one slot
// is one request, so the offered load stays what the schedule says. While
// the login is in flight, the client's next ops wait for it (within their
// own Timeout) and then carry its session; if it failed they are recorded
// Failed, "not logged in", without being sent, and the next op tries to log
// in again.
//
// Every request of a logged-in client carries its session cookie: reads,
// writes and session checks (GET /me, history.SessionCheck, Value = the
// session id sent). An answer 401 means the user was logged out: the
// client forgets that session and its next op logs in again.
//
// The history contract the session checker relies on: logins of a client
// never overlap, and an op that carried a session carried the one of the
// client's latest login invoked before it (ops are launched in Invoke
// order, and a login is launched only when no session and no login is
// pending).

// SessionUser is the user id client logs in as: "c3".
func SessionUser(client int) string { return "c" + strconv.Itoa(client) }

// clientSessions is the login state of every client.
type clientSessions struct {
	mu      sync.Mutex
	clients []clientSession
}

type clientSession struct {
	id      string        // the session in use; "" when none
	pending *pendingLogin // the login in flight, if any
	// cookies are the other cookies the client was given (a load
	// balancer's stickiness cookie), by name: sent with every request of
	// the client, like a browser does.
	cookies map[string]*http.Cookie
}

// pendingLogin is a login in flight; done is closed once id is set ("" when
// the login failed).
type pendingLogin struct {
	done chan struct{}
	id   string
}

// sessionPlan is how one op goes out: as the client's login, after the
// pending login, or with the session in use.
type sessionPlan struct {
	login *pendingLogin // this op is the login; finish it with loggedIn
	wait  *pendingLogin // wait for this login, then carry its session
	id    string        // the session to carry
}

func newClientSessions(clients int) *clientSessions {
	return &clientSessions{clients: make([]clientSession, clients)}
}

// plan decides the op's plan at launch. It must be called in launch order
// (it starts logins).
func (s *clientSessions) plan(client int) sessionPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.clients[client]
	switch {
	case c.pending != nil:
		return sessionPlan{wait: c.pending}
	case c.id == "":
		c.pending = &pendingLogin{done: make(chan struct{})}
		return sessionPlan{login: c.pending}
	}
	return sessionPlan{id: c.id}
}

// loggedIn ends the client's pending login p with session id ("" when it
// failed).
func (s *clientSessions) loggedIn(client int, p *pendingLogin, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.clients[client]
	p.id = id
	if c.pending == p {
		c.pending, c.id = nil, id
	}
	close(p.done)
}

// loggedOut forgets session id when it is still the client's: a 401 on a
// request that carried it. The client's next op logs in.
func (s *clientSessions) loggedOut(client int, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := &s.clients[client]; c.id == id {
		c.id = ""
	}
}

// jar is the client's other cookies, to send with its next request.
func (s *clientSessions) jar(client int) []*http.Cookie {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.clients[client]
	out := make([]*http.Cookie, 0, len(c.cookies))
	for _, k := range c.cookies {
		out = append(out, k)
	}
	return out
}

// keep stores the cookies an answer set for the client (a Max-Age < 0
// deletes one). session is the session the request carried ("" for a
// login): the answer to a request that carried an older session than the
// client's current one is stale (it was sent before the client logged in
// again, and may have been routed elsewhere), and its cookies are ignored,
// so that a late answer cannot undo the routing the latest login set up.
func (s *clientSessions) keep(client int, session string, cookies []*http.Cookie) {
	if len(cookies) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.clients[client]
	if session != "" && c.id != session {
		return
	}
	if c.cookies == nil {
		c.cookies = make(map[string]*http.Cookie)
	}
	for _, k := range cookies {
		if k.MaxAge < 0 {
			delete(c.cookies, k.Name)
			continue
		}
		c.cookies[k.Name] = k
	}
}

// Errors of ops that were not sent for want of a session.
const (
	errLoginFailed = "not logged in: the client's login failed (not sent)"
	errLoginWait   = "timeout waiting for the client's login (not sent)"
)

// execSession runs op d for a logged-in client according to plan.
func (e *engine) execSession(ctx context.Context, d Decision, plan sessionPlan, onSend func()) result {
	if plan.login != nil {
		res := e.reqFor(d.Client).execWith(ctx, history.Login, SessionUser(d.Client), nil, "", e.sess.jar(d.Client), onSend)
		e.sess.keep(d.Client, "", res.cookies)
		id := ""
		if res.outcome == history.OK {
			id = res.value
		}
		e.sess.loggedIn(d.Client, plan.login, id)
		return res
	}
	id := plan.id
	if plan.wait != nil {
		// The wait counts against the op's own Timeout: the op answers
		// within Timeout of its launch like any other.
		wctx, cancel := context.WithTimeout(ctx, e.req.timeout)
		defer cancel()
		select {
		case <-plan.wait.done:
		case <-wctx.Done():
			return result{outcome: history.Failed, err: errLoginWait}
		}
		if plan.wait.id == "" {
			return result{outcome: history.Failed, err: errLoginFailed}
		}
		id, ctx = plan.wait.id, wctx
	}
	res := e.reqFor(d.Client).execWith(ctx, d.Kind, d.Key, d.user, id, e.sess.jar(d.Client), onSend)
	e.sess.keep(d.Client, id, res.cookies)
	if res.status == http.StatusUnauthorized {
		e.sess.loggedOut(d.Client, id)
	}
	if d.Kind == history.SessionCheck {
		res.value = id
	}
	return res
}

// loginBody and meBody are the parts of mysite's answers the history needs.
// Pointers tell a missing field from an empty one.
type loginBody struct {
	User    *string `json:"user"`
	Session *string `json:"session"`
}

type meBody struct {
	User *string `json:"user"`
}

// classifySession classifies the answer to a login (POST /login as user) or
// a session check (GET /me carrying session).
//
//   - login 2xx with the user and a session id -> OK, value = the session.
//     Any other answer -> Failed: the client has no session it could use (a
//     session the server may have made without telling the client is
//     harmless and invisible to the checkers).
//   - session check 2xx naming the user -> OK. WHY the user is checked: a
//     200 for someone else's session would be a session mix-up, not a valid
//     session.
//   - session check 401 -> Failed, status 401. The server answered, but
//     for a user who was logged in a moment before, being logged out is a
//     failure: it counts against availability, and the session checker
//     (which reads Status, whatever the outcome) counts the lost session.
//   - session check 5xx, other statuses, no answer -> Failed, as for reads.
func classifySession(kind history.Kind, user, session string, status int, body []byte, readErr error) result {
	r := result{status: status}
	if kind == history.SessionCheck {
		r.value = session // the session it sent, whatever the answer
	}
	ok2xx := status >= 200 && status <= 299
	switch {
	case kind == history.Login && ok2xx:
		var b loginBody
		err := decodeJSON(body, readErr, &b)
		switch {
		case err != nil:
		case b.User == nil || b.Session == nil || *b.Session == "":
			err = fmt.Errorf("body lacks user or session")
		case *b.User != user:
			err = fmt.Errorf("logged in as %q, asked for %q", *b.User, user)
		}
		if err != nil {
			r.outcome, r.err = history.Failed, fmt.Sprintf("%d with unusable body: %v", status, err)
			return r
		}
		r.outcome, r.value = history.OK, *b.Session
	case kind == history.SessionCheck && ok2xx:
		var b meBody
		err := decodeJSON(body, readErr, &b)
		switch {
		case err != nil:
		case b.User == nil:
			err = fmt.Errorf("body lacks user")
		case *b.User != user:
			err = fmt.Errorf("session of user %q, logged in as %q", *b.User, user)
		}
		if err != nil {
			r.outcome, r.err = history.Failed, fmt.Sprintf("%d with unusable body: %v", status, err)
			return r
		}
		r.outcome = history.OK
	case kind == history.SessionCheck && status == http.StatusUnauthorized:
		r.outcome, r.err = history.Failed, "401: logged out (the session is no longer valid)"
	default:
		r.outcome, r.err = history.Failed, statusError(status, body)
	}
	return r
}

func decodeJSON(body []byte, readErr error, v any) error {
	if readErr != nil {
		return fmt.Errorf("reading body: %v", readErr)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding body: %v", err)
	}
	return nil
}

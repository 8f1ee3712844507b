package mysite

import (
	"context"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// closeWait bounds each of the two waits of closing a broken database
// connection (below). A live server ends both in milliseconds (a connection
// costs PostgreSQL a fork: about 20 ms on the lab's loaded machines); one
// that is cut short ends with a reset instead of a clean close, which is
// harmless.
const closeWait = 500 * time.Millisecond

// boundClose makes a broken connection give its pool slot back within
// 2 x closeWait, also when the server behind it never answers again.
//
// pgx closes a connection broken mid-call (a timeout, a reset) in the
// background: it sends the server a cancel request on a new connection and
// reads until the server closes it, then drains the old connection until
// the server's end, each for up to 15 s (pgconn's asyncClose); the pool
// frees the slot only once that is done (pgxpool's destructor waits for
// CleanupDone). A dead host behind a proxy (a Toxiproxy link to a killed
// node, a load balancer in front of a dead server) accepts those and never
// answers: every connection that broke holds its slot 15 s. Stage 8's
// primary-dc-outage saw it: a west web server whose 16 connections to the
// dead east-db broke at once could make no new one to the promoted west-db
// until the heal, and failed every request for 10 s. (Measured in
// TestPGBrokenConnectionsGiveBackTheirPoolSlots: without this, 8 of 8 slots
// held for 15 s.)
//
// pgx has no setting for those waits; both run on connections it dials or
// owns, so the bound is set there: every dialed connection starts with a
// deadline closeWait away, which AfterNetConnect (called for the
// connections pgx is going to use, not for a cancel request's) clears; and a
// connection in use takes no deadline farther away than closeWait (pgx sets
// one only in that close; a cancelled call's deadline is "now"). A TLS
// handshake would run before AfterNetConnect, under the dial's deadline:
// the lab's DSNs say sslmode=disable.
func boundClose(cc *pgconn.Config) {
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(closeWait))
		return c, nil
	}
	after := cc.AfterNetConnect
	cc.AfterNetConnect = func(ctx context.Context, config *pgconn.Config, c net.Conn) (net.Conn, error) {
		c.SetDeadline(time.Time{})
		if after != nil {
			var err error
			if c, err = after(ctx, config, c); err != nil {
				return nil, err
			}
		}
		return closeBoundedConn{c}, nil
	}
}

// closeBoundedConn is a connection whose deadlines are at most closeWait
// away (none stays none).
type closeBoundedConn struct{ net.Conn }

func (c closeBoundedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(nearer(t)) }
func (c closeBoundedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(nearer(t))
}
func (c closeBoundedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(nearer(t))
}

func nearer(t time.Time) time.Time {
	if limit := time.Now().Add(closeWait); !t.IsZero() && t.After(limit) {
		return limit
	}
	return t
}

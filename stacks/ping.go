package stacks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// PingLink sends one request in the target server's own protocol through a
// link's published proxy port and returns the round-trip time of the answer.
// It measures what a node using the link would see: toxics, a disabled proxy,
// a dead or frozen server behind it. The connection is made fresh each time,
// so a proxy that refuses new connections shows.
func (s *Stack) PingLink(ctx context.Context, link string, timeout time.Duration) (time.Duration, error) {
	l, err := ParseLink(link)
	if err != nil {
		return 0, err
	}
	to, ok := s.Topology.Node(l.To)
	if !ok || len(to.Role.Ping.Send) == 0 {
		return 0, fmt.Errorf("link %s: node %q has no ping", link, l.To)
	}
	addr, err := s.Addr(ctx, link)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("ping %s: %w", link, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	start := time.Now()
	if _, err := conn.Write(to.Role.Ping.Send); err != nil {
		return 0, fmt.Errorf("ping %s: send: %w", link, err)
	}
	buf := make([]byte, to.Role.Ping.Want)
	if _, err := io.ReadFull(conn, buf); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, fmt.Errorf("ping %s: no answer within %s: %w", link, timeout, ErrPingTimeout)
		}
		return 0, fmt.Errorf("ping %s: %w", link, err)
	}
	return time.Since(start), nil
}

// ErrPingTimeout marks a ping that got no answer in time (a hang, as opposed
// to a refused or reset connection).
var ErrPingTimeout = errors.New("ping timed out")

package main

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// A client of the blackhole is connected, may send, and never hears back:
// no answer and no close, until its own deadline.
func TestSwallowsAndNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { serve(ln); close(done) }()
	defer func() { _ = ln.Close(); <-done }()

	c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: web\r\n\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Read(make([]byte, 16))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: got %d bytes, err %v; want no answer until the deadline", n, err)
	}
}

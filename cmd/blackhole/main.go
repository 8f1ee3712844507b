// Command blackhole is where a link dials while its upstream node is gone
// (stacks.NoUpstream): it accepts every connection, reads and discards what
// the client sends, and never answers or closes, as a host that has
// vanished never does. The client waits until its own timeout gives up.
//
// It runs beside toxiproxy-server in the proxy's container, on its
// loopback only. It exists because Toxiproxy dials a link's upstream in its
// accept loop, one client at a time: an address nobody holds would stall
// that loop for seconds per client, and keep the link from being pointed
// back at the node when it returns.
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9", "address to swallow connections on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("blackhole: %v", err)
	}
	serve(ln)
}

// serve swallows every connection ln accepts, until ln is closed.
func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			log.Printf("blackhole: accept: %v", err)
			continue
		}
		go func() {
			// Until the client hangs up (or the proxy closes the link).
			_, _ = io.Copy(io.Discard, c)
			_ = c.Close()
		}()
	}
}

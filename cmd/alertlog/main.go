// Command alertlog is the lab's webhook receiver for Alertmanager (stage
// 10, internal/alertlog): it records the alerts it is sent and serves their
// states on /metrics.
package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/scalelab/scalelab/internal/alertlog"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	srv := &http.Server{Addr: *listen, Handler: alertlog.New(log).Handler(), ReadHeaderTimeout: 5 * time.Second}
	log.Info("alertlog: serving", "listen", *listen)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("alertlog", "err", err)
		os.Exit(1)
	}
}

package stacks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Samplers: what the running stack itself reports, read through its entry
// URL and sampled by the engine every 250 ms while the workload runs (a
// stage names one as its Counters). Each returns named numbers.

// HAProxyResponses reads the responses each web server sent, from HAProxy's
// statistics (served on the load balancer's own port).
func HAProxyResponses(ctx context.Context, entry string) (map[string]float64, error) {
	stats, err := HAProxyStats(ctx, samplerClient, entry)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(stats))
	for _, s := range stats {
		out[s.Name] = float64(s.Responses)
	}
	return out, nil
}

// samplerClient reads the samplers' counters over HTTP (each call carries
// the engine's per-sample deadline); no proxy from the environment.
var samplerClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}}

// mysiteReplication is the part of mysite's GET /replication the lab reads.
type mysiteReplication struct {
	Nodes []struct {
		Name  string `json:"name"`
		Role  string `json:"role"`
		Reads int64  `json:"reads"`
	} `json:"nodes"`
	PrimaryReads int64 `json:"primary_reads"`
	Writable     int   `json:"writable"`
	Standbys     []struct {
		Name        string  `json:"name"`
		State       string  `json:"state"`
		LagBytes    float64 `json:"lag_bytes"`
		WriteLagMS  float64 `json:"write_lag_ms"`
		FlushLagMS  float64 `json:"flush_lag_ms"`
		ReplayLagMS float64 `json:"replay_lag_ms"`
	} `json:"standbys"`
	StandbysError string `json:"standbys_error"`
}

// Counter names sampled from mysite's /replication (MysiteReplication).
// Lags and "writable" are gauges; reads are counters.
const (
	CounterWritable     = "writable"       // nodes accepting writes (2: split brain)
	CounterPrimaryReads = "reads:primary"  // reads served by the primary
	CounterReads        = "reads:"         // + node: reads served by that node as a replica
	CounterPrimary      = "primary:"       // + node: 1 while mysite sees it as the primary
	CounterLagBytes     = "lag_bytes:"     // + standby: WAL not yet replayed there, from the primary's view
	CounterReplayLag    = "replay_lag_ms:" // + standby: pg_stat_replication.replay_lag
	CounterFlushLag     = "flush_lag_ms:"
	CounterWriteLag     = "write_lag_ms:"
)

// MysiteReplication reads mysite's view of the cluster: node roles, reads
// per node, and the primary's pg_stat_replication (lag as Postgres measures
// it). While the primary is down the standbys part is missing.
func MysiteReplication(ctx context.Context, entry string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(entry, "/")+"/replication", nil)
	if err != nil {
		return nil, err
	}
	resp, err := samplerClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /replication: %d %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	var st mysiteReplication
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("GET /replication: %w", err)
	}
	out := map[string]float64{CounterWritable: float64(st.Writable), CounterPrimaryReads: float64(st.PrimaryReads)}
	for _, n := range st.Nodes {
		out[CounterReads+n.Name] = float64(n.Reads)
		if n.Role == "primary" {
			out[CounterPrimary+n.Name] = 1
		} else {
			out[CounterPrimary+n.Name] = 0
		}
	}
	for _, s := range st.Standbys {
		if s.State != "streaming" {
			// Starting or catching up (after a restart, or when it
			// follows a new primary), a standby reports the start of a
			// WAL segment: its "lag" is then the rest of the segment.
			continue
		}
		out[CounterLagBytes+s.Name] = s.LagBytes
		out[CounterReplayLag+s.Name] = s.ReplayLagMS
		out[CounterFlushLag+s.Name] = s.FlushLagMS
		out[CounterWriteLag+s.Name] = s.WriteLagMS
	}
	return out, nil
}

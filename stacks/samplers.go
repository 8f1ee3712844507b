package stacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
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
	var st mysiteReplication
	if err := getMysiteJSON(ctx, entry, "/replication", &st); err != nil {
		return nil, err
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

// Counter names sampled from mysite's /cache (MysiteCache): the cache
// Redis's and the database's own counters, the same whichever web server
// answers. Each starts again from 0 when its server restarts (a killed
// cache comes back empty, its statistics too).
const (
	CounterCacheHits      = "cache:hits"      // Redis's keyspace_hits: key reads that found the key
	CounterCacheMisses    = "cache:misses"    // Redis's keyspace_misses: key reads that did not
	CounterCacheEvicted   = "cache:evicted"   // Redis's evicted_keys: keys dropped at maxmemory
	CounterDBTransactions = "db:transactions" // pg_stat_database's xact_commit + xact_rollback
)

// Counter names sampled from mysite's /static-stats (MysiteAssets): the
// answering origin server's own numbers, from 0 and version 1 again when it
// restarts.
const (
	CounterOriginServed = "origin:served"        // asset requests the origin answered 200: what reached it past the edge
	CounterAssetVersion = "origin:asset_version" // the assets' current version (a gauge; POST /static/publish raises it)
)

// mysiteStaticStats is mysite's GET /static-stats.
type mysiteStaticStats struct {
	Version *float64 `json:"version"`
	Served  *float64 `json:"served"`
}

// MysiteAssets reads the origin's count of asset requests and the assets'
// version from mysite's GET /static-stats. entry may be the origin or the
// edge in front of it: the answer is Cache-Control: no-store, so the edge
// never serves it from its cache (but fails the sample while it is down).
func MysiteAssets(ctx context.Context, entry string) (map[string]float64, error) {
	var st mysiteStaticStats
	if err := getMysiteJSON(ctx, entry, "/static-stats", &st); err != nil {
		return nil, err
	}
	if st.Version == nil || st.Served == nil {
		return nil, fmt.Errorf("GET /static-stats: no version or served in the answer")
	}
	return map[string]float64{CounterOriginServed: *st.Served, CounterAssetVersion: *st.Version}, nil
}

// mysiteCacheStats is the part of mysite's GET /cache the lab reads: its
// "stats", where a number the server could not read is absent.
type mysiteCacheStats struct {
	Stats struct {
		RedisKeyspaceHits   *float64 `json:"redis_keyspace_hits"`
		RedisKeyspaceMisses *float64 `json:"redis_keyspace_misses"`
		RedisEvictedKeys    *float64 `json:"redis_evicted_keys"`
		DBTransactions      *float64 `json:"db_transactions"`
	} `json:"stats"`
}

// MysiteCache reads the cache tier's counters from mysite's GET /cache:
// Redis's own statistics and the database's count of transactions (only
// those the answering server could read: none of Redis's while the cache
// is down or slower than mysite's cache timeout). They are the tier's, not
// the answering server's, so samples through the load balancer make one
// series.
func MysiteCache(ctx context.Context, entry string) (map[string]float64, error) {
	var st mysiteCacheStats
	if err := getMysiteJSON(ctx, entry, "/cache", &st); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, v := range map[string]*float64{
		CounterCacheHits:      st.Stats.RedisKeyspaceHits,
		CounterCacheMisses:    st.Stats.RedisKeyspaceMisses,
		CounterCacheEvicted:   st.Stats.RedisEvictedKeys,
		CounterDBTransactions: st.Stats.DBTransactions,
	} {
		if v != nil {
			out[name] = *v
		}
	}
	return out, nil
}

// getMysiteJSON decodes the JSON mysite answers to GET path at entry into v;
// any answer but 200 is an error.
func getMysiteJSON(ctx context.Context, entry, path string, v any) error {
	data, err := samplerGet(ctx, entry, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// samplerGet GETs entry+path with header and returns the body of a 200
// answer; any other answer is an error that quotes it.
func samplerGet(ctx context.Context, entry, path string, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(entry, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := samplerClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// The job queue's gauges (stage 9), as the broker counts them through
// mysite's GET /queue.
const (
	GaugeQueueMessages  = "queue:messages"  // jobs waiting, not yet delivered to a worker
	GaugeQueueConsumers = "queue:consumers" // workers consuming
)

// MysiteQueue reads the job queue's depth and consumers from mysite's GET
// /queue (stage 9).
func MysiteQueue(ctx context.Context, entry string) (map[string]float64, error) {
	var st struct{ Messages, Consumers int }
	if err := getMysiteJSON(ctx, entry, "/queue", &st); err != nil {
		return nil, err
	}
	return map[string]float64{GaugeQueueMessages: float64(st.Messages), GaugeQueueConsumers: float64(st.Consumers)}, nil
}

// GatewayMetrics reads a service's own counters behind the API gateway
// (stage 12): GET path (a route to the service's /metrics) with the API
// key, in Prometheus's text format (parseMetrics: each line becomes
// prefix+name, labels included). It is a stage's Counters: payments' own
// count of the requests it was asked is what a retry storm multiplies,
// orders' breaker states are what the report's timeline shows.
func GatewayMetrics(path, key, prefix string) func(context.Context, string) (map[string]float64, error) {
	header := http.Header{GatewayKeyHeader: {key}}
	return func(ctx context.Context, entry string) (map[string]float64, error) {
		// A dead service's route hangs until the gateway's checks take it
		// out (seconds): the other reads of the sample must not wait for
		// it (MergeCounters runs them side by side and waits for all).
		ctx, cancel := context.WithTimeout(ctx, gatewayMetricsTimeout)
		defer cancel()
		data, err := samplerGet(ctx, entry, path, header)
		if err != nil {
			return nil, err
		}
		return parseMetrics(string(data), prefix), nil
	}
}

// gatewayMetricsTimeout bounds one read of a service's /metrics through
// the gateway: an answer takes milliseconds; a loaded machine was seen
// stalling a request for about a second, so a sample may be lost then.
const gatewayMetricsTimeout = 500 * time.Millisecond

// parseMetrics reads "name value" lines (Prometheus's text format,
// comments skipped; a name keeps its labels as written, as
// shop_breaker_state{dependency="payments",state="open"}) into
// prefix+name -> value.
func parseMetrics(text, prefix string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[prefix+strings.TrimSpace(line[:i])] = v
		}
	}
	return out
}

// MergeCounters reads every one of reads, side by side, and merges what
// they returned (their keys must not overlap: give each a prefix). One
// that fails is left out of the sample; all failing is an error.
func MergeCounters(reads ...func(context.Context, string) (map[string]float64, error)) func(context.Context, string) (map[string]float64, error) {
	return func(ctx context.Context, entry string) (map[string]float64, error) {
		vals := make([]map[string]float64, len(reads))
		errs := make([]error, len(reads))
		var wg sync.WaitGroup
		for i, read := range reads {
			wg.Go(func() { vals[i], errs[i] = read(ctx, entry) })
		}
		wg.Wait()
		out := map[string]float64{}
		failed := 0
		for i := range reads {
			if errs[i] != nil {
				failed++
				continue
			}
			maps.Copy(out, vals[i])
		}
		if failed == len(reads) {
			return nil, errors.Join(errs...)
		}
		return out, nil
	}
}

// GaugeBreakerState is the shop's circuit breaker gauge: 1 on the line
// labelled with each dependency's breaker's state (closed, open,
// half-open), as orders' /metrics writes it.
const GaugeBreakerState = "shop_breaker_state"

// AlertLogMetrics reads what the alert log heard (stage 10, cmd/alertlog):
// its /metrics, where alertlog_firing{alertname=...,instance=...} is 1
// while an alert was last notified firing. It is read through the stage's
// CountersVia link, client->alertlog.
func AlertLogMetrics(ctx context.Context, base string) (map[string]float64, error) {
	data, err := samplerGet(ctx, base, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(data), ""), nil
}

// GaugeAlertFiring is the alert log's gauge of a firing alert.
const GaugeAlertFiring = "alertlog_firing"

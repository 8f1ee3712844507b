package mysite

// Integration tests of the photo jobs (stage 9) against a real RabbitMQ and
// a real PostgreSQL (testdb: containers of the node image; RABBITMQ_TEST_URL
// and MYSITE_TEST_DB name other servers). Every test has a queue of its own.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/scalelab/scalelab/internal/testdb"
)

var queueSeq atomic.Int64

// jobsConfig is a web server's Config with a fresh schema and queue.
func jobsConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DB = integrationDSN(t, "")
	cfg.Jobs.Queue = testdb.RabbitMQ.URL(t)
	cfg.Jobs.QueueName = fmt.Sprintf("jobs-it-%d-%d", os.Getpid(), queueSeq.Add(1))
	cfg.ShutdownTimeout = time.Second
	return cfg
}

// workerOf is cfg as a worker's.
func workerOf(cfg Config, name string) Config {
	cfg.Role = RoleWorker
	cfg.Name = name
	return cfg
}

// waitServing polls base's /readyz until it answers 200 (at most 20 s).
func waitServing(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 20 s (last: %v)", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func submitJob(t *testing.T, base, photo, job string) (int, JobAnswer) {
	t.Helper()
	resp, err := http.Post(base+"/photos/"+photo+"/jobs", "application/json", strings.NewReader(fmt.Sprintf(`{"job":%q}`, job)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a JobAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

// effectsOf waits until base's GET /jobs lists want jobs (at most 20 s) and
// returns every job's number of effects.
func effectsOf(t *testing.T, base string, want int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got struct{ Effects map[string]int }
		resp, err := http.Get(base + "/jobs")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
		}
		if err == nil && len(got.Effects) >= want {
			return got.Effects
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /jobs: %d of %d jobs have effects after 20 s (err %v)", len(got.Effects), want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJobsAreConfirmedProcessedAndRecordedOnce(t *testing.T) {
	cfg := jobsConfig(t)
	web, _, stopWeb := startRun(t, cfg)
	defer stopWeb()
	waitServing(t, web)
	const n = 30
	for i := range n {
		code, a := submitJob(t, web, fmt.Sprintf("p%d", i), fmt.Sprintf("j%d", i))
		if code != http.StatusAccepted || a.State != "queued" || a.Job != fmt.Sprintf("j%d", i) {
			t.Fatalf("submit %d: %d %+v", i, code, a)
		}
	}
	// The jobs wait in the queue until a worker comes.
	resp, err := http.Get(web + "/queue")
	if err != nil {
		t.Fatal(err)
	}
	var depth struct{ Messages, Consumers int }
	_ = json.NewDecoder(resp.Body).Decode(&depth)
	resp.Body.Close()
	if depth.Messages != n || depth.Consumers != 0 {
		t.Errorf("queue before any worker: %+v, want %d messages and no consumer", depth, n)
	}
	w1, _, stop1 := startRun(t, workerOf(cfg, "worker-1"))
	defer stop1()
	w2, _, stop2 := startRun(t, workerOf(cfg, "worker-2"))
	defer stop2()
	effects := effectsOf(t, web, n)
	for i := range n {
		if got := effects[fmt.Sprintf("j%d", i)]; got != 1 {
			t.Errorf("job j%d: %d effects, want 1", i, got)
		}
	}
	var processed int64
	for _, w := range []string{w1, w2} {
		resp, err := http.Get(w + "/worker")
		if err != nil {
			t.Fatal(err)
		}
		var st WorkerStats
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		processed += st.Processed
	}
	if processed != n {
		t.Errorf("workers processed %d jobs, want %d", processed, n)
	}
	resp, err = http.Get(web + "/jobs/j0")
	if err != nil {
		t.Fatal(err)
	}
	var st JobState
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.State != "done" || st.Effects != 1 {
		t.Errorf("GET /jobs/j0: %+v", st)
	}
}

// publishRaw puts job on cfg's queue twice, as a broker redelivers a job
// whose worker died before its ack.
func publishTwice(t *testing.T, cfg Config, job Job) {
	t.Helper()
	conn, err := amqp.Dial(cfg.Jobs.Queue)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(cfg.Jobs.QueueName, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(job)
	for range 2 {
		if err := ch.PublishWithContext(context.Background(), "", cfg.Jobs.QueueName, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdempotencyKeepsARedeliveredJobsEffectSingle(t *testing.T) {
	for _, tc := range []struct {
		idempotent bool
		want       int
	}{{true, 1}, {false, 2}} {
		t.Run(fmt.Sprintf("idempotency=%v", tc.idempotent), func(t *testing.T) {
			cfg := jobsConfig(t)
			cfg.Jobs.NoIdempotency = !tc.idempotent
			web, _, stopWeb := startRun(t, cfg)
			defer stopWeb()
			waitServing(t, web)
			publishTwice(t, cfg, Job{ID: "twice", Photo: "p1", Op: OpSharpen})
			_, _, stopW := startRun(t, workerOf(cfg, "worker-1"))
			defer stopW()
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get(web + "/queue")
				if err != nil {
					t.Fatal(err)
				}
				var depth struct{ Messages int }
				_ = json.NewDecoder(resp.Body).Decode(&depth)
				resp.Body.Close()
				effects := effectsOf(t, web, 1)
				if depth.Messages == 0 && effects["twice"] >= tc.want {
					if effects["twice"] != tc.want {
						t.Errorf("effects of a job delivered twice: %d, want %d", effects["twice"], tc.want)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 20 s: %d messages left, effects %v", depth.Messages, effects)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func TestJobsSyncModeWaitsForAWorker(t *testing.T) {
	cfg := jobsConfig(t)
	worker, _, stopW := startRun(t, workerOf(cfg, "worker-1"))
	cfg.Jobs.Queue = ""
	cfg.Jobs.Sync = true
	cfg.Jobs.ProcessURLs = worker
	web, _, stop := startRun(t, cfg)
	defer stop()
	waitServing(t, web)
	var code int
	var a JobAnswer
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// The effects schema is made in the background.
		if code, a = submitJob(t, web, "p7", "s1"); code == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	if code != http.StatusOK || a.State != "done" {
		t.Fatalf("sync submit: %d %+v", code, a)
	}
	if e := effectsOf(t, web, 1); e["s1"] != 1 {
		t.Errorf("effects %v", e)
	}
	// Without its worker a sync web server cannot take jobs.
	stopW()
	if code, _ := submitJob(t, web, "p8", "s2"); code != http.StatusServiceUnavailable {
		t.Errorf("sync submit with the worker gone: %d, want 503", code)
	}
}

func TestJobsWithoutABrokerAreRefusedAsNotQueued(t *testing.T) {
	cfg := jobsConfig(t)
	cfg.Jobs.Queue = "amqp://guest:guest@127.0.0.1:1/"
	web, _, stop := startRun(t, cfg)
	defer stop()
	resp, err := http.Get(web + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz without a broker: %d, want 503", resp.StatusCode)
	}
	r, err := http.Post(web+"/photos/p1/jobs", "application/json", strings.NewReader(`{"job":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get(WriteOutcomeHeader) != "not-applied" {
		t.Errorf("submit without a broker: %d, outcome %q; want 503 not-applied", r.StatusCode, r.Header.Get(WriteOutcomeHeader))
	}
}

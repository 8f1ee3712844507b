// Package testdb gives integration tests a real PostgreSQL and a real Redis:
// containers of the project's own node image (images.Current), started with
// the stacks roles' commands (stacks.Postgres, stacks.Redis) and their
// readiness probes, published on 127.0.0.1 only, labelled with
// docker.RunLabels, and removed when the test binary ends.
//
// A package uses it from its TestMain:
//
//	func TestMain(m *testing.M) { testdb.Main(m, testdb.PG, testdb.Redis) }
//
// and its tests ask for an address with testdb.PG.DSN(t) or
// testdb.Redis.Addr(t). The servers named in Main start in the background
// while the first tests run; a test waits only when it needs one.
//
// An environment variable overrides the container (MYSITE_TEST_DB: a
// PostgreSQL DSN; REDIS_TEST_ADDR: a Redis host:port). Without it and without
// a Docker engine or the image, tests skip, except under CI=true, where they
// fail: on CI the integration tests must not silently stop running.
package testdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/images"
	"github.com/scalelab/scalelab/stacks"
)

// Stack is the docker.LabelStack value of every container made here, so
// that `docker ps --filter label=scalelab.stack=unit-test` finds them.
const Stack = "unit-test"

// bootTimeout bounds one server's start (the image must exist already:
// nothing is pulled).
const bootTimeout = 60 * time.Second

// Server is one kind of server a test can ask for.
type Server struct {
	name string // the node label and part of the container name
	env  string // the variable that overrides the container
	role func() stacks.Role
	// address turns the published host:port into what tests connect to.
	address func(hostPort string) string
	// poll is how often the readiness probe runs; 0 means 50 ms. Each
	// probe is a docker exec: a server that is slow to start gets fewer.
	poll time.Duration

	once    sync.Once
	mu      sync.Mutex
	started bool // start was called: there may be a container to remove
	ctr     *testcontainers.DockerContainer
	addr    string
	took    time.Duration
	err     error
	missing bool // err means Docker or the image is absent, not a failed boot
	ran     bool // a container may have been created
}

// PG is PostgreSQL 15 with the image's data directory and Debian's
// durability settings (fsync on, synchronous_commit on); its DSN reaches the
// "postgres" database as the "postgres" user (trust authentication).
var PG = &Server{
	name: "postgres",
	env:  "MYSITE_TEST_DB",
	role: stacks.Postgres,
	address: func(hp string) string {
		return stacks.PostgresDSN(hp)
	},
}

// Redis is redis-server with the Redis role's settings.
var Redis = &Server{
	name:    "redis",
	env:     "REDIS_TEST_ADDR",
	role:    stacks.Redis,
	address: func(hp string) string { return hp },
}

// RabbitMQ is rabbitmq-server with the RabbitMQ role's settings; its
// address is an AMQP URL as user guest. It takes about 10 s to start:
// packages use it only in tests that need a broker.
var RabbitMQ = &Server{
	name:    "rabbitmq",
	env:     "RABBITMQ_TEST_URL",
	role:    stacks.RabbitMQ,
	address: func(hp string) string { return "amqp://guest:guest@" + hp + "/" },
	poll:    250 * time.Millisecond,
}

var (
	mainMu      sync.Mutex
	mainRunning bool
	bootCtx     context.Context
	cancelBoot  context.CancelFunc
	cleanupOnce sync.Once
	all         = []*Server{PG, Redis, RabbitMQ}
)

// Main runs the package's tests and removes every container they started,
// also when the binary is interrupted (SIGINT, SIGTERM). The servers given
// start at once, in the background, unless their variable is set.
func Main(m *testing.M, boot ...*Server) {
	mainMu.Lock()
	mainRunning = true
	bootCtx, cancelBoot = context.WithCancel(context.Background())
	mainMu.Unlock()

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sigc
		if !ok {
			return
		}
		cleanup()
		fmt.Fprintf(os.Stderr, "testdb: %v: removed this test binary's containers\n", s)
		os.Exit(130)
	}()
	for _, s := range boot {
		if os.Getenv(s.env) == "" {
			go s.start()
		}
	}
	code := m.Run()
	signal.Stop(sigc)
	cleanup()
	os.Exit(code)
}

// cleanup stops any boot in progress and removes what was started. A SIGKILL
// (or `go test -timeout` panicking) skips it: the containers carry this run's
// labels, so the next stack boot's reap or `scalelab down` removes them.
func cleanup() {
	cleanupOnce.Do(func() {
		cancelBoot()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		ran := false
		for _, s := range all {
			s.mu.Lock()
			started := s.started
			s.mu.Unlock()
			if !started {
				continue
			}
			s.once.Do(func() {}) // wait for a boot in progress (cancelled above)
			ran = ran || s.ran
			if s.ctr != nil {
				if err := s.ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
					errs = append(errs, fmt.Errorf("remove %s: %w", s.name, err))
				}
			}
		}
		// Backstop: anything else labelled with this process's run id.
		if ran {
			if err := docker.ReapRun(ctx, docker.RunID()); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintf(os.Stderr, "testdb: cleanup: %v\n", err)
		}
	})
}

// DSN is PG's connection string (MYSITE_TEST_DB when set).
func (s *Server) DSN(t testing.TB) string { t.Helper(); return s.get(t) }

// URL is RabbitMQ's AMQP URL (RABBITMQ_TEST_URL when set).
func (s *Server) URL(t testing.TB) string { t.Helper(); return s.get(t) }

// Addr is Redis's host:port (REDIS_TEST_ADDR when set).
func (s *Server) Addr(t testing.TB) string { t.Helper(); return s.get(t) }

// get returns the server's address, starting it on first use; it skips the
// test when Docker or the image is absent (fails under CI=true) and fails it
// when the server does not come up.
func (s *Server) get(t testing.TB) string {
	t.Helper()
	if v := os.Getenv(s.env); v != "" {
		return v
	}
	mainMu.Lock()
	running := mainRunning
	mainMu.Unlock()
	if !running {
		t.Fatalf("testdb: the package's TestMain must call testdb.Main (it removes the %s container afterwards)", s.name)
	}
	s.start()
	if s.err != nil {
		if s.missing && os.Getenv("CI") != "true" {
			t.Skipf("no real %s: %v (or set %s); under CI=true this fails", s.name, s.err, s.env)
		}
		if s.missing {
			t.Fatalf("no real %s: %v (CI=true: a missing Docker engine or image fails the test instead of skipping it)", s.name, s.err)
		}
		t.Fatalf("%s for integration tests: %v", s.name, s.err)
	}
	t.Logf("%s: %s container at %s (ready in %v)", s.name, images.Current, s.addr, s.took.Round(10*time.Millisecond))
	return s.addr
}

// start boots the container once; concurrent callers wait for it.
func (s *Server) start() {
	s.once.Do(func() {
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(bootCtx, bootTimeout)
		defer cancel()
		begin := time.Now()
		s.addr, s.err = s.boot(ctx)
		s.took = time.Since(begin)
	})
}

func (s *Server) boot(ctx context.Context) (string, error) {
	if _, err := docker.Client(ctx); err != nil {
		s.missing = true
		return "", err
	}
	ok, err := docker.ImageExists(ctx, images.Current)
	if err != nil {
		return "", err
	}
	if !ok {
		s.missing = true
		return "", fmt.Errorf("image %s is missing: build it with `make images` (nothing can be pulled here)", images.Current)
	}
	role := s.role()
	port := fmt.Sprintf("%d/tcp", role.Port)
	s.ran = true
	bin := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	ctr, err := testcontainers.Run(ctx, images.Current,
		testcontainers.WithName(fmt.Sprintf("scalelab-%s-%s-%s-%s", Stack, bin, s.name, docker.RunID())),
		testcontainers.WithLabels(docker.RunLabels(map[string]string{docker.LabelStack: Stack, docker.LabelNode: s.name})),
		testcontainers.WithCmd(role.Cmd...),
		testcontainers.WithConfigModifier(func(c *container.Config) { c.User = role.User }),
		testcontainers.WithExposedPorts(port),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// Loopback only: nothing listens beyond this machine.
			hc.PortBindings = mobynet.PortMap{
				mobynet.MustParsePort(port): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}},
			}
		}),
		testcontainers.WithWaitStrategyAndDeadline(bootTimeout,
			wait.ForExec(role.Ready).WithPollInterval(cmp.Or(s.poll, 50*time.Millisecond)).WithStartupTimeout(bootTimeout)),
	)
	if ctr != nil {
		s.ctr = ctr // removed by cleanup even when the boot failed
	}
	if err != nil {
		return "", fmt.Errorf("start %s from %s: %w", s.name, images.Current, err)
	}
	p, err := ctr.MappedPort(ctx, port)
	if err != nil {
		return "", fmt.Errorf("%s published port: %w", s.name, err)
	}
	return s.address("127.0.0.1:" + p.Port()), nil
}

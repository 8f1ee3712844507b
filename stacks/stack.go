package stacks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/images"
)

// Stack is a booted topology.
type Stack struct {
	Topology Topology
	Network  *testcontainers.DockerNetwork
	// Nets are the topology's named networks (Node.Networks), by name.
	Nets map[string]*testcontainers.DockerNetwork

	cfg     config
	id      string // the docker.LabelStackID of everything this stack creates
	mu      sync.Mutex
	nodes   map[string]*testcontainers.DockerContainer
	proxy   *testcontainers.DockerContainer
	toxi    *toxiproxy.Client
	toxiURL string // Toxiproxy's API, for what its client cannot say (setUpstream)
	proxies map[string]*toxiproxy.Proxy
	syncMu  sync.Mutex // one SyncUpstreams at a time
	// withdrawn: nodes whose links dial NoUpstream whatever their state
	// (Withdraw, Release).
	withdrawn map[string]bool

	// Teardown against creation: Terminate sets closing (no create starts
	// after it) and waits for creating (the creates in flight) before it
	// removes what the stack holds. lostCreate records a create request that
	// failed without a handle: the engine may still make that resource.
	closing    bool
	creating   sync.WaitGroup
	lostCreate bool

	budget *cpuBudget // nil: no CPU budget (WithCPUBudget)
}

// createTimeout bounds one create request (network or container), which an
// interrupt does not cut short (see create).
const createTimeout = 60 * time.Second

// Option changes how a stack boots.
type Option func(*config)

type config struct {
	image    string
	limits   map[string]limit
	bootWait time.Duration
	progress func(string)
	cpus     float64 // the whole stack's CPU budget; 0: none
}

type limit struct {
	cpus     float64
	memoryMB int64
}

// WithLimits caps one node's CPUs (e.g. 0.5) and memory (MiB); 0 keeps a value unset.
func WithLimits(node string, cpus float64, memoryMB int64) Option {
	return func(c *config) { c.limits[node] = limit{cpus, memoryMB} }
}

// WithCPUBudget caps the whole stack, its nodes and toxiproxy together, at
// cpus CPUs (see cpubudget.go): how stacks that run side by side keep out
// of each other's way. It needs a writable cgroup file system (root) and a
// Docker engine on the cgroupfs driver; without them Boot warns and the
// stack runs uncapped.
func WithCPUBudget(cpus float64) Option { return func(c *config) { c.cpus = cpus } }

// WithBootTimeout bounds how long one node may take to become ready (default 60 s).
func WithBootTimeout(d time.Duration) Option { return func(c *config) { c.bootWait = d } }

// WithProgress receives one line per boot step (nodes starting, ready).
func WithProgress(f func(string)) Option { return func(c *config) { c.progress = f } }

// Boot creates the stack's network, its Toxiproxy node with one proxy per
// link, and every node, in parallel, each waited for by its readiness probe.
// Like testcontainers' Run, it returns what it made along with any error:
// call Terminate on a non-nil Stack even when err is not nil.
func Boot(ctx context.Context, t Topology, opts ...Option) (*Stack, error) {
	cfg := config{image: images.Current, limits: map[string]limit{}, bootWait: 60 * time.Second, progress: func(string) {}}
	for _, o := range opts {
		o(&cfg)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	for node := range cfg.limits {
		if _, ok := t.Node(node); !ok {
			return nil, fmt.Errorf("limits for unknown node %q", node)
		}
	}
	if _, err := docker.Client(ctx); err != nil {
		return nil, err
	}
	if err := cfg.checkImage(ctx); err != nil {
		return nil, err
	}
	// Leftovers of runs whose process died (a SIGKILL, a crash) go first.
	left, err := docker.Reap(ctx, false)
	if err != nil {
		cfg.progress(fmt.Sprintf("warning: reaping old runs: %v", err))
	} else if left.Containers+left.Networks > 0 {
		cfg.progress(fmt.Sprintf("removed %d containers and %d networks left by dead runs %v", left.Containers, left.Networks, left.Runs))
	}

	s := &Stack{Topology: t, cfg: cfg, id: docker.RandomID(6), nodes: map[string]*testcontainers.DockerContainer{}, proxies: map[string]*toxiproxy.Proxy{},
		Nets: map[string]*testcontainers.DockerNetwork{}}
	for _, name := range append([]string{""}, t.Networks()...) {
		err = s.create(ctx, func(cctx context.Context) error {
			nw, err := network.New(cctx, network.WithLabels(docker.RunLabels(map[string]string{docker.LabelStack: t.Name, docker.LabelStackID: s.id})))
			s.mu.Lock()
			defer s.mu.Unlock()
			switch {
			case nw != nil && name == "":
				s.Network = nw
			case nw != nil:
				s.Nets[name] = nw
			case err != nil:
				s.lostCreate = true
			}
			return err
		})
		if err != nil {
			return s, fmt.Errorf("boot %s: create network %s: %w", t.Name, cmp.Or(name, "of the stack"), err)
		}
	}
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("boot %s: %w", t.Name, err)
	}

	if cfg.cpus > 0 {
		s.budget = s.makeBudget(ctx, left.Stacks)
	}

	if err := s.bootProxy(ctx); err != nil {
		return s, fmt.Errorf("boot %s: %w", t.Name, err)
	}
	if s.budget != nil {
		if err := s.budget.holds(s.proxy.GetContainerID()); err != nil {
			cfg.progress("warning: " + err.Error() + "; the stack runs uncapped")
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, len(t.Nodes))
	for i, n := range t.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.bootNode(ctx, n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("boot %s: %w", t.Name, err)
	}
	for _, n := range t.Nodes {
		if n.RecheckReady && !n.Standby {
			start := time.Now()
			rctx, cancel := context.WithTimeout(ctx, s.cfg.bootWait)
			err := s.WaitReady(rctx, n.Name)
			cancel()
			if err != nil {
				return s, fmt.Errorf("boot %s: %s, once every node was ready: %w", t.Name, n.Name, err)
			}
			s.cfg.progress(fmt.Sprintf("%s ready again once every node was (in %s)", n.Name, time.Since(start).Round(10*time.Millisecond)))
		}
	}
	// Each started node's links were pointed at it as it started (linksTo);
	// a standby's still name it, and now lead to the blackhole until it
	// starts.
	if err := s.SyncUpstreams(ctx); err != nil {
		return s, fmt.Errorf("boot %s: %w", t.Name, err)
	}
	return s, nil
}

// makeBudget makes the stack's CPU budget, or says why there is none and
// returns nil: then the stack runs uncapped, and runs side by side may slow
// each other (the engine's check of the generator's lateness still keeps an
// overloaded run from being judged). A machine without writable cgroups (not
// root, inside a container) or an engine on the systemd cgroup driver (whose
// cgroup parents are slices, not paths) cannot have one.
//
// live are the stacks that still have containers (docker.Reap's listing): the
// budgets of the others, runs that died, go first.
func (s *Stack) makeBudget(ctx context.Context, live map[string]bool) *cpuBudget {
	drv, err := docker.CgroupDriver(ctx)
	if err == nil && drv != "cgroupfs" {
		err = fmt.Errorf("the Docker engine's cgroup driver is %q, not cgroupfs", drv)
	}
	if err != nil {
		s.cfg.progress(fmt.Sprintf("warning: no CPU budget of %.2f CPUs for the stack: %v; the stack runs uncapped", s.cfg.cpus, err))
		return nil
	}
	if live != nil {
		_, _ = ReapCPUBudgets(live)
	}
	b, err := newCPUBudget(s.id, s.cfg.cpus)
	if err != nil {
		s.cfg.progress("warning: " + err.Error() + "; the stack runs uncapped")
		return nil
	}
	return b
}

// checkImage fails fast, before anything starts, when the image every node
// runs from is missing: testcontainers would try to pull it, and nothing can
// be pulled here.
func (c config) checkImage(ctx context.Context) error {
	ok, err := docker.ImageExists(ctx, c.image)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("image %s is missing: build it with `make images` (no registry is reachable from here)", c.image)
	}
	return nil
}

func (s *Stack) containerName(node string) string {
	// The run id says which process made it; the stack id tells apart the
	// stacks of one process that run side by side (matrix --parallel).
	return fmt.Sprintf("scalelab-%s-%s-%s-%s", s.Topology.Name, node, docker.RunID(), s.id)
}

// ID is the stack's own id (its docker.LabelStackID): unique among the
// stacks of a process, also when several run at once.
func (s *Stack) ID() string { return s.id }

// request is what every container of the stack shares: labels, network alias,
// loopback-only ports, limits.
func (s *Stack) request(node string, role Role, ports []string, cmd []string, env map[string]string) []testcontainers.ContainerCustomizer {
	lim := s.cfg.limits[node]
	labels := docker.RunLabels(map[string]string{docker.LabelStack: s.Topology.Name, docker.LabelStackID: s.id, docker.LabelNode: node})
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithName(s.containerName(node)),
		testcontainers.WithLabels(labels),
		s.withNetworks(node),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithEnv(env),
		testcontainers.WithConfigModifier(func(c *container.Config) { c.User = role.User }),
		testcontainers.WithExposedPorts(ports...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// Publish on loopback only: nothing of a stack listens beyond this machine.
			hc.PortBindings = mobynet.PortMap{}
			for _, p := range ports {
				hc.PortBindings[mobynet.MustParsePort(p)] = []mobynet.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}}
			}
			if lim.cpus > 0 {
				hc.NanoCPUs = int64(lim.cpus * 1e9)
			}
			if lim.memoryMB > 0 {
				hc.Memory = lim.memoryMB << 20
			}
			if s.budget != nil {
				hc.CgroupParent = s.budget.parent
			}
			for _, dir := range role.Volumes {
				// No source: an anonymous volume, filled from the image,
				// removed with the container; labelled like it, so that a
				// sweep finds one left behind.
				hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: dir,
					VolumeOptions: &mount.VolumeOptions{Labels: labels}})
			}
		}),
		// First the links to the node are pointed at its address, as soon
		// as it has one and before it listens (so that no connection is
		// cut by the re-pointing), then its readiness probe.
		testcontainers.WithWaitStrategyAndDeadline(s.cfg.bootWait, wait.ForAll(
			linksTo{s, node},
			readyProbe{role.Ready})),
	}
}

// withNetworks attaches a node to its networks (Node.Networks, or the
// stack's own), its name an alias on each; Toxiproxy to all of them, also as
// EntryHost on each named one.
func (s *Stack) withNetworks(node string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		type on struct {
			nw      *testcontainers.DockerNetwork
			aliases []string
		}
		var nets []on
		if n, ok := s.Topology.Node(node); ok && len(n.Networks) > 0 {
			for _, name := range n.Networks {
				nets = append(nets, on{s.Nets[name], []string{node}})
			}
		} else {
			nets = append(nets, on{s.Network, []string{node}})
		}
		if node == ProxyNode {
			for _, name := range s.Topology.Networks() {
				nets = append(nets, on{s.Nets[name], []string{node, EntryHost(name)}})
			}
		}
		for _, n := range nets {
			if n.nw == nil {
				return fmt.Errorf("node %s: a network it is on was not created", node)
			}
			if err := network.WithNetwork(n.aliases, n.nw).Customize(req); err != nil {
				return err
			}
		}
		return nil
	}
}

// home is the Docker network a node's links dial it on.
func (s *Stack) home(node string) *testcontainers.DockerNetwork {
	if n, ok := s.Topology.Node(node); ok && n.Home() != "" {
		return s.Nets[n.Home()]
	}
	return s.Network
}

// HomeNetwork is the Docker network a node's links dial it on (its first
// Node.Networks, or the stack's own), nil before boot made it.
func (s *Stack) HomeNetwork(node string) *testcontainers.DockerNetwork {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.home(node)
}

func (s *Stack) bootProxy(ctx context.Context) error {
	role := Toxiproxy()
	// Docker cannot add port mappings to a running container, so every link's
	// port is published up front: the host reaches entry points (client->x)
	// and can probe any link from outside.
	ports := []string{fmt.Sprintf("%d/tcp", role.Port)}
	for _, l := range s.Topology.Links {
		if l.ListenOn != "" {
			continue // reached on its network's address (Link.ListenOn)
		}
		p, _ := s.Topology.LinkPort(l.Name())
		ports = append(ports, fmt.Sprintf("%d/tcp", p))
	}
	s.cfg.progress("starting toxiproxy")
	ctr, err := s.run(ctx, ProxyNode, s.cfg.image, s.request(ProxyNode, role, ports, role.Cmd, nil))
	if err != nil {
		return fmt.Errorf("start %s: %w", ProxyNode, err)
	}
	port, err := ctr.MappedPort(ctx, fmt.Sprintf("%d/tcp", role.Port))
	if err != nil {
		return fmt.Errorf("toxiproxy API port: %w", err)
	}
	s.toxiURL = "http://127.0.0.1:" + port.Port()
	s.toxi = toxiproxy.NewClient(s.toxiURL)
	for _, l := range s.Topology.Links {
		port, _ := s.Topology.LinkPort(l.Name())
		listen := fmt.Sprintf("0.0.0.0:%d", port)
		if l.ListenOn != "" {
			// Toxiproxy resolves its own alias to its address on that
			// network (Docker's DNS answers each network's aliases there).
			listen = fmt.Sprintf("%s:%d", EntryHost(l.ListenOn), l.ListenPort)
		}
		to, _ := s.Topology.Node(l.To)
		p, err := s.toxi.CreateProxy(proxyName(l.Name()), listen, fmt.Sprintf("%s:%d", l.To, to.Role.Port))
		if err != nil {
			return fmt.Errorf("create link %s: %w", l.Name(), err)
		}
		if l.Distance > 0 {
			// Half each way: one latency toxic delays one direction.
			attrs := toxiproxy.Attributes{"latency": int(l.Distance / 2 / time.Millisecond)}
			for _, stream := range []string{"upstream", "downstream"} {
				if _, err := p.AddToxic("distance_"+stream, "latency", stream, 1.0, attrs); err != nil {
					return fmt.Errorf("link %s: its distance (%v): %w", l.Name(), l.Distance, err)
				}
			}
		}
		s.proxies[l.Name()] = p
	}
	s.cfg.progress(fmt.Sprintf("toxiproxy ready with links %s", strings.Join(s.Topology.LinkNames(), ", ")))
	return nil
}

func (s *Stack) bootNode(ctx context.Context, n Node) error {
	// Only the node's own Args name links (${name}); the role's command is
	// taken as is, so that a role may carry a shell script.
	cmd := append([]string{}, n.Role.Cmd...)
	for _, a := range n.Args {
		cmd = append(cmd, s.Topology.expand(n, a))
	}
	env := map[string]string{}
	for k, v := range n.Env {
		env[k] = s.Topology.expand(n, v)
	}
	opts := s.request(n.Name, n.Role, nil, cmd, env)
	for path, content := range n.Files {
		opts = append(opts, testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader: strings.NewReader(s.Topology.expand(n, content)), ContainerFilePath: path, FileMode: 0o644,
		}))
	}
	if b := n.Role.Binary; b != "" {
		if fi, err := os.Stat(b); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("node %s: its program %s: not a file on this machine (%v)", n.Name, b, err)
		}
		opts = append(opts, testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath: b, ContainerFilePath: ProgramDir + "/" + filepath.Base(b), FileMode: 0o755,
		}))
	}
	if n.Standby {
		// Created (so its name, files and labels exist) but not started;
		// StartStandby starts it and waits for its readiness probe.
		opts = append(opts, testcontainers.WithNoStart())
		s.cfg.progress(fmt.Sprintf("creating %s (%s, standby)", n.Name, n.Role.Kind))
	} else {
		s.cfg.progress(fmt.Sprintf("starting %s (%s)", n.Name, n.Role.Kind))
	}
	start := time.Now()
	ctr, err := s.run(ctx, n.Name, s.cfg.image, opts)
	if err != nil {
		return fmt.Errorf("start node %s: %w%s", n.Name, err, s.logTail(ctx, ctr))
	}
	if !n.Standby {
		s.cfg.progress(fmt.Sprintf("%s ready in %s", n.Name, time.Since(start).Round(10*time.Millisecond)))
	}
	return nil
}

// create runs one create request (fn) so that an interrupt cannot lose what
// it makes: fn gets a context that ctx's cancellation does not reach (bounded
// by createTimeout) and must record what it made in s before it returns.
//
// Why: the engine finishes a create whose client gave up. Measured on this
// engine (docker 20.10): of 18 container creates cancelled 0-40 ms in, 17
// made their container anyway, most not yet listed when the client returned.
// Such a container has no handle here and may appear after any listing by
// label, so a Ctrl-C during boot left containers behind. A create takes
// ~0.1 s; starting and the readiness wait, which take seconds, stay
// cancellable. Once Terminate has begun, no create starts.
func (s *Stack) create(ctx context.Context, fn func(context.Context) error) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("not created: the stack is being removed")
	}
	s.creating.Add(1)
	s.mu.Unlock()
	defer s.creating.Done()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	return fn(cctx)
}

// stopCreates refuses every create from now on and waits until the creates
// in flight have returned (and recorded what they made).
func (s *Stack) stopCreates(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.creating.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("creates still in flight: %w", ctx.Err())
	}
}

// run creates a node's container (see create), records it, and then, unless
// the options say not to start it (a standby), starts it and waits for its
// readiness probe under ctx. Like testcontainers.Run, it returns the
// container along with any error.
func (s *Stack) run(ctx context.Context, node, image string, opts []testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	req := testcontainers.GenericContainerRequest{ContainerRequest: testcontainers.ContainerRequest{Image: image}, Started: true}
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			return nil, fmt.Errorf("container of %s: %w", node, err)
		}
	}
	start := req.Started
	req.Started = false
	var ctr *testcontainers.DockerContainer
	err := s.create(ctx, func(cctx context.Context) error {
		c, err := testcontainers.GenericContainer(cctx, req)
		ctr, _ = c.(*testcontainers.DockerContainer)
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case ctr == nil && err != nil:
			s.lostCreate = true
		case node == ProxyNode:
			s.proxy = ctr
		default:
			s.nodes[node] = ctr
		}
		return err
	})
	if err != nil {
		return ctr, fmt.Errorf("create container: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ctr, fmt.Errorf("created, not started: %w", err)
	}
	if !start {
		return ctr, nil
	}
	if err := ctr.Start(ctx); err != nil {
		return ctr, fmt.Errorf("start container: %w", err)
	}
	return ctr, nil
}

// StartStandby starts a standby node and waits until it is ready.
func (s *Stack) StartStandby(ctx context.Context, node string) error {
	c, err := s.Container(node)
	if err != nil {
		return err
	}
	// Start runs the node's readiness wait, whose first step points its
	// links at it (linksTo).
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start standby %s: %w", node, err)
	}
	return s.WaitReady(ctx, node)
}

// logTail is the end of a container's log, to explain a failed boot.
func (s *Stack) logTail(ctx context.Context, ctr *testcontainers.DockerContainer) string {
	if ctr == nil {
		return ""
	}
	rc, err := ctr.Logs(context.WithoutCancel(ctx))
	if err != nil {
		return ""
	}
	defer rc.Close()
	data, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return "\n  last log lines:\n    " + strings.Join(lines, "\n    ")
}

// Terminate removes every container of the stack and its network. It runs to
// the end even when ctx is already cancelled (Ctrl-C), bounded by its own
// deadline. It first waits for creates in flight (none starts after it
// begins), removes what the stack holds, then sweeps by the stack's label
// until nothing of it is listed: that finds what a create made without the
// stack getting its handle (a create request that failed or timed out).
func (s *Stack) Terminate(ctx context.Context) error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout+time.Minute)
	defer cancel()
	if err := s.stopCreates(ctx); err != nil {
		return fmt.Errorf("remove stack %s: %w", s.Topology.Name, err)
	}

	s.mu.Lock()
	ctrs := make([]*testcontainers.DockerContainer, 0, len(s.nodes)+1)
	for _, c := range s.nodes {
		ctrs = append(ctrs, c)
	}
	if s.proxy != nil {
		ctrs = append(ctrs, s.proxy)
	}
	s.nodes, s.proxy = map[string]*testcontainers.DockerContainer{}, nil
	nws, lost := []*testcontainers.DockerNetwork{s.Network}, s.lostCreate
	for _, name := range slices.Sorted(maps.Keys(s.Nets)) {
		nws = append(nws, s.Nets[name])
	}
	s.Network, s.Nets = nil, map[string]*testcontainers.DockerNetwork{}
	s.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(ctrs)+1)
	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A forced remove kills the container whatever its state:
			// running, paused by a fault, or created and never started.
			errs[i] = docker.RemoveContainer(ctx, c.GetContainerID())
		}()
	}
	wg.Wait()
	for _, nw := range nws {
		if nw == nil {
			continue
		}
		if err := nw.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
		}
	}
	// A lost create may show up only later: then wait and look again.
	settle := time.Duration(0)
	if lost {
		settle = 3 * time.Second
	}
	swept, err := docker.Sweep(ctx, docker.LabelStackID, s.id, settle)
	if err != nil {
		errs[len(ctrs)] = fmt.Errorf("remove stack %s: %w", s.Topology.Name, err)
	} else if swept.Containers+swept.Networks > 0 && s.cfg.progress != nil {
		s.cfg.progress(fmt.Sprintf("removed %d containers and %d networks the stack had no handle on", swept.Containers, swept.Networks))
	}
	if err == nil {
		// Its containers are gone: the stack's cgroup can go too.
		errs = append(errs, s.budget.remove())
	}
	return errors.Join(errs...)
}

// Container is the running container of a node (or of ProxyNode).
func (s *Stack) Container(node string) (*testcontainers.DockerContainer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if node == ProxyNode && s.proxy != nil {
		return s.proxy, nil
	}
	if c, ok := s.nodes[node]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("stack %s has no node %q (nodes: %s)", s.Topology.Name, node, strings.Join(s.NodeNames(), ", "))
}

// Run runs cmd in a node's container (or ProxyNode's) and returns its
// output; a non-zero exit is an error that quotes the output.
func (s *Stack) Run(ctx context.Context, node string, cmd []string) (string, error) {
	c, err := s.Container(node)
	if err != nil {
		return "", err
	}
	code, r, err := c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("run %q in %s: %w", strings.Join(cmd, " "), node, err)
	}
	out, _ := io.ReadAll(io.LimitReader(r, 4<<20))
	if code != 0 {
		return string(out), fmt.Errorf("%q in %s exited %d: %s", strings.Join(cmd, " "), node, code, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// NodeNames lists the nodes in declaration order.
func (s *Stack) NodeNames() []string {
	out := make([]string, len(s.Topology.Nodes))
	for i, n := range s.Topology.Nodes {
		out[i] = n.Name
	}
	return out
}

// Proxy is the Toxiproxy proxy of a link.
func (s *Stack) Proxy(link string) (*toxiproxy.Proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proxies[link]
	if !ok {
		names := s.Topology.LinkNames()
		sort.Strings(names)
		return nil, fmt.Errorf("stack %s has no link %q (links: %s)", s.Topology.Name, link, strings.Join(names, ", "))
	}
	return p, nil
}

// Addr is the address on this machine (127.0.0.1:port) of a link's published
// proxy port: the entry point for client->x links, a probe point for others.
func (s *Stack) Addr(ctx context.Context, link string) (string, error) {
	port, ok := s.Topology.LinkPort(link)
	if !ok {
		_, err := s.Proxy(link)
		return "", err
	}
	if s.proxy == nil {
		return "", errors.New("stack has no toxiproxy node")
	}
	if l, _ := s.Topology.link(link); l.ListenOn != "" {
		ip, err := s.EntryAddr(ctx, l.ListenOn)
		if err != nil {
			return "", err
		}
		return netip.AddrPortFrom(ip, uint16(l.ListenPort)).String(), nil
	}
	p, err := s.proxy.MappedPort(ctx, strconv.Itoa(port)+"/tcp")
	if err != nil {
		return "", fmt.Errorf("published port of link %s: %w", link, err)
	}
	return "127.0.0.1:" + p.Port(), nil
}

// EntryAddr is Toxiproxy's address on a named network (EntryHost(net)):
// where the links that listen on that network are reached, from this
// machine too (Docker routes its bridge networks on the host).
func (s *Stack) EntryAddr(ctx context.Context, net string) (netip.Addr, error) {
	s.mu.Lock()
	proxy, nw := s.proxy, s.Nets[net]
	s.mu.Unlock()
	if proxy == nil || nw == nil {
		return netip.Addr{}, fmt.Errorf("stack %s has no network %q with toxiproxy on it", s.Topology.Name, net)
	}
	info, err := proxy.Inspect(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("toxiproxy's address on %s: %w", net, err)
	}
	if ep := info.NetworkSettings.Networks[nw.Name]; ep != nil && ep.IPAddress.IsValid() {
		return ep.IPAddress, nil
	}
	return netip.Addr{}, fmt.Errorf("toxiproxy has no address on network %s", net)
}

// URL is http://Addr(link).
func (s *Stack) URL(ctx context.Context, link string) (string, error) {
	a, err := s.Addr(ctx, link)
	if err != nil {
		return "", err
	}
	return "http://" + a, nil
}

// WaitReady runs a node's readiness probe until it passes or ctx ends, as
// the boot does (readySlots, readyPollInterval): the heal of a data
// center's outage waits for four nodes at once, and a probe every 50 ms of
// each, as this did before 2026-12-05, is the exec load the boot's pacing
// was made to avoid.
func (s *Stack) WaitReady(ctx context.Context, node string) error {
	c, err := s.Container(node)
	if err != nil {
		return err
	}
	n, ok := s.Topology.Node(node)
	if !ok {
		n = Node{Name: ProxyNode, Role: Toxiproxy()}
	}
	err = probeUntilReady(ctx, false, func(ctx context.Context) (int, error) {
		code, _, err := c.Exec(ctx, n.Role.Ready)
		return code, err
	})
	if err != nil {
		return fmt.Errorf("wait for %s to be ready: %w", node, err)
	}
	return nil
}

// Logs returns a node's log (stdout and stderr).
func (s *Stack) Logs(ctx context.Context, node string) (string, error) {
	c, err := s.Container(node)
	if err != nil {
		return "", err
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	return string(data), err
}

// Package docker is scalelab's access to the Docker engine: the client, the
// labels that mark what a run created, and reaping what runs left behind.
//
// testcontainers-go normally relies on Ryuk, a reaper container, to remove a
// killed test's containers. Ryuk's image cannot be pulled here, so scalelab
// turns it off and labels everything it creates with its run id and its
// owner: the process (pid and the pid's start time) and where that pid means
// something (hostname, boot id and PID namespace). A later run removes only
// what belongs to a process of its own host and PID namespace that is gone;
// whatever it cannot check (another host, another PID namespace, labels of an
// older scalelab) it leaves alone. `scalelab down` says what it leaves and why.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Labels scalelab puts on every container and network. They must not start
// with org.testcontainers (that prefix is testcontainers' own).
const (
	LabelRun      = "scalelab.run"      // run id: one process, one run
	LabelPID      = "scalelab.pid"      // the process that owns the run
	LabelPIDStart = "scalelab.pidstart" // its start time, so a reused pid is not mistaken for it
	// Where the pid means something. Two CI jobs on one engine, or two
	// containers on one machine, have pids that say nothing about each other:
	// the hostname tells machines (and most containers) apart, the boot id a
	// machine from itself before a reboot (it is also shared by every
	// container on the machine), and the PID namespace two containers that
	// share hostname and boot id.
	LabelHost   = "scalelab.host"   // os.Hostname()
	LabelBootID = "scalelab.bootid" // /proc/sys/kernel/random/boot_id
	LabelPIDNS  = "scalelab.pidns"  // /proc/self/ns/pid, e.g. pid:[4026531836]
	LabelStack  = "scalelab.stack"
	// LabelStackID is one booted stack (one stacks.Boot): what its teardown
	// sweeps, so that it never touches another stack of the same run.
	LabelStackID = "scalelab.stackid"
	LabelNode    = "scalelab.node"
)

func init() {
	// Both must be set before testcontainers reads its configuration (on its
	// first call), so they are set when this package loads. Ryuk's value must be
	// exactly "true": "1" or "TRUE" leave it on.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// This machine looks like a container to testcontainers, which then looks
	// for published ports on the default gateway and times out. Our ports are
	// published on loopback only.
	os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	// testcontainers logs every container step to stderr; scalelab reports its
	// own progress and wraps errors with context. SCALELAB_DEBUG=1 keeps them.
	if os.Getenv("SCALELAB_DEBUG") == "" {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
}

var (
	runOnce sync.Once
	runID   string
)

// RunID is this process's run id, made once: a time stamp and a random suffix.
func RunID() string {
	runOnce.Do(func() { runID = time.Now().UTC().Format("0102-150405") + "-" + RandomID(3) })
	return runID
}

// RandomID is n random bytes in hex (stack ids, run id suffixes).
func RandomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Host is where a pid means something: a pid can be checked only from the
// same host, boot and PID namespace. Where /proc is missing (not Linux), the
// boot id and namespace are "" and only the hostname tells hosts apart.
type Host struct {
	Name, BootID, PIDNS string
}

// Owner is who made a resource, as its labels say (or as this process is).
type Owner struct {
	Run      string
	PID      int    // 0: the label is missing or not a number
	PIDStart string // "" where /proc is missing
	Host     Host
	// HasHost is false for a resource labelled by a scalelab older than the
	// host labels: whose pid it carries cannot be told.
	HasHost bool
}

var (
	selfOnce sync.Once
	self     Owner
)

// Self is this process as an owner.
func Self() Owner {
	selfOnce.Do(func() {
		self = Owner{Run: RunID(), PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Host: thisHost(), HasHost: true}
	})
	return self
}

func thisHost() Host {
	name, err := os.Hostname()
	if err != nil {
		name = "" // still labelled: the boot id and namespace carry the identity
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return Host{Name: name, BootID: strings.TrimSpace(string(boot)), PIDNS: ns}
}

// RunLabels are the labels for a resource this run creates.
func RunLabels(extra map[string]string) map[string]string {
	me := Self()
	l := map[string]string{
		LabelRun:      me.Run,
		LabelPID:      strconv.Itoa(me.PID),
		LabelPIDStart: me.PIDStart,
		LabelHost:     me.Host.Name,
		LabelBootID:   me.Host.BootID,
		LabelPIDNS:    me.Host.PIDNS,
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// OwnerOf reads a resource's owner from its labels.
func OwnerOf(labels map[string]string) Owner {
	o := Owner{Run: labels[LabelRun], PIDStart: labels[LabelPIDStart]}
	if pid, err := strconv.Atoi(labels[LabelPID]); err == nil && pid > 0 {
		o.PID = pid
	}
	name, okName := labels[LabelHost]
	boot, okBoot := labels[LabelBootID]
	ns, okNS := labels[LabelPIDNS]
	// All three are written together; a resource with fewer was not labelled
	// by this scheme, and a partial identity is no identity.
	o.HasHost = okName && okBoot && okNS
	if o.HasHost {
		o.Host = Host{Name: name, BootID: boot, PIDNS: ns}
	}
	return o
}

// procStart is the start time of a process in clock ticks since boot (field 22
// of /proc/PID/stat), or "" when the process does not exist.
func procStart(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields after its ')' are plain.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 overall
}

// Alive tells whether a process of this host and PID namespace with that pid
// and start time runs. Only meaningful for an owner of the same Host.
func Alive(pid int, start string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return procStart(pid) == start
}

// State is what is known about a resource's owner, from this process.
type State int

const (
	OwnRun     State = iota // made by this very process
	OwnerAlive              // same host and PID namespace, the owner still runs
	OwnerGone               // same host and PID namespace, the owner is gone: a leftover
	OtherHost               // another hostname or boot id: its pid cannot be checked from here
	OtherPIDNS              // same machine and boot, another PID namespace (another container)
	NoHost                  // labelled by a scalelab older than the host labels
	NoOwner                 // host labels but no readable owner pid
)

// Reapable tells whether a run may remove a resource in this state on its
// own: only a leftover whose owner is known to be gone.
func (s State) Reapable() bool { return s == OwnerGone }

// Why is the state in the words `scalelab down` prints.
func (s State) Why() string {
	switch s {
	case OwnRun:
		return "this run"
	case OwnerAlive:
		return "alive"
	case OwnerGone:
		return "gone"
	case OtherHost:
		return "another host or container, or this host before a reboot: its owner cannot be checked from here"
	case OtherPIDNS:
		return "another PID namespace on this machine, i.e. another container: its owner cannot be checked from here"
	case NoHost:
		return "labelled by an older scalelab without the host labels: whose pid it is cannot be told"
	case NoOwner:
		return "no readable owner pid"
	}
	return "unknown"
}

// Classify decides what a resource's labels say about its owner, seen from
// me. alive checks a pid of my own host and namespace (Alive, or a stub in
// tests). Whatever cannot be checked is not Reapable.
func Classify(labels map[string]string, me Owner, alive func(pid int, start string) bool) State {
	o := OwnerOf(labels)
	switch {
	case o.Run != "" && o.Run == me.Run:
		return OwnRun
	case !o.HasHost:
		return NoHost
	case o.Host.Name != me.Host.Name || o.Host.BootID != me.Host.BootID:
		return OtherHost
	case o.Host.PIDNS != me.Host.PIDNS:
		return OtherPIDNS
	case o.PID == 0:
		return NoOwner
	case alive(o.PID, o.PIDStart):
		return OwnerAlive
	}
	return OwnerGone
}

var (
	clientOnce sync.Once
	cli        *client.Client
	cliErr     error
	connected  atomic.Bool
)

// Client returns the shared Docker client, after checking that an engine answers.
func Client(ctx context.Context) (*client.Client, error) {
	clientOnce.Do(func() {
		c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			cliErr = fmt.Errorf("docker client: %w", err)
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := c.Ping(pctx, client.PingOptions{}); err != nil {
			host := os.Getenv("DOCKER_HOST")
			if host == "" {
				host = "unset, so unix:///var/run/docker.sock"
			}
			cliErr = fmt.Errorf("no Docker engine answers (DOCKER_HOST is %s; check with `docker version`): %w", host, err)
			c.Close()
			return
		}
		cli = c
		connected.Store(true)
	})
	return cli, cliErr
}

// Connected tells whether this process has a working Docker client, i.e.
// whether it may have created anything, without connecting to find out.
func Connected() bool { return connected.Load() }

// Group is the resources of one run in one state.
type Group struct {
	Owner                Owner
	State                State
	Removed              bool
	Containers, Networks int
}

// String names the group: "3 containers and 1 network of run X owned by pid
// 123 on host h (alive)".
func (g Group) String() string {
	var what []string
	if g.Containers > 0 {
		what = append(what, plural(g.Containers, "container"))
	}
	if g.Networks > 0 {
		what = append(what, plural(g.Networks, "network"))
	}
	s := strings.Join(what, " and ")
	if g.Owner.Run != "" {
		s += " of run " + g.Owner.Run
	} else {
		s += " of no run"
	}
	if g.Owner.PID > 0 {
		s += fmt.Sprintf(" owned by pid %d", g.Owner.PID)
	}
	if g.Owner.HasHost {
		host := g.Owner.Host.Name
		if host == "" {
			host = "(no hostname)"
		}
		s += " on host " + host
		switch g.State {
		case OtherHost:
			if g.Owner.Host.BootID != "" && g.Owner.Host.BootID != Self().Host.BootID {
				s += " boot " + short(g.Owner.Host.BootID)
			}
		case OtherPIDNS:
			s += " in " + g.Owner.Host.PIDNS
		}
	}
	return s + " (" + g.State.Why() + ")"
}

// Line is the group as `scalelab down` prints it: "removed ..." or "left ...".
func (g Group) Line() string {
	if g.Removed {
		return "removed " + g.String()
	}
	return "left " + g.String()
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Leftovers is what a reap removed and what it left alone, by run.
type Leftovers struct {
	Containers, Networks int      // removed
	Runs                 []string // runs with something removed
	Groups               []Group  // removed and kept, by run and state
	// Stacks are the stacks (LabelStackID) that still have a container:
	// those kept, and those whose removal failed. nil when the containers
	// could not be listed.
	Stacks map[string]bool
}

// Kept are the groups left alone.
func (l Leftovers) Kept() []Group {
	var out []Group
	for _, g := range l.Groups {
		if !g.Removed {
			out = append(out, g)
		}
	}
	return out
}

// Reap removes the containers and networks of scalelab runs that are safe to
// remove: those whose owner ran on this host and PID namespace and is gone
// (Classify). It never removes this run's. With all=true (`scalelab down
// --all`) it removes every scalelab resource whatever its owner, this run's
// included: other runs' stacks, alive or not, go too.
func Reap(ctx context.Context, all bool) (Leftovers, error) {
	return reap(ctx, all, Self(), Alive, "")
}

// reap is Reap seen from me; only ("key=value", or "") narrows it to the
// resources with that label as well (the tests' own).
func reap(ctx context.Context, all bool, me Owner, alive func(int, string) bool, only string) (Leftovers, error) {
	var res Leftovers
	c, err := Client(ctx)
	if err != nil {
		return res, err
	}
	type key struct {
		run   string
		state State
	}
	groups := map[key]*Group{}
	group := func(labels map[string]string) (*Group, bool) {
		st := Classify(labels, me, alive)
		k := key{labels[LabelRun], st}
		g, ok := groups[k]
		if !ok {
			g = &Group{Owner: OwnerOf(labels), State: st, Removed: all || st.Reapable()}
			groups[k] = g
		}
		return g, g.Removed
	}
	var errs []error
	f := make(client.Filters).Add("label", LabelRun)
	if only != "" {
		f.Add("label", only)
	}

	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return res, fmt.Errorf("list scalelab containers: %w", err)
	}
	res.Stacks = map[string]bool{}
	for _, ct := range ctrs.Items {
		g, remove := group(ct.Labels)
		if remove {
			if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s of run %s: %w", short12(ct.ID), ct.Labels[LabelRun], err))
				res.Stacks[ct.Labels[LabelStackID]] = true
				continue
			}
			res.Containers++
		} else {
			res.Stacks[ct.Labels[LabelStackID]] = true
		}
		g.Containers++
	}
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return res, fmt.Errorf("list scalelab networks: %w", err)
	}
	// A volume is made with its container and removed with it: one listed
	// here outlived a removal that failed half-way.
	if err := removeVolumes(ctx, c, f, func(labels map[string]string) bool {
		_, remove := group(labels)
		return remove
	}); err != nil {
		errs = append(errs, err)
	}
	for _, n := range nets.Items {
		g, remove := group(n.Labels)
		if remove {
			if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %s of run %s: %w", n.Name, n.Labels[LabelRun], err))
				continue
			}
			res.Networks++
		}
		g.Networks++
	}
	runs := map[string]bool{}
	for _, g := range groups {
		if g.Containers+g.Networks == 0 {
			continue // every removal failed: the errors say so
		}
		res.Groups = append(res.Groups, *g)
		if g.Removed {
			runs[g.Owner.Run] = true
		}
	}
	sort.Slice(res.Groups, func(i, j int) bool {
		a, b := res.Groups[i], res.Groups[j]
		if a.Removed != b.Removed {
			return a.Removed
		}
		return a.Owner.Run < b.Owner.Run
	})
	for r := range runs {
		res.Runs = append(res.Runs, r)
	}
	sort.Strings(res.Runs)
	return res, errors.Join(errs...)
}

// Swept is what a Sweep removed.
type Swept struct{ Containers, Networks int }

// Sweep removes every container and network labelled key=value, listing again
// until a listing finds nothing. With settle > 0 it then waits settle and
// lists once more, and goes on until a listing after the wait is empty too:
// the engine finishes a create whose client gave up (a cancelled request)
// and shows it only some time later, so an empty listing right after such a
// request proves nothing. Callers pass a settle only when they know of such a
// request; key=value must select only what the caller owns.
func Sweep(ctx context.Context, key, value string, settle time.Duration) (Swept, error) {
	var res Swept
	c, err := Client(ctx)
	if err != nil {
		return res, err
	}
	f := make(client.Filters).Add("label", key+"="+value)
	var lastErr error
	settled := settle <= 0
	for round := 0; ; round++ {
		ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			return res, fmt.Errorf("list containers labelled %s=%s: %w", key, value, err)
		}
		nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		if err != nil {
			return res, fmt.Errorf("list networks labelled %s=%s: %w", key, value, err)
		}
		if len(ctrs.Items)+len(nets.Items) == 0 {
			if settled {
				// Containers go with their anonymous volumes; a volume
				// whose container's removal failed half-way goes here.
				// (Not VolumePrune: the engine runs one prune at a time
				// and refuses a second, as when runs sweep side by side.)
				return res, removeVolumes(ctx, c, f, nil)
			}
			settled = true
			if err := sleep(ctx, settle); err != nil {
				return res, fmt.Errorf("sweep %s=%s: %w", key, value, err)
			}
			continue
		}
		// Something was there: whatever appears next needs its own settle.
		settled = settle <= 0
		if round >= 20 {
			return res, fmt.Errorf("sweep %s=%s: %d containers and %d networks still there after %d rounds: %w",
				key, value, len(ctrs.Items), len(nets.Items), round, lastErr)
		}
		var errs []error
		for _, ct := range ctrs.Items {
			if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", short12(ct.ID), err))
				continue
			}
			res.Containers++
		}
		// A network still holding a container (one that appeared after the
		// listing) refuses removal: the next round retries it.
		for _, n := range nets.Items {
			if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
				continue
			}
			res.Networks++
		}
		if lastErr = errors.Join(errs...); lastErr != nil {
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return res, fmt.Errorf("sweep %s=%s: %w (last: %w)", key, value, err, lastErr)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// removeVolumes removes the volumes that match f, and of those only the
// ones remove accepts by their labels (nil: all). A volume still in use
// (its container kept) refuses removal, which is no error.
func removeVolumes(ctx context.Context, c *client.Client, f client.Filters, remove func(labels map[string]string) bool) error {
	vols, err := c.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list scalelab volumes: %w", err)
	}
	var errs []error
	for _, v := range vols.Items {
		if remove != nil && !remove(v.Labels) {
			continue
		}
		if _, err := c.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !isNotFound(err) && !cerrdefs.IsConflict(err) {
			errs = append(errs, fmt.Errorf("remove volume %s of run %s: %w", short12(v.Name), v.Labels[LabelRun], err))
		}
	}
	return errors.Join(errs...)
}

// ReapRun removes everything of one run (this process's own teardown backstop).
func ReapRun(ctx context.Context, run string) error {
	_, err := Sweep(ctx, LabelRun, run, 0)
	return err
}

// ImageExists tells whether the engine has an image, without pulling.
func ImageExists(ctx context.Context, ref string) (bool, error) {
	c, err := Client(ctx)
	if err != nil {
		return false, err
	}
	_, err = c.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// RemoveContainer force-removes one container (running, paused or only
// created) with its volumes; one already gone is not an error.
func RemoveContainer(ctx context.Context, id string) error {
	c, err := Client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove container %s: %w", short12(id), err)
	}
	return nil
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// CgroupDriver is the engine's cgroup driver ("cgroupfs", "systemd"): a
// cgroup parent given as a path (stacks' CPU budgets) needs cgroupfs. It
// asks the engine once per process (every stack's boot wants it); a failed
// question is asked again next time.
func CgroupDriver(ctx context.Context) (string, error) {
	if d, ok := cgroupDriver.Load().(string); ok {
		return d, nil
	}
	info, err := engineInfo(ctx)
	if err != nil {
		return "", err
	}
	cgroupDriver.Store(info.CgroupDriver)
	return info.CgroupDriver, nil
}

var cgroupDriver atomic.Value // string, once known

// StorageDriver is the engine's storage driver ("overlay2",
// "fuse-overlayfs", ...). Under fuse-overlayfs every file operation of a
// container goes through a user-space daemon. The machines seen with it are
// also VMs where starting a process is slow (fork+exit 8.5 ms, a PostgreSQL
// connection 22 ms, on the host as in a container): measured on 2 cores,
// two stacks side by side drove the load average to 30-40 and broke
// recovery guarantees of runs that pass alone, where one stack at a time
// ran as expected. See SlowStorage.
func StorageDriver(ctx context.Context) (string, error) {
	info, err := engineInfo(ctx)
	if err != nil {
		return "", err
	}
	return info.Driver, nil
}

// engineInfo is docker info.
func engineInfo(ctx context.Context) (system.Info, error) {
	c, err := Client(ctx)
	if err != nil {
		return system.Info{}, err
	}
	res, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return system.Info{}, fmt.Errorf("docker info: %w", err)
	}
	return res.Info, nil
}

// SlowStorage: the engine's storage cannot take two stacks at once
// (fuse-overlayfs); runs then go one at a time by default.
func SlowStorage(driver string) bool { return driver == "fuse-overlayfs" }

// RunningStacks counts the running containers of every scalelab stack on
// this engine (whatever run or process owns it), by stack: what else a run
// that starts now shares the machine with.
func RunningStacks(ctx context.Context) (map[string]int, error) {
	c, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	f := make(client.Filters).Add("label", LabelStackID)
	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list running scalelab containers: %w", err)
	}
	out := make(map[string]int)
	for _, ct := range ctrs.Items {
		out[ct.Labels[LabelStack]+"/"+ct.Labels[LabelStackID]]++
	}
	return out, nil
}

// RootDir is the engine's data directory (docker info's DockerRootDir):
// where its containers' and volumes' files go.
func RootDir(ctx context.Context) (string, error) {
	info, err := engineInfo(ctx)
	if err != nil {
		return "", err
	}
	return info.DockerRootDir, nil
}

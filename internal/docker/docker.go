// Package docker is scalelab's access to the Docker engine: the client, the
// labels that mark what a run created, and reaping what runs left behind.
//
// testcontainers-go normally relies on Ryuk, a reaper container, to remove a
// killed test's containers. Ryuk's image cannot be pulled here, so scalelab
// turns it off and labels everything it creates with its run id, its pid and
// the pid's start time; a later run (or `scalelab down`) removes whatever
// belongs to a process that is gone.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Labels scalelab puts on every container and network. They must not start
// with org.testcontainers (that prefix is testcontainers' own).
const (
	LabelRun      = "scalelab.run"      // run id: one process, one run
	LabelPID      = "scalelab.pid"      // the process that owns the run
	LabelPIDStart = "scalelab.pidstart" // its start time, so a reused pid is not mistaken for it
	LabelStack    = "scalelab.stack"
	LabelNode     = "scalelab.node"
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
	runOnce.Do(func() {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		runID = time.Now().UTC().Format("0102-150405") + "-" + hex.EncodeToString(b)
	})
	return runID
}

// RunLabels are the labels for a resource this run creates.
func RunLabels(extra map[string]string) map[string]string {
	l := map[string]string{
		LabelRun:      RunID(),
		LabelPID:      strconv.Itoa(os.Getpid()),
		LabelPIDStart: procStart(os.Getpid()),
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
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

// alive tells whether the process that labelled a resource still runs.
func alive(labels map[string]string) bool {
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return procStart(pid) == labels[LabelPIDStart]
}

var (
	clientOnce sync.Once
	cli        *client.Client
	cliErr     error
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
	})
	return cli, cliErr
}

// Leftovers is what a reap found or removed.
type Leftovers struct {
	Containers, Networks int
	Runs                 []string
}

// Reap removes the containers and networks of scalelab runs. With all=false
// it keeps runs whose owning process still lives (and always this run's);
// with all=true (`scalelab down`) it removes every one.
func Reap(ctx context.Context, all bool) (Leftovers, error) {
	var res Leftovers
	c, err := Client(ctx)
	if err != nil {
		return res, err
	}
	keep := func(labels map[string]string) bool {
		if all {
			return false
		}
		return labels[LabelRun] == RunID() || alive(labels)
	}
	runs := map[string]bool{}
	var errs []error

	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", LabelRun)})
	if err != nil {
		return res, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range ctrs.Items {
		if keep(ct.Labels) {
			continue
		}
		if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", ct.ID[:12], err))
			continue
		}
		res.Containers++
		runs[ct.Labels[LabelRun]] = true
	}
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", LabelRun)})
	if err != nil {
		return res, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets.Items {
		if keep(n.Labels) {
			continue
		}
		if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		res.Networks++
		runs[n.Labels[LabelRun]] = true
	}
	for r := range runs {
		res.Runs = append(res.Runs, r)
	}
	return res, errors.Join(errs...)
}

// ReapRun removes everything of one run (this process's own teardown backstop).
func ReapRun(ctx context.Context, run string) error {
	c, err := Client(ctx)
	if err != nil {
		return err
	}
	var errs []error
	f := make(client.Filters).Add("label", LabelRun+"="+run)
	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range ctrs.Items {
		if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets.Items {
		if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

const usageUp = `scalelab up <stage> [--set key=value]... [--no-page]

Boots the stage's stack and keeps it up until Ctrl-C, then removes everything.
Prints the entry points (URLs on 127.0.0.1), the links, and the commands that break
the stack from a second terminal (scalelab fault, scalelab heal). Unless --no-page,
it also drives the stage's workload at the stack and serves a live page on
127.0.0.1 (its URL is printed): the stack's diagram, the last minute's requests,
and a button per fault.

Example:
  scalelab up separate-db --set timeout=2s
  curl -s -X PUT localhost:PORT/users/u1 -d '{"id":"u1","firstName":"Ada"}'`

const usageFault = `scalelab fault <fault> [--set key=value]...

Injects one of the running stage's faults into the stack kept by scalelab up (in
another terminal), and waits until it has landed. Faults stay until healed.

Examples:
  scalelab fault db-latency --set latency=3s
  scalelab fault kill-db`

const usageHeal = `scalelab heal [<fault>]

Heals the named fault, or every fault injected with scalelab fault, in the stack
kept by scalelab up, and waits until the system is back.

Examples:
  scalelab heal
  scalelab heal db-latency`

// upState is what `scalelab up` tells the other commands: where its control
// endpoint listens (127.0.0.1 only).
type upState struct {
	PID   int    `json:"pid"`
	Addr  string `json:"addr"`
	Stage string `json:"stage"`
	// Token is required on every request to the control endpoint: anything
	// on this machine can reach a loopback port (a web page a browser
	// opened among them), and only the user who can read the state file
	// (0600) may break the stack.
	Token string `json:"token"`
}

func statePath() string {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, fmt.Sprintf("scalelab-up-%d.json", os.Getuid()))
}

func readState() (upState, error) {
	var st upState
	data, err := os.ReadFile(statePath())
	if err != nil {
		return st, errors.New("no stack is up: start one with `scalelab up <stage>` in another terminal")
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("read %s: %w", statePath(), err)
	}
	if syscall.Kill(st.PID, 0) != nil {
		os.Remove(statePath())
		return st, errors.New("no stack is up (the scalelab up that wrote the state is gone): start one with `scalelab up <stage>`")
	}
	return st, nil
}

func runUp(ctx context.Context, args []string) error {
	fs := flags("up")
	var sets multiFlag
	fs.Var(&sets, "set", "a setting as key=value; repeatable")
	noPage := fs.Bool("no-page", false, "no live page (and no workload): only the stack and its control endpoint")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("name one stage: scalelab up <stage> (stages: %s)", stageIDs())
	}
	st, err := stage.Get(pos[0])
	if err != nil {
		return err
	}
	if prev, err := readState(); err == nil {
		return fmt.Errorf("a stack is already up (stage %s, pid %d): stop it with Ctrl-C there first", prev.Stage, prev.PID)
	}
	given, err := stage.ParseSet(sets)
	if err != nil {
		return err
	}
	set, err := st.Resolve(given)
	if err != nil {
		return err
	}
	p := newProgress()
	stack, err := stacks.Boot(ctx, st.Stack(set), stacks.WithProgress(p.Line))
	defer func() {
		p.Line("removing the stack")
		if err := stack.Terminate(ctx); err != nil {
			p.Line("warning: " + err.Error())
		}
	}()
	if err != nil {
		return err
	}

	srv := &controller{stage: st, stack: stack, set: set, active: map[string][]*faults.Injection{}, say: p.Line, token: docker.RandomID(16)}
	srv.show()
	mux := http.NewServeMux()
	mux.Handle("/fault", srv)
	mux.Handle("/heal", srv)
	var page *livePage
	if !*noPage {
		p.Line("starting the stage's workload for the live page")
		lctx, stopLive := context.WithCancel(ctx)
		live, err := engine.StartLive(lctx, st, set, stack)
		if err != nil {
			stopLive()
			return fmt.Errorf("live page: %w", err)
		}
		defer func() { stopLive(); live.Wait() }()
		srv.rec = live.Rec
		page = newLivePage(ctx, st, set, stack, live, srv)
		page.routes(mux)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("control endpoint: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	data, _ := json.Marshal(upState{PID: os.Getpid(), Addr: ln.Addr().String(), Stage: st.ID, Token: srv.token})
	if err := os.WriteFile(statePath(), data, 0o600); err != nil {
		return err
	}
	defer os.Remove(statePath())
	defer srv.healAll(context.WithoutCancel(ctx))

	fmt.Printf("\nstage %s is up. Settings: %s\n\nEntry points (this machine only):\n", st.ID, set)
	for _, l := range stack.Topology.Links {
		if l.From == stacks.Client {
			url, _ := stack.URL(ctx, l.Name())
			if to, _ := stack.Topology.Node(l.To); to.Role.Port == stacks.DNSPort {
				// A DNS server (stage 8) answers DNS over TCP, not HTTP.
				addr, _ := stack.Addr(ctx, l.Name())
				url = addr + " (DNS over TCP)"
			}
			fmt.Printf("  %-16s %s\n", l.Name(), url)
		}
	}
	if st.Site != nil {
		// A site reached by name: the entry link is its DNS server (TCP).
		dns, _ := stack.Addr(ctx, st.Entry)
		host, port, _ := strings.Cut(dns, ":")
		site := st.Site(set)
		fmt.Printf("\nThe site is %s: ask its DNS server as a client of a region, e.g.\n", site.Name)
		// The first client and the last: with the default split, one of
		// each region.
		for _, c := range []int{0, workload.DefaultClients - 1} {
			fmt.Printf("  dig +tcp -p %s @%s +subnet=%s %s\n", port, host, site.Subnet(c), site.Name)
		}
	}
	fmt.Printf("\nLinks (each through Toxiproxy): %s\n\nBreak it from another terminal:\n", strings.Join(stack.Topology.LinkNames(), ", "))
	for _, f := range st.Faults {
		fmt.Printf("  scalelab fault %-12s # %s\n", f.ID, f.Help)
	}
	fmt.Printf("  scalelab heal                 # heal every fault\n\nTry: curl -s %s/healthz\n", firstEntry(ctx, stack))
	if page != nil {
		fmt.Printf("\nLive page (watch it, break it with a click; the link carries the token that lets it inject faults):\n  http://%s/?token=%s\n", ln.Addr(), srv.token)
	}
	fmt.Printf("Ctrl-C stops it and removes everything.\n")
	<-ctx.Done()
	return nil
}

func firstEntry(ctx context.Context, s *stacks.Stack) string {
	for _, l := range s.Topology.Links {
		// A DNS server's link (client->dns) serves no HTTP.
		if to, _ := s.Topology.Node(l.To); l.From == stacks.Client && to.Role.Port != stacks.DNSPort {
			u, _ := s.URL(ctx, l.Name())
			return u
		}
	}
	return ""
}

// controller is the control endpoint of `scalelab up`: it injects and heals
// faults on the stack it holds, so that a second terminal needs no state of
// its own.
type controller struct {
	stage stage.Stage
	stack *stacks.Stack
	set   stage.Settings
	say   func(string)
	token string // upState.Token
	// rec, when the live page runs, records every fault event on the live
	// workload's clock.
	rec *workload.Recorder

	mu     sync.Mutex
	active map[string][]*faults.Injection
	last   *lastFault // with rec only
	// shown is what the live page reads of active (faults and their
	// targets) without waiting for an inject or a heal that holds mu.
	shown atomic.Pointer[faultsShown]
}

// faultsShown are the faults in place and the nodes and links they target,
// and the fault injected last.
type faultsShown struct {
	Active  []string
	Targets map[string]bool
	Last    *lastFault
}

// lastFault is the fault injected last, on the live workload's clock: the
// live page judges its guarantees.
type lastFault struct {
	ID           string
	Set          stage.Settings
	Inject, Heal time.Duration // Heal: 0 until healed
}

// show updates shown; c.mu is held.
func (c *controller) show() {
	fs := &faultsShown{Active: sortedKeys(c.active), Targets: map[string]bool{}}
	if c.last != nil {
		last := *c.last
		fs.Last = &last
	}
	for _, ins := range c.active {
		for _, in := range ins {
			fs.Targets[in.Fault.Target()] = true
		}
	}
	c.shown.Store(fs)
}

// event records a fault event for the live page, if it runs.
func (c *controller) event(kind history.EventKind, fault string) {
	if c.rec != nil {
		c.rec.Event(kind, fault, "")
	}
}

type controlRequest struct {
	Fault string         `json:"fault"`
	Set   stage.Settings `json:"set"`
}

type controlAnswer struct {
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

func (c *controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The token, and a JSON body: a browser sends a cross-site request
	// with application/json only after a preflight this endpoint never
	// answers, so a page cannot post here even if it guessed the token.
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || c.token == "" ||
		subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
		refuse(w, http.StatusUnauthorized, "no valid token: the control endpoint of scalelab up takes requests of scalelab fault and heal only")
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		refuse(w, http.StatusUnsupportedMediaType, "POST application/json only")
		return
	}
	var req controlRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		answer(w, "", fmt.Errorf("bad request: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	switch r.URL.Path {
	case "/fault":
		msg, err := c.inject(ctx, req)
		answer(w, msg, err)
	case "/heal":
		msg, err := c.heal(ctx, req.Fault)
		answer(w, msg, err)
	default:
		http.NotFound(w, r)
	}
}

// refuse answers a request the endpoint does not take.
func refuse(w http.ResponseWriter, code int, why string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(controlAnswer{Error: why})
}

func answer(w http.ResponseWriter, msg string, err error) {
	a := controlAnswer{Message: msg}
	if err != nil {
		a.Error = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

func (c *controller) inject(ctx context.Context, req controlRequest) (string, error) {
	f, err := c.stage.Fault(req.Fault)
	if err != nil {
		return "", err
	}
	given := stage.Settings{}
	for k, v := range c.set {
		given[k] = v
	}
	for k, v := range req.Set {
		given[k] = v
	}
	set, err := c.stage.Resolve(given, f)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.active[f.ID]; ok {
		return "", fmt.Errorf("%s is already injected: scalelab heal %s first", f.ID, f.ID)
	}
	defer c.show()
	if c.rec != nil {
		c.last = &lastFault{ID: f.ID, Set: set, Inject: c.rec.Clock().Now()}
	}
	var lines []string
	for _, step := range faults.Steps(f.Inject(set)) {
		ins, err := faults.ApplyStep(ctx, c.stack, step, func(flt faults.Fault) { c.event(history.FaultInjected, flt.Name()) })
		for _, in := range ins {
			c.active[f.ID] = append(c.active[f.ID], in)
			c.say("injected: " + in.Fault.Name())
			lines = append(lines, "injected: "+in.Fault.Name())
		}
		if errors.Is(err, faults.ErrNotLanded) {
			// A step that did not land in time may still: say so, go on.
			lines = append(lines, "warning: "+err.Error())
			continue
		}
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		for _, in := range ins {
			lines = append(lines, "landed: "+in.Fault.Name())
		}
	}
	return strings.Join(lines, "\n"), nil
}

func (c *controller) heal(ctx context.Context, id string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.active) == 0 {
		return "nothing to heal", nil
	}
	ids := sortedKeys(c.active)
	if id != "" {
		if _, ok := c.active[id]; !ok {
			return "", fmt.Errorf("%s is not injected (injected: %s)", id, strings.Join(ids, ", "))
		}
		ids = []string{id}
	}
	defer c.show()
	var lines []string
	var errs []error
	for _, fid := range ids {
		if c.rec != nil && c.last != nil && c.last.ID == fid {
			c.last.Heal = c.rec.Clock().Now()
		}
		err := faults.HealAll(ctx, c.active[fid], func(in *faults.Injection) { c.event(history.FaultHealed, in.Fault.Name()) })
		for _, t := range faults.Tallies(c.active[fid]) {
			if c.rec != nil {
				c.rec.AddTally(t) // what a flood's requests got, for the live verdict
			}
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			c.say("healed: " + fid)
			lines = append(lines, "healed: "+fid)
		}
		delete(c.active, fid)
	}
	return strings.Join(lines, "\n"), errors.Join(errs...)
}

func (c *controller) healAll(ctx context.Context) {
	if msg, err := c.heal(ctx, ""); err != nil {
		c.say("warning: healing on the way out: " + err.Error())
	} else if msg != "nothing to heal" {
		c.say(msg)
	}
}

// send posts a request to the running `scalelab up`.
func send(ctx context.Context, path string, req controlRequest) error {
	st, err := readState()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+st.Addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+st.Token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 3 * time.Minute}).Do(hreq)
	if err != nil {
		return fmt.Errorf("the scalelab up of stage %s (pid %d) does not answer: %w", st.Stage, st.PID, err)
	}
	defer resp.Body.Close()
	var a controlAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return fmt.Errorf("bad answer from scalelab up: %w", err)
	}
	if a.Message != "" {
		fmt.Println(a.Message)
	}
	if a.Error != "" {
		return errors.New(a.Error)
	}
	return nil
}

func runFault(ctx context.Context, args []string) error {
	fs := flags("fault")
	var sets multiFlag
	fs.Var(&sets, "set", "a setting as key=value; repeatable")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		if st, err := readState(); err == nil {
			s, _ := stage.Get(st.Stage)
			return fmt.Errorf("name one fault: scalelab fault <fault> (faults of %s: %s)", st.Stage, faultList(s))
		}
		return errors.New("name one fault: scalelab fault <fault>")
	}
	set, err := stage.ParseSet(sets)
	if err != nil {
		return err
	}
	return send(ctx, "/fault", controlRequest{Fault: pos[0], Set: set})
}

func runHeal(ctx context.Context, args []string) error {
	fs := flags("heal")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return errors.New("heal takes at most one fault: scalelab heal [<fault>]")
	}
	req := controlRequest{}
	if len(pos) == 1 {
		req.Fault = pos[0]
	}
	return send(ctx, "/heal", req)
}

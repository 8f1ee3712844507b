package specs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/engine"
)

// Ctrl-C at any moment of a run removes everything the run started: the
// exit code says the interrupt was taken (130), and no container or network
// of the run is left, whether the interrupt lands while a container is being
// created, while the fault is in place, or while the written keys are read
// back. Once in 23 interrupts 1 s into a run used to leave 6 containers: a
// create request cut short by the interrupt still made its container on the
// engine, with no handle left to remove it.
//
// Each moment is a progress line of `scalelab run separate-db --fault
// db-down` (the cheapest run with boot, fault, cool-down and read-back) plus
// a delay, so that every run is interrupted in the phase it names whatever
// the machine's speed; a boot moment aims at a create request in flight.
// Two runs go at once (the machine has 2 cores); each is judged by its own
// run id and pid labels only.

// interruptMoment is when to send SIGINT: delay after the first output line
// that starts with after ("": after the process started).
type interruptMoment struct {
	phase, after string
	delay        time.Duration
}

// interruptMoments spreads the interrupts over the run's phases, as long as
// the engine plans them for separate-db under db-down (the cool-down lasts
// as long as the recovery bound needs, so it is read from the plan).
func interruptMoments() []interruptMoment {
	plan, err := engine.Resolve(engine.Spec{Stage: "separate-db", Fault: "db-down"})
	Expect(err).NotTo(HaveOccurred())
	warm, cool := plan.Spec.Warmup, plan.Spec.Cooldown
	return []interruptMoment{
		// The run's first line: settings resolved, the reap and the network
		// create to come. (A fixed delay after the start could land before
		// the process caught the signal at all, on a loaded machine.)
		{"boot: reaping, creating the network", "run ", 0},
		{"boot: network create in flight", "booting the stack", 0},
		{"boot: network create in flight", "booting the stack", 60 * time.Millisecond},
		{"boot: toxiproxy create in flight", "starting toxiproxy", 0},
		{"boot: toxiproxy create in flight", "starting toxiproxy", 20 * time.Millisecond},
		{"boot: toxiproxy starting", "starting toxiproxy", 150 * time.Millisecond},
		{"boot: db and web creates in flight", "starting db", 0},
		{"boot: db and web creates in flight", "starting db", 30 * time.Millisecond},
		{"boot: web still starting", "db ready", 0},
		{"warm-up", "workload:", 0},
		{"warm-up", "workload:", warm / 2},
		{"fault: injecting", "injecting:", 0},
		{"fault: in place", "injecting:", 2500 * time.Millisecond},
		{"heal", "healing:", 0},
		{"cool-down", "cooling down", 0},
		{"cool-down", "cooling down", cool / 2},
		{"cool-down: its end", "cooling down", cool - 1500*time.Millisecond},
		{"read-back", "reading every written key back", 0},
		{"read-back", "reading every written key back", 20 * time.Millisecond},
		{"judging and teardown: the run has finished", "seen:", 0},
	}
}

// finishedLine is printed once the run is judged: an interrupt after it may
// find the run done, and then 0 or 1 is the right exit code.
const finishedLine = "seen:"

type interruptResult struct {
	m           interruptMoment
	pid         int
	runID       string
	signalled   bool   // false: the process was gone before the signal
	lastLine    string // the last progress line before the signal
	finished    bool   // the run had been judged before the signal
	signalAfter time.Duration
	exit        int
	wall        time.Duration
	output      string
	left        []string
	err         error
}

var (
	runIDLine = regexp.MustCompile(`\brun (\S+): stage `)
	// A run's boot removes what dead runs of this host left: with two runs
	// at once, one could remove the other's leftovers before the spec looks.
	// Its line names them, so such a leftover still counts.
	reapedLine = regexp.MustCompile(`left by dead runs \[([^\]]*)\]`)
)

// interruptRun starts one run, sends SIGINT at m, waits for the exit and
// lists what is left with the run's labels.
func interruptRun(ctx context.Context, i int, m interruptMoment) (r interruptResult) {
	r.m = m
	start := time.Now()
	defer func() { r.wall = time.Since(start) }()
	pr, pw, err := os.Pipe()
	if err != nil {
		r.err = fmt.Errorf("pipe: %w", err)
		return r
	}
	defer pr.Close()
	cmd := exec.Command(scalelabBinary(), "run", "separate-db", "--fault", "db-down")
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		r.err = fmt.Errorf("start scalelab: %w", err)
		return r
	}
	r.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	// Every output line, to the log, and to the trigger while it waits.
	var mu sync.Mutex
	var out strings.Builder
	var last string
	lines, stopLines := make(chan string), make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l := sc.Text()
			GinkgoWriter.Printf("[%02d] %s\n", i, l)
			msg := l
			if f := strings.SplitN(l, " ", 2); len(f) == 2 && strings.Count(f[0], ":") == 2 {
				msg = strings.TrimSpace(f[1]) // drop the time stamp
			}
			mu.Lock()
			out.WriteString(l + "\n")
			if m := runIDLine.FindStringSubmatch(l); m != nil && r.runID == "" {
				r.runID = m[1]
			}
			last = msg
			mu.Unlock()
			select {
			case lines <- msg:
			case <-stopLines: // the moment has come: nobody reads any more
			}
		}
	}()

	// Wait for the moment: its line, then its delay.
	reached := m.after == ""
wait:
	for !reached {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			reached = strings.HasPrefix(l, m.after)
		case <-exited:
			break wait
		case <-ctx.Done():
			// The spec is out of time: interrupt now, so that the run
			// still removes its stack.
			r.err = fmt.Errorf("before the moment: %w", ctx.Err())
			break wait
		}
	}
	close(stopLines)
	if reached {
		delay := m.delay
		if m.after == "" {
			delay -= time.Since(start)
		}
		select {
		case <-time.After(delay):
		case <-exited:
		}
	}
	mu.Lock()
	r.lastLine, r.finished = last, strings.Contains(out.String(), finishedLine)
	mu.Unlock()
	r.signalAfter = time.Since(start)
	switch err := cmd.Process.Signal(os.Interrupt); {
	case err == nil:
		r.signalled = true
	case errors.Is(err, os.ErrProcessDone):
	default:
		r.err = fmt.Errorf("send SIGINT: %w", err)
	}

	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-exited
		r.err = errors.Join(r.err, errors.New("still running 2 minutes after SIGINT: killed"))
	}
	<-scanned
	r.exit = cmd.ProcessState.ExitCode()
	mu.Lock()
	r.output = out.String()
	mu.Unlock()

	// What is left: by run id where the run printed it, and by the pid (with
	// this machine's boot id: the pid is this host's) in any case. Listed at
	// once and again after a pause, since the engine shows a resource whose
	// create request was cut short only some time later.
	byPID := []string{docker.LabelPID + "=" + strconv.Itoa(r.pid), docker.LabelBootID + "=" + docker.Self().Host.BootID}
	for _, pause := range []time.Duration{0, 2 * time.Second} {
		time.Sleep(pause)
		seen := map[string]bool{}
		sets := [][]string{byPID}
		if r.runID != "" {
			sets = append(sets, []string{docker.LabelRun + "=" + r.runID})
		}
		for _, ls := range sets {
			left, err := labelled(ctx, ls...)
			if err != nil {
				r.err = errors.Join(r.err, err)
			}
			for _, l := range left {
				if !seen[l] {
					seen[l] = true
					r.left = append(r.left, l)
				}
			}
		}
		if len(r.left) > 0 {
			break
		}
	}
	return r
}

var _ = Describe("Ctrl-C", Label("lifecycle"), func() {
	It("at any moment of a run (boot, fault, cool-down, read-back) exits 130 and leaves no container or network of the run", Label("stage:separate-db"), func(ctx SpecContext) {
		moments := interruptMoments()
		results := make([]interruptResult, len(moments))
		sem := make(chan struct{}, 2) // at most 2 runs at once: 2 cores
		var wg sync.WaitGroup
		for i, m := range moments {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				results[i] = interruptRun(ctx, i, m)
			}()
		}
		wg.Wait()

		reapedBy := map[string]string{} // run id -> the run whose boot removed its leftovers
		for _, r := range results {
			for _, m := range reapedLine.FindAllStringSubmatch(r.output, -1) {
				for _, id := range strings.Fields(m[1]) {
					reapedBy[id] = r.runID
				}
			}
		}

		var table strings.Builder
		var problems []string
		fmt.Fprintf(&table, "%-3s %-80s %-7s %-4s %-6s %s\n", "#", "moment", "SIGINT", "exit", "wall", "last line before SIGINT")
		for i, r := range results {
			fmt.Fprintf(&table, "%02d  %-80s %6.2fs %-4d %5.1fs  %.90s\n", i, fmt.Sprintf("%s (%q+%s)", r.m.phase, r.m.after, r.m.delay),
				r.signalAfter.Seconds(), r.exit, r.wall.Seconds(), r.lastLine)
			say := func(f string, a ...any) {
				problems = append(problems, fmt.Sprintf("moment %02d (%s, run %s, pid %d): ", i, r.m.phase, r.runID, r.pid)+fmt.Sprintf(f, a...))
			}
			if r.err != nil {
				say("%v", r.err)
			}
			if !r.signalled {
				say("the run ended (exit %d) before its moment: move the moment earlier", r.exit)
			}
			switch {
			case r.exit == 130:
				if !strings.Contains(r.output, "interrupted; everything it started was removed") {
					say("exit 130 without saying everything was removed:\n%s", r.output)
				}
			case r.finished && (r.exit == 0 || r.exit == 1):
				// The run had been judged: its own exit code stands.
			default:
				say("exit %d, want 130 (0 or 1 only once the run was judged):\n%s", r.exit, r.output)
			}
			if strings.Contains(r.output, "had left behind") || strings.Contains(r.output, "no handle on") {
				say("the stack's teardown missed something (a backstop found it):\n%s", r.output)
			}
			if len(r.left) > 0 {
				say("left behind: %s", strings.Join(r.left, ", "))
			}
			if by, ok := reapedBy[r.runID]; ok && r.runID != "" {
				say("left something behind, which the boot of run %s removed", by)
			}
		}
		AddReportEntry("interrupts", table.String())
		GinkgoWriter.Print(table.String())
		Expect(problems).To(BeEmpty(), strings.Join(problems, "\n"))
	}, SpecTimeout(8*time.Minute))
})

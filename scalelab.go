// Package scalelab puts a service of your own through the lab's faults, from
// a Ginkgo suite of your own, and judges it with the lab's guarantees.
//
// You describe your system as a Stage, the same data every stage of the lab
// is: its nodes (your server as a Program, next to the lab's roles:
// Postgres, Redis, ...), the links between them (every connection goes
// through Toxiproxy, named "from->to", so that faults can reach it), the
// faults (from the faults package: faults.Latency{Link: "api->db"},
// faults.Kill{Node: "api"}, ...), the guarantees each fault must keep, and
// for every guarantee a negative control under which it must break
// (Register refuses a stage where one cannot fail). A Service adapter tells
// the workload how to write and read a key of your HTTP API and what an
// answer means (OK, Failed, or Unknown for a write that may have happened);
// SendHTTP applies the lab's rules to one exchange.
//
// Run boots the stack, drives the workload, injects and heals the fault,
// and judges the run; HoldEveryGuarantee and Break are its Gomega matchers,
// WriteReport writes the report.json and report.html the lab writes:
//
//	res, err := scalelab.Run(ctx, scalelab.Spec{Stage: "kv", Fault: "kill-api"})
//	Expect(err).NotTo(HaveOccurred())
//	Expect(res).To(scalelab.HoldEveryGuarantee())
//
//	ctl, err := scalelab.Run(ctx, scalelab.Spec{Stage: "kv", Fault: "kill-api", Control: "acknowledged before stored"})
//	Expect(ctl).To(scalelab.Break(scalelab.NoLostWrites))
//
// The nodes run from the lab's image (`make images` in the scalelab
// checkout: nothing is pulled); your server is copied into its node as a
// static Linux binary. examples/gate-your-service is a whole suite.
package scalelab

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/expect"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/images"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// The types a system is described with: the lab's own, so that a stage of
// yours and the lab's are the same data, run by the same engine.
type (
	Stage     = stage.Stage
	Fault     = stage.Fault
	Control   = stage.Control
	Setting   = stage.Setting
	Settings  = stage.Settings
	Evidence  = stage.Evidence
	Guarantee = verdict.Guarantee

	Topology = stacks.Topology
	Node     = stacks.Node
	Link     = stacks.Link
	Role     = stacks.Role

	Service        = workload.Service
	NewService     = workload.NewService
	Reply          = workload.Reply
	Outcome        = history.Outcome
	Kind           = history.Kind
	WorkloadConfig = workload.Config

	Spec   = engine.Spec
	Result = engine.Result
)

// What a Service's call learnt.
const (
	OK      = history.OK      // acknowledged, or read
	Failed  = history.Failed  // certainly had no effect
	Unknown = history.Unknown // a write that may have taken effect
)

// The kinds of op SendHTTP classifies.
const (
	Read  = history.Read
	Write = history.Write
)

// Client is the pseudo-node of the machine the suite runs on: the link
// "client->api" is the stack's entry, which the workload uses.
const Client = stacks.Client

// The guarantees' names, for Control.Breaks and Break.
const (
	Recovers      = stage.Recovers
	NoLostWrites  = stage.NoLostWrites
	FailFast      = stage.FailFast
	AvailableHigh = stage.AvailableHigh
	DownDuring    = stage.DownDuring
)

// Roles, guarantees, settings and matchers: the lab's own.
var (
	// Program runs your server: a static Linux binary on this machine.
	Program     = stacks.Program
	Postgres    = stacks.Postgres
	Redis       = stacks.Redis
	PostgresDSN = stacks.PostgresDSN

	RecoversWithin          = stage.RecoversWithin
	KeepsAcknowledgedWrites = stage.KeepsAcknowledgedWrites
	FailsFastWithin         = stage.FailsFastWithin
	StaysAvailable          = stage.StaysAvailable
	ErrorsDuring            = stage.ErrorsDuring
	LateRecovery            = stage.LateRecovery

	// Settings of a stage (declared once, read with Get) and a control's
	// values (Values(timeout.Is(0))).
	Duration = stage.Duration
	Choice   = stage.Choice
	Values   = stage.Values

	SendHTTP = workload.SendHTTP

	HoldEveryGuarantee = expect.HoldEveryGuarantee
	Break              = expect.Break
)

// Register adds your stage, after checking it as the lab checks its own
// (Stage.Validate): its topology, and a negative control for every
// guarantee a fault judges.
func Register(s Stage) error {
	if s.Service == nil {
		return fmt.Errorf("stage %q: no Service: the workload needs an adapter to read and write your API", s.ID)
	}
	if s.Number == 0 {
		s.Number = 100 // listed after the lab's stages
	}
	return stage.Register(s)
}

// Run runs spec: the fault, or with spec.Control one of its negative
// controls (as many attempts as the control asks). The result is returned
// with the error when the run went partway (a stack that did not boot).
func Run(ctx context.Context, spec Spec) (*Result, error) {
	if spec.Control == "" {
		return engine.Run(ctx, spec)
	}
	res, _, err := engine.RunControl(ctx, spec)
	return res, err
}

// WriteReport writes dir/report.json and dir/report.html for a run.
func WriteReport(dir string, res *Result) error {
	if res == nil {
		return errors.New("no result to report")
	}
	return report.Write(dir, res)
}

// CheckImage tells whether the lab's node image exists (built by `make
// images` in the scalelab checkout); nothing can be pulled.
func CheckImage(ctx context.Context) error {
	ok, err := docker.ImageExists(ctx, images.Current)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	if !ok {
		return fmt.Errorf("image %s is missing: run `make images` in the scalelab checkout", images.Current)
	}
	return nil
}

// Cleanup removes every container and network this process started and
// did not remove (a backstop: every run removes its own stack). Call it in
// an AfterSuite, which Ginkgo also runs on Ctrl-C.
func Cleanup(ctx context.Context) error { return docker.ReapRun(ctx, docker.RunID()) }

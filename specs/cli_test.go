package specs

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// The scalelab command as CI pipelines and workshop attendees use it: its
// exit codes and bad-input messages are a contract, and so are report.json's
// fields.
var _ = Describe("The scalelab command", Label("cli"), func() {
	scalelab := func(args ...string) *gexec.Session {
		s, err := gexec.Start(exec.Command(scalelabBinary(), args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s
	}

	DescribeTable("answers bad input in one line that says what is valid, with exit code 2",
		func(want string, args ...string) {
			s := scalelab(args...)
			Eventually(s).WithTimeout(30 * time.Second).Should(gexec.Exit(2))
			Expect(s.Err).To(gbytes.Say(want))
			Expect(s.Err.Contents()).NotTo(ContainSubstring("goroutine"), "no stack trace")
		},
		Entry("no command", "Usage: scalelab <command>"),
		Entry("an unknown command", `unknown command "bogus" \(commands: stages, faults, run`, "bogus"),
		Entry("an unknown stage", `unknown stage "nope" \(stages: single-server, separate-db`, "run", "nope", "--fault", "x"),
		Entry("no fault", `--fault is required \(faults of separate-db: db-latency, db-down, kill-db\)`, "run", "separate-db"),
		Entry("an unknown fault", `stage separate-db has no fault "nope" \(faults: db-latency, db-down, kill-db\)`, "run", "separate-db", "--fault", "nope"),
		Entry("a --set without =", `--set "timeout": want key=value, e.g. --set timeout=2s`, "run", "separate-db", "--fault", "db-down", "--set", "timeout"),
		Entry("an unknown setting", `no setting "speed" \(settings: durability, how, timeout, writes\)`, "run", "separate-db", "--fault", "db-down", "--set", "speed=3"),
		Entry("a bad setting value", `setting timeout="soon": want a duration like 2s or 200ms`, "run", "separate-db", "--fault", "db-down", "--set", "timeout=soon"),
		Entry("an unknown control", `fault db-down has no control "nope" \(controls: "no-op in place of the cut", "mysite without a database timeout"`, "run", "separate-db", "--fault", "db-down", "--control", "nope"),
		Entry("settings that make a check vacuous: a negative availability floor", `the availability floor .* is -\d`, "run", "load-balancer", "--fault", "kill-web", "--set", "servers=1", "--set", "check_interval=2s"),
		Entry("settings that make a check vacuous: a slow server with no latency", `slow-web with latency=0s: no server is slow`, "run", "load-balancer", "--fault", "slow-web", "--set", "latency=0s"),
		Entry("settings that make a check vacuous: a failover due after the heal", `failover_after \(8s\) is not inside the fault window`, "run", "replication", "--fault", "kill-primary", "--set", "failover_after=8s"),
		Entry("faults of an unknown stage", `unknown stage "nope"`, "faults", "nope"),
		Entry("fault with no stack up", `no stack is up: start one with .scalelab up <stage>.`, "fault", "db-down"),
	)

	It("exits 0 when every guarantee held and writes report.json with the documented fields", Label("stage:single-server"), func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		s := scalelab("run", "single-server", "--fault", "kill-server", "--report", dir)
		Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("PASSED"))

		data, err := os.ReadFile(filepath.Join(dir, "report.json"))
		Expect(err).NotTo(HaveOccurred())
		var rep map[string]any
		Expect(json.Unmarshal(data, &rep)).To(Succeed())
		Expect(rep).To(HaveKey("stage"))
		for _, k := range []string{"stage", "fault", "settings", "seed", "timeline", "requests", "availability", "recovery_s",
			"latency_ms", "writes", "reads", "sessions", "guarantees", "passed", "sampled"} {
			Expect(rep).To(HaveKey(k))
		}
		Expect(rep["stage"]).To(Equal("single-server"))
		Expect(rep["passed"]).To(BeTrue())
		Expect(rep["timeline"]).To(HaveKey("fault_at_s"))
		Expect(rep["timeline"]).To(HaveKey("heal_at_s"))
		Expect(rep["availability"]).To(HaveKey("during"))
		Expect(rep["writes"]).To(HaveKeyWithValue("lost", BeNumerically("==", 0)))
		Expect(rep["reads"]).To(And(HaveKey("max_staleness_ms"), HaveKey("max_versions_behind")))
		Expect(rep["writes"]).To(HaveKeyWithValue("late", HaveKey("keys")))
		Expect(rep).To(HaveKeyWithValue("attempts", BeNumerically("==", 1)))
		Expect(filepath.Join(dir, "report.html")).To(BeAnExistingFile())
	}, SpecTimeout(4*time.Minute))

	It("fills report.json's sessions for a stage whose users log in", Label("stage:stateless"), func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		s := scalelab("run", "stateless", "--fault", "kill-web", "--report", dir)
		Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
		data, err := os.ReadFile(filepath.Join(dir, "report.json"))
		Expect(err).NotTo(HaveOccurred())
		var rep struct {
			Sessions struct{ Total, Lost *int } `json:"sessions"`
		}
		Expect(json.Unmarshal(data, &rep)).To(Succeed())
		Expect(rep.Sessions.Total).To(HaveValue(BeNumerically(">=", 16)), "every one of the 16 clients logs in")
		Expect(rep.Sessions.Lost).To(HaveValue(BeZero()), "sessions in Redis survive losing a web server")
	}, SpecTimeout(4*time.Minute))

	It("exits 1 when a guarantee broke", Label("stage:separate-db"), func(ctx SpecContext) {
		s := scalelab("run", "separate-db", "--fault", "db-latency", "--set", "timeout=0s")
		Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(1))
		Expect(s.Out).To(gbytes.Say(`FAIL fail-fast`))
	}, SpecTimeout(4*time.Minute))
})

// binPath is the scalelab command the CLI specs run, built once for the
// whole suite before any spec starts (suite_test.go): a compile while
// another process's stack is measuring would slow its load generator.
var binPath string

func scalelabBinary() string { return binPath }

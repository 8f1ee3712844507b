package specs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/scalelab/scalelab/internal/claims"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/images"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

// The numbers the lab pages quote, from each page's table of claims
// (internal/claims). A claim on a plain `scalelab run STAGE --fault F
// [--control C]` is checked by that fault's or control's spec in
// stages_test.go, on the run it makes anyway (those specs carry the label
// `lab` too); the others (settings, a seed) run here, through the command
// as a reader types it.
var labClaims, labClaimsErr = loadLabClaims()

func loadLabClaims() ([]claims.Claim, error) {
	root, err := images.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	return claims.Load(root)
}

// cellClaims are the claims a stage spec's run checks: those whose command
// is exactly that run.
func cellClaims(stage, fault, control string) []claims.Claim {
	var out []claims.Claim
	for _, c := range labClaims {
		if s, f, ctl, ok := c.Cell(); ok && s == stage && f == fault && ctl == control {
			out = append(out, c)
		}
	}
	return out
}

// withLab adds the label `lab` to a spec that checks claims.
func withLab(cs []claims.Claim, labels ...string) Labels {
	if len(cs) > 0 {
		labels = append(labels, "lab")
	}
	return Label(labels...)
}

// checkRunClaims checks claims against a run the engine made: its
// report.json as the command would write it, and the exit code the command
// would give (0 when the run went as it should).
func checkRunClaims(res *engine.Result, cs []claims.Claim) {
	if len(cs) == 0 {
		return
	}
	data, err := json.Marshal(report.FromResult(res))
	Expect(err).NotTo(HaveOccurred())
	exit := 1
	if res.Outcome().AsExpected {
		exit = 0
	}
	checkClaims(data, exit, cs)
}

func checkClaims(reportJSON []byte, exit int, cs []claims.Claim) {
	var rep map[string]any
	Expect(json.Unmarshal(reportJSON, &rep)).To(Succeed())
	var misses []string
	for _, c := range cs {
		if err := c.Check(rep, exit); err != nil {
			misses = append(misses, fmt.Sprintf("%s: %v", c, err))
		} else {
			AddReportEntry("claim", fmt.Sprintf("%s: as the page says", c))
		}
	}
	Expect(misses).To(BeEmpty(), "the lab page says otherwise: fix the page's number (and its derivation) or the change that moved it")
}

var _ = Describe("The lab pages' numbers", Label("lab"), func() {
	It("are read from every lab's table of claims, each on a run the specs make", func() {
		Expect(labClaimsErr).NotTo(HaveOccurred())
		for _, c := range labClaims {
			s, f, ctl, ok := c.Cell()
			if !ok {
				continue // run by a spec of its own, below
			}
			st, err := stage.Get(s)
			Expect(err).NotTo(HaveOccurred(), "%s", c)
			fault, err := st.Fault(f)
			Expect(err).NotTo(HaveOccurred(), "%s", c)
			if ctl != "" {
				_, err = fault.FindControl(ctl)
				Expect(err).NotTo(HaveOccurred(), "%s", c)
			}
		}
	})

	for _, group := range claims.ByCommand(labClaims) {
		first := group[0]
		if _, _, _, ok := first.Cell(); ok {
			continue // checked by the stage spec of that run
		}
		It(fmt.Sprintf("match what `%s` shows (%s)", first.Command, first.Lab), func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			args := append(append([]string{}, first.Args...), "--report", dir)
			By("running " + strings.Join(append([]string{"scalelab"}, args...), " "))
			s, err := gexec.Start(exec.Command(scalelabBinary(), args...), GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(s).WithTimeout(11 * time.Minute).Should(gexec.Exit())
			Expect(s.ExitCode()).To(BeNumerically("<=", 1), "exit 2 is a setup failure: nothing to check")
			data, err := os.ReadFile(filepath.Join(dir, "report.json"))
			Expect(err).NotTo(HaveOccurred())
			checkClaims(data, s.ExitCode(), group)
		}, SpecTimeout(12*time.Minute))
	}
})

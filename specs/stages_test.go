package specs

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/expect"
	"github.com/scalelab/scalelab/internal/stage"
)

// stagesContainer is the top-level container of the stages' specs.
const stagesContainer = "Stages"

// Every stage's faults, from the stage data: under each fault the stage keeps
// its guarantees, and under each negative control the named guarantees break
// (so the checks can fail). A new stage or fault needs no new spec code.
var _ = Describe(stagesContainer, func() {
	for _, st := range stage.All() {
		Describe(fmt.Sprintf("stage %d, %s (%s)", st.Number, st.ID, st.Adds), Label("stage:"+st.ID), func() {
			for _, f := range st.Faults {
				// The lab page's claims on this very run are checked on it
				// (lab_test.go): the spec then carries the label lab too.
				runClaims := cellClaims(st.ID, f.ID, "")
				It(fmt.Sprintf("keeps its guarantees under %s: %s", f.ID, f.Help), withLab(runClaims, "fault:"+f.ID), func(ctx SpecContext) {
					res, err := engine.Run(ctx, engine.Spec{Stage: st.ID, Fault: f.ID, Progress: narrate, CPUs: stackCPUs(), OverlapTeardown: true})
					Expect(err).NotTo(HaveOccurred())
					Expect(res).To(expect.HoldEveryGuarantee())
					checkRunClaims(res, runClaims)
				}, SpecTimeout(4*time.Minute))

				for _, c := range f.Controls {
					controlClaims := cellClaims(st.ID, f.ID, c.Name)
					It(fmt.Sprintf("sees %s break under %s with the control %q", strings.Join(c.Breaks, ", "), f.ID, c.Name),
						withLab(controlClaims, "fault:"+f.ID, "control"), func(ctx SpecContext) {
							res, attempts, err := engine.RunControl(ctx, engine.Spec{Stage: st.ID, Fault: f.ID, Control: c.Name, Progress: narrate, CPUs: stackCPUs(), OverlapTeardown: true})
							Expect(err).NotTo(HaveOccurred())
							// A breach that happens by chance may take more than one run: say which.
							AddReportEntry("attempts", fmt.Sprintf("%d of %d", attempts, max(c.Attempts, 1)))
							for _, g := range c.Breaks {
								Expect(res).To(expect.Break(g))
							}
							checkRunClaims(res, controlClaims)
						}, SpecTimeout(time.Duration(max(c.Attempts, 1))*4*time.Minute))
				}
			}
		})
	}
})

// stackCPUs is each stack's CPU budget when the specs run in parallel
// processes (ginkgo --procs): its share of the machine, as scalelab matrix
// --parallel gives. 0 (no cap) when the specs run one at a time.
func stackCPUs() float64 {
	suite, _ := GinkgoConfiguration()
	if n := suite.ParallelTotal; n > 1 {
		return float64(runtime.NumCPU()) / float64(n)
	}
	return 0
}

func narrate(line string) { GinkgoWriter.Printf("%s %s\n", time.Now().Format("15:04:05.000"), line) }

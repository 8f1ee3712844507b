package specs

import (
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

// The matrix spread over machines: each machine runs one shard (scalelab
// matrix --shard i/n), and scalelab merge joins their directories into one
// matrix, as a CI system's job matrix does.
var _ = Describe("The matrix in shards", Label("cli"), func() {
	scalelab := func(args ...string) *gexec.Session {
		s, err := gexec.Start(exec.Command(scalelabBinary(), args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s
	}

	DescribeTable("refuses a bad --shard in one line, with exit code 2, before running anything",
		func(shard string) {
			dir := filepath.Join(GinkgoT().TempDir(), "m")
			s := scalelab("matrix", "--stages", "single-server", "--shard", shard, "--report", dir)
			Eventually(s).WithTimeout(30 * time.Second).Should(gexec.Exit(2))
			Expect(s.Err).To(gbytes.Say(`--shard "` + shard + `": want i/n`))
			Expect(strings.Count(strings.TrimSpace(string(s.Err.Contents())), "\n")).To(BeZero(), "one line")
			Expect(dir).NotTo(BeADirectory(), "nothing written")
		},
		Entry("shard 0", "0/2"),
		Entry("a shard past the last", "3/2"),
		Entry("not i/n", "x"),
	)

	It("runs every cell of a stage in exactly one of two shards, and merge joins them into one matrix",
		Label("stage:single-server"), func(ctx SpecContext) {
			st, err := stage.Get("single-server")
			Expect(err).NotTo(HaveOccurred())
			want := report.StageCells(st)
			tmp := GinkgoT().TempDir()
			a, b, c := filepath.Join(tmp, "A"), filepath.Join(tmp, "B"), filepath.Join(tmp, "C")

			By("running shard 1/2 with its cells side by side (--parallel 2), then shard 2/2 one at a time (one machine each, in CI)")
			codes := map[string]int{}
			owner := map[string]string{}
			for _, sh := range []struct{ shard, dir, parallel string }{{"1/2", a, "2"}, {"2/2", b, "1"}} {
				start := time.Now()
				s := scalelab("matrix", "--stages", "single-server", "--shard", sh.shard, "--parallel", sh.parallel, "--report", sh.dir)
				Eventually(s).WithTimeout(6 * time.Minute).Should(gexec.Exit())
				GinkgoWriter.Printf("shard %s: exit %d in %s\n", sh.shard, s.ExitCode(), time.Since(start).Round(time.Second))
				Expect(s.ExitCode()).To(BeElementOf(0, 1), "a shard exits 0 or 1 (a cell not as expected), never 2: shard %s", sh.shard)
				Expect(string(s.Out.Contents())).NotTo(ContainSubstring("warning: teardown"), "every stack and its CPU budget removed")
				if sh.parallel == "2" {
					Expect(string(s.Out.Contents())).To(MatchRegexp(`2 runs at a time, each stack capped at [0-9.]+ of the [0-9]+ CPUs`))
					Expect(overlapping(string(s.Out.Contents()))).To(BeTrue(), "with --parallel 2, two of the shard's cells ran at the same time")
				}
				codes[sh.shard] = s.ExitCode()
				m := cellsOf(sh.dir)
				Expect(m.Shard).To(Equal(sh.shard))
				Expect(m.Stages).To(Equal([]string{"single-server"}))
				Expect(m.Cells).NotTo(BeEmpty(), "each of two shards of %d cells gets some", len(want))
				for _, cell := range m.Cells {
					Expect(owner).NotTo(HaveKey(cell.Name), "%s is in two shards", cell.Name)
					owner[cell.Name] = sh.shard
					Expect(cell.Missing).To(BeEmpty(), "%s: the shard ran to its end", cell.Name)
					Expect(cell.Err).To(BeEmpty(), "%s: no setup failure", cell.Name)
					Expect(filepath.Join(sh.dir, cell.ReportJSON)).To(BeAnExistingFile())
				}
			}
			for _, cell := range want {
				Expect(owner).To(HaveKey(cell.Name), "%s is in no shard", cell.Name)
			}
			Expect(owner).To(HaveLen(len(want)))

			By("merging the two shards' directories")
			s := scalelab("merge", "--out", c, a, b)
			Eventually(s).WithTimeout(time.Minute).Should(gexec.Exit())
			wantCode := max(codes["1/2"], codes["2/2"])
			Expect(s.ExitCode()).To(Equal(wantCode), "merge exits 0 only if both shards' cells are as expected")

			index, err := os.ReadFile(filepath.Join(c, "index.html"))
			Expect(err).NotTo(HaveOccurred())
			md, err := os.ReadFile(filepath.Join(c, "matrix.md"))
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Count(string(index), `<div class="stage-id">kill-server</div>`)).To(Equal(1), "one kill-server row")
			Expect(strings.Count(string(md), "| kill-server |")).To(Equal(1), "one kill-server row in matrix.md")
			for _, cell := range want {
				href := "runs/" + cell.Name + "/report.html"
				Expect(string(index)).To(ContainSubstring(`href="`+href+`"`), "index.html links %s", cell.Name)
				Expect(strings.Count(string(md), "("+href+")")).To(Equal(1), "matrix.md lists %s once", cell.Name)
				Expect(filepath.Join(c, href)).To(BeAnExistingFile(), "the link to %s works", cell.Name)
				if cell.Control != "" {
					Expect(strings.Count(string(index), `<div class="control-of">`+html.EscapeString(cell.Control)+`</div>`)).To(Equal(1),
						"index.html lists control %q once", cell.Control)
				}
			}
			Expect(string(md)).NotTo(ContainSubstring("missing"))
			merged := cellsOf(c)
			Expect(merged.Cells).To(HaveLen(len(want)))

			By("merging shard 1/2 alone: shard 2/2's cells are missing, exit 1")
			d := filepath.Join(tmp, "D")
			s = scalelab("merge", "--out", d, a)
			Eventually(s).WithTimeout(time.Minute).Should(gexec.Exit(1))
			Expect(s.Err).To(gbytes.Say(`shard 2/2 is not among the directories`))
			md, err = os.ReadFile(filepath.Join(d, "matrix.md"))
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Count(string(md), "missing ✗")).To(Equal(len(want)-len(cellsOf(a).Cells)), "every cell of shard 2/2 shows as missing")

			By("refusing a merge with no directories, exit 2")
			s = scalelab("merge", "--out", filepath.Join(tmp, "E"))
			Eventually(s).WithTimeout(30 * time.Second).Should(gexec.Exit(2))
		}, SpecTimeout(14*time.Minute))
})

// overlapping tells whether two of the matrix's cells ran at the same time,
// from its output: every step line (not on a terminal) is "HH:MM:SS.mmm [k/n]
// ...", so each cell spans from its first line to its last, every attempt
// of a control included. (A report covers only a control's last attempt,
// which may start after its neighbour ended.)
func overlapping(out string) bool {
	type span struct{ from, to time.Time }
	spans := map[string]*span{}
	for _, m := range stepLine.FindAllStringSubmatch(out, -1) {
		at, err := time.Parse("15:04:05.000", m[1])
		Expect(err).NotTo(HaveOccurred())
		if sp, ok := spans[m[2]]; ok {
			sp.to = at
		} else {
			spans[m[2]] = &span{at, at}
		}
	}
	var all []*span
	for _, sp := range spans {
		all = append(all, sp)
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].from.Before(all[j].to) && all[j].from.Before(all[i].to) {
				return true
			}
		}
	}
	return false
}

var stepLine = regexp.MustCompile(`(?m)^(\d\d:\d\d:\d\d\.\d{3}) \[(\d+/\d+)\] `)

// cellsOf is a matrix directory's cells.json.
func cellsOf(dir string) report.Matrix {
	data, err := os.ReadFile(filepath.Join(dir, report.CellsFile))
	Expect(err).NotTo(HaveOccurred())
	var m report.Matrix
	Expect(json.Unmarshal(data, &m)).To(Succeed())
	return m
}

package specs

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// liveURL is the page's URL scalelab up prints, token included.
var liveURL = regexp.MustCompile(`(http://127\.0\.0\.1:\d+/)\?token=(\w+)`)

// chromium is Debian's chromium (make browser installs it).
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// livePage is a stage's stack kept up by scalelab up, its page open in
// headless chromium (through the DevTools protocol).
type livePage struct {
	url, base string
	browser   context.Context
}

// openLive starts `scalelab up <stage>`, reads the page's URL from its
// output and loads the page; cleanups stop both (Ctrl-C to scalelab up,
// which heals and removes the stack).
func openLive(ctx context.Context, stage string) *livePage {
	GinkgoHelper()
	chrome := chromium()
	Expect(chrome).NotTo(BeEmpty(), "no chromium on this machine: `make browser` installs Debian's")

	By("starting scalelab up " + stage)
	up, err := gexec.Start(exec.Command(scalelabBinary(), "up", stage), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		up.Interrupt()
		Eventually(up).WithTimeout(time.Minute).Should(gexec.Exit())
	})
	var m []string
	Eventually(func() []string {
		m = liveURL.FindStringSubmatch(string(up.Out.Contents()))
		return m
	}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).ShouldNot(BeEmpty())
	p := &livePage{url: m[0], base: m[1]}

	By("loading the page in headless chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1400, 1100))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	DeferCleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(actx)
	DeferCleanup(cancelBrowser)
	p.browser = browser
	// The first Run starts the browser: no timeout on it (it would stop
	// the browser with it).
	_, err = chromedp.Run(browser, chromedp.Navigate(p.url))
	Expect(err).NotTo(HaveOccurred())
	// The page's event stream has delivered an update.
	Eventually(p.attr("body", "data-updates")).WithTimeout(30 * time.Second).ShouldNot(BeEmpty())
	return p
}

// attr reads an attribute of the first element sel matches ("" if none).
func (p *livePage) attr(sel, name string) func() string {
	return func() string {
		tctx, cancel := context.WithTimeout(p.browser, 5*time.Second)
		defer cancel()
		a, err := chromedp.Run(tctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			return ""
		}
		return a.Value
	}
}

// click clicks the element sel matches.
func (p *livePage) click(sel string) {
	GinkgoHelper()
	tctx, cancel := context.WithTimeout(p.browser, 30*time.Second)
	defer cancel()
	Expect(chromedp.Do(tctx, chromedp.Click(chromedp.CSS(sel)))).To(Succeed())
}

// availability is the page's "success, last 5 s" (-1 before any request).
func (p *livePage) availability() float64 {
	v, err := strconv.ParseFloat(p.attr("body", "data-availability")(), 64)
	if err != nil {
		return -1
	}
	return v
}

// screenshot saves the page under the repository's root when
// SCALELAB_SCREENSHOTS names it (`make screenshots`).
func (p *livePage) screenshot(rel string) {
	GinkgoHelper()
	root := os.Getenv("SCALELAB_SCREENSHOTS")
	if root == "" {
		return
	}
	tctx, cancel := context.WithTimeout(p.browser, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(root, rel), png, 0o644)).To(Succeed())
}

// A workshop runs one lab live: the page scalelab up serves, driven as a
// person would.
var _ = Describe("scalelab up's live page", Label("cli", "live"), func() {
	It("shows a fault clicked on its page break the requests and its guarantees, and the heal bring them back; refuses a fault without the token",
		Label("stage:separate-db"), func(ctx SpecContext) {
			p := openLive(ctx, "separate-db")

			By("a fault request without the token is refused, and so is the page")
			resp, err := http.Post(p.base+"fault", "application/json", strings.NewReader(`{"fault":"kill-db"}`))
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
			resp, err = http.Get(p.base)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))

			By("before the fault every request of the last 5 s succeeds")
			Eventually(p.availability).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(BeNumerically(">=", 0.99))

			By("clicking kill-db: the requests fail, and the fault's guarantees are judged on its window")
			p.click(`button[data-fault="kill-db"]`)
			Eventually(p.attr("body", "data-active")).WithTimeout(30 * time.Second).Should(Equal("kill-db"))
			Expect(p.attr("#node-db", "class")()).To(ContainSubstring("faulted"))
			// mysite's database timeout (2 s) bounds how long a request of
			// the outage waits before it fails.
			Eventually(p.availability).WithTimeout(20 * time.Second).WithPolling(250 * time.Millisecond).Should(BeNumerically("<", 0.5))
			Eventually(p.attr(`#guarantees tbody tr[data-result]`, "data-result")).WithTimeout(20 * time.Second).ShouldNot(BeEmpty())
			p.screenshot("labs/02-separate-db/live.png")

			By("clicking heal: the requests succeed again")
			p.click(`#heal`)
			Eventually(p.attr("body", "data-active")).WithTimeout(time.Minute).Should(BeEmpty())
			Eventually(p.availability).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(BeNumerically(">=", 0.99))
		})

	// The other lab pages' screenshots: only for `make screenshots`.
	DescribeTable("shows each stage mid-fault for its lab page",
		func(ctx SpecContext, stage, fault, lab string) {
			if os.Getenv("SCALELAB_SCREENSHOTS") == "" {
				Skip("screenshots only: make screenshots")
			}
			p := openLive(ctx, stage)
			Eventually(p.availability).WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(BeNumerically(">", 0))
			p.click(`button[data-fault="` + fault + `"]`)
			Eventually(p.attr("body", "data-active")).WithTimeout(2 * time.Minute).Should(Equal(fault))
			Eventually(p.attr(`#guarantees tbody tr[data-result]`, "data-result")).WithTimeout(30 * time.Second).ShouldNot(BeEmpty())
			p.screenshot(filepath.Join("labs", lab, "live.png"))
		},
		Entry(nil, "single-server", "kill-server", "01-single-server", Label("stage:single-server")),
		Entry(nil, "load-balancer", "kill-web", "03-load-balancer", Label("stage:load-balancer")),
		Entry(nil, "replication", "kill-primary", "04-replication", Label("stage:replication")),
		Entry(nil, "cache", "kill-cache", "05-cache", Label("stage:cache")),
		Entry(nil, "cdn", "cdn-outage", "06-cdn", Label("stage:cdn")),
		Entry(nil, "stateless", "kill-web", "07-stateless", Label("stage:stateless")),
		Entry(nil, "multi-dc", "dc-outage", "08-multi-dc", Label("stage:multi-dc")),
		Entry(nil, "queue", "kill-workers", "09-queue", Label("stage:queue")),
	)
})

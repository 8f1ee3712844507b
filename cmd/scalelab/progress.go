package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// progress prints the engine's step lines. Not on a terminal (CI, a pipe)
// each line gets a timestamp and nothing else is printed. On a terminal a
// status line under the steps shows the run's phase and the time left,
// rewritten in place every quarter second.
type progress struct {
	tty bool

	mu       sync.Mutex
	start    time.Time
	phases   []phase
	stop     chan struct{}
	stopOnce sync.Once
}

type phase struct {
	name string
	end  time.Duration
}

func newProgress() *progress {
	fi, err := os.Stdout.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" && os.Getenv("CI") == ""
	return &progress{tty: tty, stop: make(chan struct{})}
}

// Line prints one step.
func (p *progress) Line(l string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Print("\r\033[K") // erase the status line, print the step, redraw
		fmt.Println(l)
		p.draw()
		return
	}
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), l)
}

// Phases starts the status line: the run's phases and where each ends.
func (p *progress) Phases(ph ...phase) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	p.start, p.phases = time.Now(), ph
	p.mu.Unlock()
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
}

func (p *progress) draw() {
	if len(p.phases) == 0 {
		return
	}
	el := time.Since(p.start)
	total := p.phases[len(p.phases)-1].end
	name := "checking"
	for _, ph := range p.phases {
		if el < ph.end {
			name = ph.name
			break
		}
	}
	left := max(total-el, 0).Round(time.Second)
	width := 30
	done := min(int(float64(width)*float64(el)/float64(total)), width)
	fmt.Printf("\r\033[K[%s%s] %-9s %s left", strings.Repeat("#", done), strings.Repeat(".", width-done), name, left)
}

// Done ends the status line.
func (p *progress) Done() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && len(p.phases) > 0 {
		fmt.Print("\r\033[K")
	}
	p.phases = nil
}

package stage

import (
	"fmt"
	"strings"

	"github.com/scalelab/scalelab/stacks"
)

// Register adds a stage to the registry, after Validate: a user's own
// system under test (the public scalelab package) becomes a stage like
// the lab's, run by the same engine. The id must be new.
func Register(s Stage) error {
	if _, taken := registry[s.ID]; taken {
		return fmt.Errorf("stage %q is registered already", s.ID)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	register(s)
	return nil
}

// Validate checks a stage as data before anything runs, naming every
// problem: its topology (nodes, links, the entry), faults that have no
// negative control, controls that expect a guarantee the fault does not
// judge, and, with no exemption, every guarantee a fault judges that none
// of its controls breaks (a check that cannot fail proves nothing). A
// guarantee judged only under a control's settings (the lesson a control
// shows) must be broken by some control of the stage.
func (st Stage) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !stacks.ValidName(st.ID) {
		bad("id %q: use lowercase letters, digits and dashes", st.ID)
	}
	if st.Stack == nil {
		bad("no Stack")
	} else if len(st.Faults) > 0 || st.Entry != "" {
		if _, err := st.Resolve(nil); err != nil {
			bad("%v", err)
		} else {
			topo := st.Stack(Defaults(st))
			if err := topo.Validate(); err != nil {
				bad("%v", err)
			} else if _, ok := topo.LinkPort(st.Entry); !ok {
				bad("entry %q is not a link of the stack (links: %s)", st.Entry, strings.Join(topo.LinkNames(), ", "))
			} else if _, ok := topo.LinkPort(st.CountersVia); st.CountersVia != "" && !ok {
				bad("counters' link %q is not a link of the stack (links: %s)", st.CountersVia, strings.Join(topo.LinkNames(), ", "))
			}
		}
	}
	if len(st.Faults) == 0 {
		bad("no faults")
	}
	brokenInStage := map[string]bool{}
	for _, f := range st.Faults {
		for _, c := range f.Controls {
			for _, b := range c.Breaks {
				brokenInStage[b] = true
			}
		}
	}
	for _, f := range st.Faults {
		if f.Inject == nil || f.Guarantees == nil {
			bad("fault %s: needs Inject and Guarantees", f.ID)
			continue
		}
		if len(f.Controls) == 0 {
			bad("fault %s has no negative control", f.ID)
		}
		set, err := st.Resolve(nil, f)
		if err != nil {
			bad("fault %s: %v", f.ID, err)
			continue
		}
		judged, broken := map[string]bool{}, map[string]bool{}
		for _, c := range f.Controls {
			for _, b := range c.Breaks {
				broken[b] = true
			}
		}
		for _, g := range f.Guarantees(Evidence{}, set) {
			judged[g.Name] = true
			if !broken[g.Name] {
				bad("fault %s judges %q, but none of its controls breaks it", f.ID, g.Name)
			}
		}
		for _, c := range f.Controls {
			if len(c.Breaks) == 0 {
				bad("fault %s control %q breaks nothing", f.ID, c.Name)
			}
			fs := []Fault{f}
			for _, id := range c.With {
				w, err := st.Fault(id)
				if err != nil {
					bad("fault %s control %q: %v", f.ID, c.Name, err)
					continue
				}
				fs = append(fs, w)
			}
			cset, err := st.Resolve(c.Set, fs...)
			if err != nil {
				bad("fault %s control %q: %v", f.ID, c.Name, err)
				continue
			}
			judgedHere := map[string]bool{}
			for n := range judged {
				judgedHere[n] = true
			}
			for _, w := range fs {
				for _, g := range w.Guarantees(Evidence{}, cset) {
					judgedHere[g.Name] = true
					if w.ID == f.ID && !judged[g.Name] && !brokenInStage[g.Name] {
						bad("fault %s judges %q under the control %q, but no control of the stage breaks it", f.ID, g.Name, c.Name)
					}
				}
			}
			for _, b := range c.Breaks {
				if !judgedHere[b] {
					bad("control %q expects %q to break, but the fault judges no such guarantee", c.Name, b)
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("stage %q is invalid:\n  %s", st.ID, strings.Join(problems, "\n  "))
	}
	return nil
}

// Package claims reads the numbers a lab page quotes, each with the command
// that shows it, and checks them against a run's report.json.
//
// A lab page (labs/NN-name/README.md) ends with a table under the heading
// "## Claims checked by the specs":
//
//	| command | in the output | expected | why |
//	|---|---|---|---|
//	| `scalelab run cache --fault cache-flush` | `exit` | 0 | every guarantee held |
//	| `scalelab run cache --fault cache-flush` | `cache.after.hit_ratio` | 0.5-1 | ... |
//
// "in the output" is the exit code (`exit`) or a field of the run's
// report.json as a dotted path; a list of guarantees is indexed by name
// (`guarantees.no-stale-reads.holds`). "expected" is a number, a range
// "lo-hi" (inclusive), ">= x", "<= x", or true/false. The specs run every
// command of every table (label `lab`) and check each row: the page and
// its checks are one table, so a change that moves a number fails the build
// instead of making the page wrong.
package claims

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Heading is the heading of a lab page's table of claims.
const Heading = "## Claims checked by the specs"

// ExitField is the "in the output" of a claim on the command's exit code.
const ExitField = "exit"

// Claim is one row of a lab's table.
type Claim struct {
	Lab     string   // the lab's directory, e.g. labs/05-cache
	Line    int      // of the row in its README.md
	Command string   // as on the page
	Args    []string // the command's arguments after "scalelab"
	Field   string   // ExitField or a dotted path into report.json
	Want    Expected
	Why     string
}

func (c Claim) String() string {
	return fmt.Sprintf("%s/README.md:%d: %s: %s %s", c.Lab, c.Line, c.Command, c.Field, c.Want)
}

// Expected is what a claim's value must be: a number in [Min, Max], or a
// boolean.
type Expected struct {
	Text     string // as on the page
	Min, Max float64
	Bool     *bool
}

func (e Expected) String() string { return e.Text }

// Load reads the claims of every lab under root (its labs/*/README.md), in
// the labs' order. A lab without a table has none.
func Load(root string) ([]Claim, error) {
	pages, err := filepath.Glob(filepath.Join(root, "labs", "*", "README.md"))
	if err != nil {
		return nil, err
	}
	slices.Sort(pages)
	var all []Claim
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		lab, _ := filepath.Rel(root, filepath.Dir(p))
		cs, err := Parse(filepath.ToSlash(lab), data)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
	}
	return all, nil
}

// Parse reads the table of claims of one lab page.
func Parse(lab string, page []byte) ([]Claim, error) {
	var out []Claim
	in, rows := false, 0
	sc := bufio.NewScanner(bytes.NewReader(page))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			in = line == Heading
			continue
		case !in || !strings.HasPrefix(line, "|"):
			continue
		}
		rows++
		if rows <= 2 { // the table's head and its |---| line
			continue
		}
		c, err := parseRow(lab, n, line)
		if err != nil {
			return nil, fmt.Errorf("%s/README.md:%d: %w", lab, n, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

func parseRow(lab string, n int, line string) (Claim, error) {
	cells := strings.Split(strings.Trim(line, "|"), "|")
	if len(cells) < 3 {
		return Claim{}, fmt.Errorf("a claim needs a command, what to read and what to expect: %q", line)
	}
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	c := Claim{Lab: lab, Line: n, Command: strings.Trim(cells[0], "`"), Field: strings.Trim(cells[1], "`")}
	if len(cells) > 3 {
		c.Why = cells[3]
	}
	words, err := Split(c.Command)
	if err != nil {
		return c, err
	}
	if len(words) < 2 || words[0] != "scalelab" {
		return c, fmt.Errorf("command %q: want scalelab <command> ...", c.Command)
	}
	c.Args = words[1:]
	if c.Field == "" {
		return c, errors.New("no field to read (exit, or a report.json path)")
	}
	if c.Want, err = parseExpected(strings.Trim(cells[2], "`")); err != nil {
		return c, err
	}
	return c, nil
}

// parseExpected reads "0.5-1", "3", ">= 0.9", "<= 2", "true", "false".
func parseExpected(s string) (Expected, error) {
	e := Expected{Text: s, Min: math.Inf(-1), Max: math.Inf(1)}
	t := strings.ReplaceAll(s, " ", "")
	num := func(v string) (float64, error) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("expected %q: want a number, lo-hi, >= x, <= x, true or false", s)
		}
		return f, nil
	}
	var err error
	switch {
	case t == "true" || t == "false":
		b := t == "true"
		e.Bool = &b
	case strings.HasPrefix(t, ">="):
		e.Min, err = num(t[2:])
	case strings.HasPrefix(t, "<="):
		e.Max, err = num(t[2:])
	case strings.Contains(t[1:], "-"):
		i := strings.Index(t[1:], "-") + 1
		if e.Min, err = num(t[:i]); err == nil {
			e.Max, err = num(t[i+1:])
		}
		if err == nil && e.Min > e.Max {
			err = fmt.Errorf("expected %q: the range is empty", s)
		}
	default:
		e.Min, err = num(t)
		e.Max = e.Min
	}
	return e, err
}

// Check reads the claim's value from a run's report.json (decoded into
// rep) or its exit code, and says how it misses what the page expects.
func (c Claim) Check(rep map[string]any, exit int) error {
	var v any = float64(exit)
	if c.Field != ExitField {
		var err error
		if v, err = Lookup(rep, c.Field); err != nil {
			return err
		}
	}
	if c.Want.Bool != nil {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s is %v, not true or false", c.Field, v)
		}
		if b != *c.Want.Bool {
			return fmt.Errorf("%s is %v, the page says %s", c.Field, b, c.Want)
		}
		return nil
	}
	f, ok := v.(float64)
	if !ok {
		return fmt.Errorf("%s is %v, not a number", c.Field, v)
	}
	if f < c.Want.Min || f > c.Want.Max {
		return fmt.Errorf("%s is %v, the page says %s", c.Field, f, c.Want)
	}
	return nil
}

// Lookup follows a dotted path through decoded JSON. In a list of objects
// a segment picks the element whose "name" is that segment (guarantees).
func Lookup(doc map[string]any, path string) (any, error) {
	var v any = doc
	for _, seg := range strings.Split(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[seg]
			if !ok {
				return nil, fmt.Errorf("report.json has no %s (no %q)", path, seg)
			}
			v = next
		case []any:
			i := slices.IndexFunc(node, func(e any) bool {
				m, ok := e.(map[string]any)
				return ok && m["name"] == seg
			})
			if i < 0 {
				return nil, fmt.Errorf("report.json has no %s (no element named %q)", path, seg)
			}
			v = node[i]
		default:
			return nil, fmt.Errorf("report.json has no %s (%q is inside a value)", path, seg)
		}
	}
	return v, nil
}

// Split splits a command line as a shell does for plain words, 'single'
// and "double" quotes (no escapes or expansions: a lab's commands need
// none).
func Split(cmd string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range cmd {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q: unclosed %c", cmd, quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// Cell says which of the stage specs' runs a claim's command is: `scalelab
// run STAGE --fault F [--control C]` with nothing else that changes the run
// (no --set, --seed, --rate; --report and --keep only write files) is
// exactly the run of the spec of that fault or control, which then checks
// the claim: no run twice. ok is false for any other command.
func (c Claim) Cell() (stage, fault, control string, ok bool) {
	a := c.Args
	if len(a) < 2 || a[0] != "run" || strings.HasPrefix(a[1], "-") {
		return "", "", "", false
	}
	stage = a[1]
	for i := 2; i < len(a); i++ {
		name, val, hasVal := strings.Cut(a[i], "=")
		if name == "--keep" {
			continue
		}
		if !hasVal {
			if i+1 >= len(a) {
				return "", "", "", false
			}
			i++
			val = a[i]
		}
		switch {
		case name == "--fault" && fault == "":
			fault = val
		case name == "--control" && control == "":
			control = val
		case name == "--report":
		default:
			return "", "", "", false
		}
	}
	return stage, fault, control, fault != ""
}

// ByCommand groups claims by their command (the same words), in the order
// each command first appears: one run checks every claim on it.
func ByCommand(cs []Claim) [][]Claim {
	var groups [][]Claim
	for _, c := range cs {
		i := slices.IndexFunc(groups, func(g []Claim) bool { return slices.Equal(g[0].Args, c.Args) })
		if i < 0 {
			groups = append(groups, []Claim{c})
		} else {
			groups[i] = append(groups[i], c)
		}
	}
	return groups
}

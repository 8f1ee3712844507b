package claims

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const page = "# Lab 9\n\n| a table | that is not |\n|---|---|\n| claims | at all |\n\n" + Heading + `

| command | in the output | expected | why |
|---|---|---|---|
| ` + "`scalelab run cache --fault cache-flush`" + ` | ` + "`exit`" + ` | 0 | every guarantee held |
| ` + "`scalelab run cache --fault cache-flush`" + ` | ` + "`cache.after.hit_ratio`" + ` | 0.5-1 | refilled |
| ` + "`scalelab run cache --fault kill-cache --control 'no cache timeout'`" + ` | ` + "`guarantees.fail-fast.holds`" + ` | false | hangs |
| ` + "`scalelab run cache --fault cache-flush --set ttl=5s`" + ` | ` + "`reads.stale`" + ` | <= 2 | |
| ` + "`scalelab run cache --fault cache-loss --keep --report out/x`" + ` | ` + "`exit`" + ` | 0 | |

## After the table
| not | a claim |
`

func TestParse(t *testing.T) {
	cs, err := Parse("labs/09-x", []byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 5 {
		t.Fatalf("%d claims, want 5: %v", len(cs), cs)
	}
	if c := cs[2]; !slices.Equal(c.Args, []string{"run", "cache", "--fault", "kill-cache", "--control", "no cache timeout"}) ||
		c.Field != "guarantees.fail-fast.holds" || c.Want.Bool == nil || *c.Want.Bool || c.Why != "hangs" {
		t.Errorf("claim 3: %+v", c)
	}
	if cs[0].Line != 11 || !strings.HasPrefix(cs[0].String(), "labs/09-x/README.md:11: scalelab run cache --fault cache-flush: exit 0") {
		t.Errorf("claim 1 says %q", cs[0])
	}
	groups := ByCommand(cs)
	if len(groups) != 4 || len(groups[0]) != 2 {
		t.Errorf("by command: %d groups, the first of %d; want 4, 2", len(groups), len(groups[0]))
	}
	for i, want := range []struct {
		stage, fault, control string
		ok                    bool
	}{{"cache", "cache-flush", "", true}, {"cache", "cache-flush", "", true}, {"cache", "kill-cache", "no cache timeout", true}, {ok: false},
		{"cache", "cache-loss", "", true}} {
		s, f, c, ok := cs[i].Cell()
		if s != want.stage || f != want.fault || c != want.control || ok != want.ok {
			t.Errorf("claim %d's cell: %q %q %q %v", i+1, s, f, c, ok)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, row := range []string{
		"| `scalelab run x --fault y` | `exit` |",           // no expected value
		"| `curl localhost` | `exit` | 0 |",                 // not scalelab
		"| `scalelab run x --fault y` | `exit` | soon |",    // not a number
		"| `scalelab run x --fault y` | `exit` | 3-1 |",     // empty range
		"| `scalelab run x --control 'open` | `exit` | 0 |", // unclosed quote
		"| `scalelab run x --fault y` | `` | 0 |",           // no field
	} {
		p := Heading + "\n\n| command | in the output | expected |\n|---|---|---|\n" + row + "\n"
		if _, err := Parse("labs/x", []byte(p)); err == nil || !strings.Contains(err.Error(), "labs/x/README.md:5:") {
			t.Errorf("%s: %v, want an error at line 5", row, err)
		}
	}
}

func TestCheck(t *testing.T) {
	var rep map[string]any
	doc := `{"recovery_s": 1.5, "passed": true, "cache": {"after": {"hit_ratio": 0.74}},
		"guarantees": [{"name": "no-stale-reads", "holds": true}, {"name": "fail-fast", "holds": false}]}`
	if err := json.Unmarshal([]byte(doc), &rep); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field, want string
		exit        int
		miss        string // "" when the claim holds
	}{
		{"cache.after.hit_ratio", "0.5-1", 0, ""},
		{"cache.after.hit_ratio", ">= 0.8", 0, "cache.after.hit_ratio is 0.74, the page says >= 0.8"},
		{"recovery_s", "<= 2", 0, ""},
		{"recovery_s", "1.5", 0, ""},
		{"recovery_s", "-1-2", 0, ""},
		{"passed", "true", 0, ""},
		{"guarantees.fail-fast.holds", "false", 0, ""},
		{"guarantees.no-stale-reads.holds", "false", 0, "is true, the page says false"},
		{"exit", "1", 1, ""},
		{"exit", "0", 1, "exit is 1, the page says 0"},
		{"cache.before.hit_ratio", "0-1", 0, `report.json has no cache.before.hit_ratio (no "before")`},
		{"guarantees.recovers.holds", "true", 0, `no element named "recovers"`},
		{"recovery_s.x", "1", 0, `"x" is inside a value`},
		{"passed", "1", 0, "passed is true, not a number"},
	} {
		want, err := parseExpected(tc.want)
		if err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		err = Claim{Field: tc.field, Want: want}.Check(rep, tc.exit)
		switch {
		case tc.miss == "" && err != nil:
			t.Errorf("%s %s: %v", tc.field, tc.want, err)
		case tc.miss != "" && (err == nil || !strings.Contains(err.Error(), tc.miss)):
			t.Errorf("%s %s: %v, want %q", tc.field, tc.want, err, tc.miss)
		}
	}
}

// Every lab's table reads, and every claim names a command the specs can
// run: a stage spec's run or a scalelab run with settings.
func TestLabsParse(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "labs")); err != nil {
		t.Skip("no labs here")
	}
	cs, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Args[0] != "run" {
			t.Errorf("%s: only scalelab run commands are checked", c)
		}
	}
}

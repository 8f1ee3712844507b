package mysite

import (
	"strings"
	"testing"
)

func TestProcessPhotoIsDeterministicAndOpsDiffer(t *testing.T) {
	seen := map[string]string{}
	for _, op := range PhotoOps {
		a, err := ProcessPhoto("p1", op, 32)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ProcessPhoto("p1", op, 32)
		if a != b {
			t.Errorf("%s: %s then %s for the same photo", op, a, b)
		}
		if other, _ := ProcessPhoto("p2", op, 32); other == a {
			t.Errorf("%s: p1 and p2 give the same result %s", op, a)
		}
		if prev, ok := seen[a]; ok {
			t.Errorf("%s and %s give the same result", prev, op)
		}
		seen[a] = op
	}
	if _, err := ProcessPhoto("p1", "rotate", 32); err == nil || !strings.Contains(err.Error(), "unknown photo operation") {
		t.Errorf("unknown op: %v", err)
	}
	if _, err := ProcessPhoto("p1", OpBlur, 4); err == nil {
		t.Error("size 4 accepted")
	}
	if op := DefaultOp("p1"); !validOp(op) {
		t.Errorf("DefaultOp gave %q", op)
	}
}

func TestJobsFlags(t *testing.T) {
	cfg, err := ParseConfig([]string{"-db", "postgres://x@h/db", "-role", "worker", "-queue", "amqp://guest:guest@mq:5672/",
		"-ack", "auto", "-prefetch", "5", "-idempotency=false", "-queue-durable=false", "-confirms=false"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Jobs
	if cfg.Role != RoleWorker || !j.AutoAck || j.Prefetch != 5 || !j.NoIdempotency || !j.Transient || !j.NoConfirms {
		t.Errorf("parsed %+v role %q", j, cfg.Role)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-role", "worker"}, "needs -queue"},
		{[]string{"-role", "cook"}, "-role"},
		{[]string{"-queue", "http://mq"}, "-queue"},
		{[]string{"-ack", "later"}, "manual or auto"},
		{[]string{"-jobs-mode", "batch"}, "async or sync"},
		{[]string{"-role", "worker", "-queue", "amqp://mq/", "-jobs-mode", "sync"}, "web server's"},
		{[]string{"-photo-size", "2"}, "-photo-size"},
	} {
		_, err := ParseConfig(append([]string{"-db", "postgres://x@h/db"}, tc.args...), nil, nil)
		if err == nil {
			if cfg, perr := ParseConfig(append([]string{"-db", "postgres://x@h/db"}, tc.args...), nil, nil); perr == nil {
				err = cfg.Validate()
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want it to say %q", tc.args, err, tc.want)
		}
	}
}

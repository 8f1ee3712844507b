package mysite

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const (
	shardDSN1 = "postgres://u:secret@db1:5432/app?sslmode=disable"
	shardDSN2 = "postgres://u:secret@db2:5432/app?sslmode=disable"
	shardDSN3 = "postgres://u:secret@db3:5432/app?sslmode=disable"
)

func TestConfigShards(t *testing.T) {
	cfg, err := ParseConfig([]string{"-shard", "shard-1=" + shardDSN1, "-shard", "shard-2=" + shardDSN2,
		"-spare", "shard-3=" + shardDSN3}, env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShardStrategy != ShardRing || cfg.VNodes != DefaultVNodes || cfg.MoveRate != DefaultMoveRate || cfg.DB != "" {
		t.Errorf("defaults: %+v", cfg)
	}
	shards, spares, err := cfg.shardNodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 2 || shards[0] != (ShardNode{"shard-1", shardDSN1}) || shards[1].Name != "shard-2" ||
		len(spares) != 1 || spares[0] != (ShardNode{"shard-3", shardDSN3}) {
		t.Errorf("nodes: %v %v", shards, spares)
	}
	// The environment's lists; flags replace them.
	e := env(EnvShards, "a="+shardDSN1+" b="+shardDSN2, EnvSpares, "c="+shardDSN3, EnvShardStrategy, "modulo")
	cfg, err = ParseConfig([]string{"-vnodes", "8", "-move-rate", "0", "-db-timeout", "1s", "-max-conns", "4", "-failpoints"}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Shards != "a="+shardDSN1+" b="+shardDSN2 || cfg.ShardStrategy != ShardModulo || cfg.VNodes != 8 || cfg.MoveRate != 0 {
		t.Errorf("env: %+v", cfg)
	}
	cfg, err = ParseConfig([]string{"-shard", "x=" + shardDSN1, "-shard-strategy", "ring"}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Shards != "x="+shardDSN1 || cfg.Spares != "c="+shardDSN3 || cfg.ShardStrategy != ShardRing {
		t.Errorf("flags over env: %+v", cfg)
	}
	// A Config built in code may leave the shard settings zero.
	if err := (Config{Listen: ":1", MaxConns: 1, Shards: "a=" + shardDSN1}).Validate(); err != nil {
		t.Errorf("zero shard settings: %v", err)
	}
}

func TestConfigShardErrors(t *testing.T) {
	shard := []string{"-shard", "shard-1=" + shardDSN1}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"-db", testDSN}, shard...), "-db (MYSITE_DB) must be empty with -shard"},
		{[]string{"-spare", "s=" + shardDSN1}, "-spare needs -shard"},
		{[]string{"-db", testDSN, "-spare", "s=" + shardDSN1}, "-spare needs -shard"},
		{[]string{"-shard", "shard-1"}, "-shard wants name=DSN"},
		{[]string{"-shard", "=" + shardDSN1}, "-shard wants name=DSN"},
		{[]string{"-shard", "a=" + shardDSN1, "-shard", "a=" + shardDSN2}, "given twice"},
		{[]string{"-shard", "a=" + shardDSN1, "-spare", "a=" + shardDSN2}, "given twice"},
		{[]string{"-shard", "a=postgres://h:notaport/db"}, "-shard a: not a valid PostgreSQL DSN"},
		{[]string{"-shard", "a=" + shardDSN1, "-spare", "b=postgres://h:notaport/db"}, "-spare b: not a valid PostgreSQL DSN"},
		{append([]string{"-shard-strategy", "hash"}, shard...), "-shard-strategy (MYSITE_SHARD_STRATEGY) must be ring or modulo"},
		{append([]string{"-vnodes", "-1"}, shard...), "-vnodes must be between 1 and"},
		{append([]string{"-vnodes", "100000"}, shard...), "-vnodes must be between 1 and"},
		{append([]string{"-move-rate", "-5"}, shard...), "-move-rate must be a number >= 0"},
		{append([]string{"-move-rate", "NaN"}, shard...), "-move-rate must be a number >= 0"},
		{append([]string{"-replica", "r1=" + shardDSN2}, shard...), "-shard cannot be combined with -replica"},
		{append([]string{"-cache", "redis:6379"}, shard...), "-shard cannot be combined with -cache"},
		{append([]string{"-writes", "behind"}, shard...), "-shard cannot be combined with -writes behind"},
		{append([]string{"-sessions", "redis", "-redis", "redis:6379"}, shard...), "-shard cannot be combined with -sessions redis"},
		{append([]string{"-queue", "amqp://mq:5672/"}, shard...), "-shard cannot be combined with photo jobs"},
		{append([]string{"-role", "worker", "-queue", "amqp://mq:5672/"}, shard...), "-shard cannot be combined with -role worker"},
	} {
		_, err := ParseConfig(tc.args, env(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%v: error shows the password: %v", tc.args, err)
		}
	}
}

func TestConfigShardHelp(t *testing.T) {
	var out bytes.Buffer
	if _, err := ParseConfig([]string{"-h"}, env(), &out); !errors.Is(err, ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"-shard", "-spare", "-shard-strategy", "-vnodes", "-move-rate", EnvShards, EnvSpares} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

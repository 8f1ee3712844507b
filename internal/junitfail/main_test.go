package main

import (
	"slices"
	"testing"
)

func TestNarrationKeepsTheSpecsStampedLinesWithoutTheBootsPerNodeLines(t *testing.T) {
	timeline := "  > Enter [It] keeps its guarantees\n" +
		"19:10:01.000 run 1204-191001-abc: stage multi-dc\n" +
		"19:10:01.010 machine: load 1.2 0.9 0.5 on 2 cores\n" +
		"19:10:01.200   starting east-web-1 (mysite)\n" +
		"19:10:01.300   toxiproxy ready with links a->b\n" +
		"19:10:04.000   east-web-1 ready in 2.8s\n" +
		"  [FAILED] in [It]\n" +
		"19:10:06.000 injecting: kill dns\n"
	got := narration(timeline)
	want := []string{
		"19:10:01.000 run 1204-191001-abc: stage multi-dc",
		"19:10:01.010 machine: load 1.2 0.9 0.5 on 2 cores",
		"19:10:04.000   east-web-1 ready in 2.8s",
		"19:10:06.000 injecting: kill dns",
	}
	if !slices.Equal(got, want) {
		t.Errorf("narration:\n got %q\nwant %q", got, want)
	}
}

func TestGroupOfIsTheStageOrTheContainersFirstWords(t *testing.T) {
	for name, want := range map[string]string{
		"Stages stage 8, multi-dc (a second data center) keeps its guarantees under dc-outage: x [stage:multi-dc]": "Stages stage 8, multi-dc",
		"Stages stage 10, observability (x) sees y break":                                                          "Stages stage 10, observability",
		"The scalelab command answers bad input in one line":                                                       "The scalelab command answers",
		"[SynchronizedBeforeSuite]":                                                                                "suite setup and teardown",
	} {
		if got := groupOf(name); got != want {
			t.Errorf("groupOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPrintPhasesAddsUpTheRunsPhaseLines(t *testing.T) {
	cases := []testCase{
		{Time: 30, SystemErr: "19:10:01.000 run 1\n19:10:20.000 time: boot 8s, warm-up 2s, fault 5s, cool-down 4s, read-back 1s, judge 0s\n"},
		{Time: 50, SystemErr: "19:11:01.000 time: boot 10s, warm-up 3s, fault 5s, cool-down 6s, read-back 1s, judge 0s\n" +
			"19:11:30.000 time: boot 8s, warm-up 2s, fault 5s, cool-down 4s, read-back 1s, judge 0s\n"},
		{Time: 5, SystemErr: "no run here\n"},
	}
	out := phases(cases, 85)
	want := "  by phase, over 3 runs: boot 26s (30%), warm-up 7s (8%), fault 15s (17%), cool-down 14s (16%), read-back 3s (3%), judge 0s (0%); outside the runs' phases 20s (23%)"
	if out != want {
		t.Errorf("phases:\n got %q\nwant %q", out, want)
	}
}

//go:build !race

package workload

const raceSlowdown = 1

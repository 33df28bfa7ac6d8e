//go:build !race

package node_test

// raceOn says the race detector is on: load tests size down.
const raceOn = false

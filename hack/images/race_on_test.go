//go:build race

package main

// raceEnabled: the race detector slows gzip and sha256 several times over.
const raceEnabled = true

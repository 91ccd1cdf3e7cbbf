//go:build race

package main

// raceEnabled: the race detector slows tests down several times; the
// longest runs scale themselves down under it.
const raceEnabled = true

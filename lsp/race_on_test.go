//go:build race

package lsp

// raceEnabled shrinks the largest inputs under the race detector, which
// makes big JSON 20-40x slower; the full sizes run in normal test runs.
const raceEnabled = true

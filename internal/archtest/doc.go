// Package archtest holds lbd's import rules (rules.go) and the test that
// enforces them over the build graph `go list` reports: which lbd package
// may link which, and that every package's doc comment says what it must
// not import. `go test -v -run TestImportRules ./internal/archtest` prints
// the rules.
//
// It must not import any other lbd package: it reads the code from the
// outside, as the go command sees it.
package archtest

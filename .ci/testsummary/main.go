// Command testsummary runs `go test -json` for make test, prints what
// plain `go test` would (one line per package, the output of failed
// tests) plus a line per skipped test with its reason, and appends what
// ran and what was skipped to a record file. At the end of make test,
// -summary prints the record: which suites ran, and which tests skipped
// themselves and why, in the tests' own words (a test that needs a tool
// says which and how to install it), so that nobody runs a smaller suite
// than they think.
//
//	testsummary -record FILE -label NAME [-stream] -- go test -json ARGS...
//	testsummary -summary FILE
//
// -stream prints every test's output as it comes (fuzzing's progress).
// The exit code is the command's.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

// run is what one command ran, one line of the record file.
type run struct {
	Label    string `json:"label"`
	Packages int    `json:"packages"` // packages with tests that ran
	Passed   int    `json:"passed"`   // top-level tests, examples and fuzz targets
	Failed   int    `json:"failed"`
	Skipped  []skip `json:"skipped"`
	OK       bool   `json:"ok"`
}

// skip is a test that skipped itself, with the reason it gave.
type skip struct {
	Package string `json:"package"`
	Test    string `json:"test"`
	Reason  string `json:"reason"`
}

func main() {
	record := flag.String("record", "", "append what the command ran to this file")
	label := flag.String("label", "go test", "the suite's name in the summary")
	stream := flag.Bool("stream", false, "print every test's output as it comes")
	summary := flag.String("summary", "", "print the summary of this record file and exit")
	flag.Parse()
	if *summary != "" {
		if err := printSummary(os.Stdout, *summary); err != nil {
			fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() == 0 || *record == "" {
		fmt.Fprintln(os.Stderr, "usage: testsummary -record FILE -label NAME [-stream] -- go test -json ARGS...")
		os.Exit(2)
	}
	os.Exit(runTests(exec.Command(flag.Arg(0), flag.Args()[1:]...), os.Stdout, *record, *label, *stream))
}

// runTests runs cmd, a go test -json, printing to w, and appends what it
// ran to the record file. It returns the command's exit code.
func runTests(cmd *exec.Cmd, w io.Writer, record, label string, stream bool) int {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		return 1
	}
	r := follow(out, w, label, stream)
	code := 0
	if err := cmd.Wait(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	if code == 0 && r.Failed > 0 {
		code = 1
	}
	r.OK = code == 0
	if err := appendRecord(record, r); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// follow reads test2json events from in and prints to w what plain go
// test prints: package lines, and the output of tests that failed.
func follow(in io.Reader, w io.Writer, label string, stream bool) run {
	r := run{Label: label, Skipped: []skip{}}
	held := map[string][]string{} // package + "\x00" + test: output not printed yet
	br := bufio.NewReader(in)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			var e event
			if json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
				fmt.Fprint(w, line) // not an event: pass it on
			} else {
				handle(&r, e, held, w, stream)
			}
		}
		if err != nil {
			return r
		}
	}
}

func handle(r *run, e event, held map[string][]string, w io.Writer, stream bool) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "build-output":
		fmt.Fprint(w, e.Output)
	case "output":
		switch {
		case e.Test == "":
			if e.Output != "PASS\n" {
				fmt.Fprint(w, e.Output)
			}
		case stream:
			fmt.Fprint(w, e.Output)
		default:
			held[key] = append(held[key], e.Output)
		}
	case "pass", "fail", "skip":
		if e.Test == "" { // the package
			if e.Action != "skip" { // skip: no test files
				r.Packages++
			}
			return
		}
		out := held[key]
		delete(held, key)
		top := !strings.Contains(e.Test, "/")
		switch e.Action {
		case "pass":
			if top {
				r.Passed++
			}
		case "fail":
			if top {
				r.Failed++
			}
			if !stream {
				fmt.Fprint(w, strings.Join(out, ""))
			}
		case "skip":
			s := skip{Package: e.Package, Test: e.Test, Reason: reason(out)}
			r.Skipped = append(r.Skipped, s)
			fmt.Fprintf(w, "--- SKIP: %s (%s): %s\n", s.Test, s.Package, s.Reason)
		}
	}
}

// logPrefix is what testing puts before a t.Skip message: indentation and
// file:line.
var logPrefix = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// reason is a skipped test's message, without testing's framing lines.
func reason(out []string) string {
	var msg []string
	for _, l := range strings.Split(strings.Join(out, ""), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		msg = append(msg, strings.TrimSpace(logPrefix.ReplaceAllString(l, "")))
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " ")
}

func appendRecord(path string, r run) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printSummary(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var runs []run
	dec := json.NewDecoder(f)
	for dec.More() {
		var r run
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		runs = append(runs, r)
	}
	fmt.Fprintln(w, "\nWhat make test ran:")
	width := 0
	for _, r := range runs {
		width = max(width, len(r.Label))
	}
	var skipped []skip
	for _, r := range runs {
		status := "ok"
		if !r.OK {
			status = "FAILED"
		}
		fmt.Fprintf(w, "  %-*s  %s: %d packages, %d tests passed, %d failed, %d skipped\n",
			width, r.Label, status, r.Packages, r.Passed, r.Failed, len(r.Skipped))
		skipped = append(skipped, r.Skipped...)
	}
	if len(skipped) == 0 {
		fmt.Fprintln(w, "Nothing was skipped.")
		return nil
	}
	// Tests that skip for one reason (the browser tests without a
	// browser) are listed on one line.
	type group struct {
		pkg, reason string
		tests       []string
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	for _, s := range skipped {
		k := [2]string{s.Package, s.Reason}
		if byKey[k] == nil {
			byKey[k] = &group{pkg: s.Package, reason: s.Reason}
			groups = append(groups, byKey[k])
		}
		byKey[k].tests = append(byKey[k].tests, s.Test)
	}
	fmt.Fprintf(w, "Skipped, so not checked by this run: %d tests, in the tests' own words:\n", len(skipped))
	for _, g := range groups {
		fmt.Fprintf(w, "  %s %s: %s\n", g.pkg, strings.Join(g.tests, ", "), g.reason)
	}
	return nil
}

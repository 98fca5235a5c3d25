package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A module whose tests pass, skip themselves (with a reason, in a subtest
// too) and fail, run with go test -json as make test runs its suites: the
// printed output, the exit code, the record and the summary.
func TestRunRecordSummary(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module demo\n\ngo 1.21\n",
		"a/a_test.go": `package a

import "testing"

func TestPasses(t *testing.T) {}

func TestNeedsTool(t *testing.T) {
	t.Skip("frobnicator not found; install it (apt-get install frobnicator)")
}

func TestSub(t *testing.T) {
	t.Run("inner", func(t *testing.T) { t.Skip("inner reason") })
}
`,
		"b/b_test.go": `package b

import "testing"

func TestBreaks(t *testing.T) { t.Log("what broke"); t.Fail() }
`,
		"c/c.go": "package c\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	record := filepath.Join(dir, "record.jsonl")
	gotest := func(pkgs ...string) (int, string) {
		cmd := exec.Command("go", append([]string{"test", "-json", "-count=1"}, pkgs...)...)
		cmd.Dir = dir
		var out bytes.Buffer
		code := runTests(cmd, &out, record, "demo "+strings.Join(pkgs, " "), false)
		return code, out.String()
	}

	code, out := gotest("./a", "./c")
	if code != 0 {
		t.Fatalf("passing run: exit %d\n%s", code, out)
	}
	for _, want := range []string{"ok  \tdemo/a", "?   \tdemo/c\t[no test files]",
		"--- SKIP: TestNeedsTool (demo/a): frobnicator not found; install it (apt-get install frobnicator)",
		"--- SKIP: TestSub/inner (demo/a): inner reason"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "=== RUN") {
		t.Errorf("a passing run prints what plain go test prints, not -v's lines:\n%s", out)
	}

	code, out = gotest("./b")
	if code == 0 || !strings.Contains(out, "what broke") || !strings.Contains(out, "FAIL\tdemo/b") {
		t.Fatalf("failing run: exit %d, want non-zero and the failed test's output:\n%s", code, out)
	}

	var sum bytes.Buffer
	if err := printSummary(&sum, record); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"demo ./a ./c  ok: 1 packages, 2 tests passed, 0 failed, 2 skipped",
		"demo ./b      FAILED: 1 packages, 0 tests passed, 1 failed, 0 skipped",
		"demo/a TestNeedsTool: frobnicator not found; install it (apt-get install frobnicator)",
		"demo/a TestSub/inner: inner reason",
	} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

package client

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEProgram: the README's Go program is example/main.go, which CI
// builds (and the integration tests run against a daemon).
func TestREADMEProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile("example/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(prog)+"```\n") {
		t.Error("README.md does not show commands/client/example/main.go as it is: copy it there")
	}
	if lines := strings.Count(string(prog), "\n"); lines > 50 {
		t.Errorf("the example has %d lines; the README promises a short program", lines)
	}
}

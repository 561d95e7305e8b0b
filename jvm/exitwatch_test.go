package jvm

import (
	"os/exec"
	"testing"
)

// A watched process is running until it ends, then exited, whether or
// not anyone has reaped it yet.
func TestExitWatch(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := WatchExit(cmd.Process.Pid)
	defer w.Close()
	if w.Exited() {
		t.Fatal("a running process reads as exited")
	}
	cmd.Process.Kill()
	// Not reaped yet: a zombie has ended.
	for !w.Exited() {
	}
	cmd.Wait()
	if !w.Exited() {
		t.Error("a reaped process reads as running")
	}
}

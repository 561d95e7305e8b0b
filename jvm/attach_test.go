package jvm

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

func TestDecodeModifiedUTF8(t *testing.T) {
	for _, f := range []string{"jdk17-emoji-rawattach.txt", "jdk25-emoji-rawattach.txt"} {
		raw, err := os.ReadFile("../testdata/dumps/hotspot/" + f)
		if err != nil {
			t.Fatal(err)
		}
		dumps, err := ParseDumps(bytes.NewReader(DecodeModifiedUTF8(raw)), time.UTC)
		if err != nil || len(dumps) != 1 {
			t.Fatalf("%s: %d dumps, %v", f, len(dumps), err)
		}
		names := map[string]bool{}
		for _, th := range dumps[0].Threads {
			names[th.Name] = true
		}
		// The names Emoji.java gave its threads, exactly.
		for _, want := range []string{"rocket-\U0001F680-x", "nul-\x00-x", ""} {
			if !names[want] {
				t.Errorf("%s: no thread named %q after decoding", f, want)
			}
		}
	}
	for in, want := range map[string]string{
		"plain":                    "plain",
		"\xed\xa0\xbd\xed\xba\x80": "\U0001F680",
		"a\xc0\x80b":               "a\x00b",
		"lone \xed\xa0\xbd high":   "lone \xed\xa0\xbd high", // not a pair: kept as is
		"caf\xc3\xa9":              "café",
	} {
		if got := string(DecodeModifiedUTF8([]byte(in))); got != want {
			t.Errorf("DecodeModifiedUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAttachSourceLiveJVM dumps real JVMs over the attach socket, with no
// JDK tool involved, and checks names and TIDs against what the threads
// found in /proc/thread-self.
// eachJDK runs f as a subtest per JDK at hand (the java on PATH, Temurin
// 25), with TidProbe compiled; what names the test in skip messages.
func eachJDK(t *testing.T, what string, f func(t *testing.T, java, classes string)) {
	t.Helper()
	testenv.RequireIntegration(t) // starts JVMs
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skipf("SKIPPED: java not on PATH: %s did not run", what)
	}
	classes := compileProbe(t)
	for _, jdk := range []struct{ name, java string }{
		{"PATH java", java},
		{"Temurin 25", filepath.Join(temurin25, "bin", "java")},
	} {
		t.Run(jdk.name, func(t *testing.T) {
			if _, err := os.Stat(jdk.java); err != nil {
				t.Skipf("SKIPPED: %s not installed (%v)", jdk.java, err)
			}
			f(t, jdk.java, classes)
		})
	}
}

func TestAttachSourceLiveJVM(t *testing.T) {
	eachJDK(t, "the live attach test", func(t *testing.T, java, classes string) {
		p := startProbe(t, java, classes)
		src, err := NewAttachSource(p.pid, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // the second request reuses the socket
			c, err := src.Capture(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if c.Source != "attach" || !c.End.After(c.Start) {
				t.Errorf("capture metadata: source %q, %v..%v", c.Source, c.Start, c.End)
			}
			got := map[string]int{}
			for _, th := range c.Dump.Threads {
				got[th.Name] = th.Tid
			}
			if len(p.tids) == 0 {
				t.Fatal("probe reported no threads")
			}
			for name, tid := range p.tids {
				if got[name] != tid {
					t.Errorf("thread %q: dump says TID %d, the thread itself %d", name, got[name], tid)
				}
			}
			t.Logf("request %d: %d threads in %s", i+1, len(c.Dump.Threads), c.End.Sub(c.Start))
		}
		// JDK 24+ speak protocol 2 and take the streaming option.
		if want := strings.Contains(java, "temurin-25"); (src.proto == 2) != want || src.streaming != want {
			t.Errorf("negotiated protocol %d (streaming option %v) with %s", src.proto, src.streaming, java)
		}
	})
}

func TestAttachSourceRefusesNonJVM(t *testing.T) {
	_, err := NewAttachSource(os.Getpid(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "not a HotSpot JVM") {
		t.Fatalf("attach to a Go test binary: err = %v, want a not-a-JVM error", err)
	}
	if _, err := NewAttachSource(1<<30, time.Second); err == nil {
		t.Fatal("attach to a non-existent pid: no error")
	}
}

func TestAttachRequest(t *testing.T) {
	for _, c := range []struct {
		proto int
		cmd   string
		args  []string
		want  string
	}{
		{1, "threaddump", nil, "1\x00threaddump\x00\x00\x00\x00"},
		{1, "getversion", []string{"options"}, "1\x00getversion\x00options\x00\x00\x00"},
		{2, "threaddump streaming=0", nil, "2\x0023\x00threaddump streaming=0\x00"},
		{2, "jcmd", []string{"Thread.print"}, "2\x0018\x00jcmd\x00Thread.print\x00"},
	} {
		if got := string(attachRequest(c.proto, c.cmd, c.args...)); got != c.want {
			t.Errorf("v%d %s %q: %q, want %q", c.proto, c.cmd, c.args, got, c.want)
		}
	}
}

// A socket under the JVM's attach name that the JVM's user does not own
// (planted in the shared /tmp) is never connected to.
func TestAttachRefusesForeignSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: NOT ROOT: planting a socket owned by another user needs root")
	}
	eachJDK(t, "the foreign-socket test", func(t *testing.T, java, classes string) {
		p := startProbe(t, java, classes)
		src, err := NewAttachSource(p.pid, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sock, _, err := src.paths()
		if err != nil {
			t.Fatal(err)
		}
		if isSocket(sock) {
			t.Skipf("SKIPPED: the JVM's attach listener already runs (%s)", sock)
		}
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // removes the socket file
		if err := os.Chown(sock, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		accepted := make(chan bool, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err == nil
		}()
		_, err = src.Capture(t.Context())
		if err == nil || !strings.Contains(err.Error(), "not to the JVM's uid") {
			t.Errorf("capture through a foreign socket: err = %v", err)
		}
		l.Close()
		if <-accepted {
			t.Error("connected to the foreign socket")
		}
	})
}

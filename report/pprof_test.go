package report

import "testing"

func TestParseFrame(t *testing.T) {
	for in, want := range map[string]struct {
		fn, file string
		line     int64
	}{
		"java.lang.Thread.run(java.base@17.0.15/Thread.java:840)": {"java.lang.Thread.run", "Thread.java", 840},
		"java.lang.Thread.sleep(java.base@17.0.15/Native Method)": {"java.lang.Thread.sleep", "", 0},
		"java.base/java.lang.Thread.sleepNanos0(Native Method)":   {"java.lang.Thread.sleepNanos0", "", 0},
		"java.base/java.lang.Thread.sleep(Thread.java:540)":       {"java.lang.Thread.sleep", "Thread.java", 540},
		"app//com.acme.Foo.bar(Foo.java:3)":                       {"com.acme.Foo.bar", "Foo.java", 3},
		"Named$$Lambda$1/0x00007fd81c000a08.run(Unknown Source)":  {"Named$$Lambda$1/0x00007fd81c000a08.run", "", 0},
		"Named.sleepForever(Named.java:18)":                       {"Named.sleepForever", "Named.java", 18},
	} {
		fn, file, line := parseFrame(in)
		if fn != want.fn || file != want.file || line != want.line {
			t.Errorf("parseFrame(%q) = %q %q %d, want %+v", in, fn, file, line, want)
		}
	}
}

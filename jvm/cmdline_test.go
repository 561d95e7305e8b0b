package jvm

import (
	"os"
	"testing"
)

func TestMainClass(t *testing.T) {
	for want, args := range map[string][]string{
		"com.bank.OrderMatcher": {"java", "-Xmx4g", "-cp", "a.jar:b.jar", "-Dx=y", "com.bank.OrderMatcher", "--port", "8080"},
		"payments.jar":          {"/usr/bin/java", "-XX:+UseG1GC", "-jar", "/opt/app/payments.jar", "-v"},
		"app/com.bank.Main":     {"java", "--module-path", "mods", "-m", "app/com.bank.Main"},
		"app/com.bank.M":        {"java", "--module=app/com.bank.M"},
		"Workload":              {"java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "Workload"},
		"":                      {"java", "@argfile"},
	} {
		if got := MainClass(args); got != want {
			t.Errorf("MainClass(%q) = %q, want %q", args, got, want)
		}
	}
	args, err := Cmdline(os.Getpid())
	if err != nil || len(args) == 0 {
		t.Fatalf("Cmdline(self): %q, %v", args, err)
	}
}

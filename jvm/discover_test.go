package jvm

import "testing"

func TestMatchCmdline(t *testing.T) {
	m, err := MatchCmdline(`com\.example\.Main`)
	if err != nil {
		t.Fatal(err)
	}
	for args, want := range map[*[]string]bool{
		{"java", "-Xmx1g", "com.example.Main", "--port", "8080"}: true,
		{"java", "-jar", "/srv/app.jar"}:                         false,
		{"java", "comXexample.Main"}:                             false,
	} {
		if got := m(*args); got != want {
			t.Errorf("%q: %v, want %v", *args, got, want)
		}
	}
	if _, err := MatchCmdline("("); err == nil {
		t.Error("a bad regular expression is accepted")
	}
}

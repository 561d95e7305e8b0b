package jvm

import (
	"os"
	"path/filepath"
	"strings"
)

// optionsWithValue are java launcher options whose value is the next
// argument (so it is not the main class).
var optionsWithValue = map[string]bool{
	"-cp": true, "-classpath": true, "--class-path": true, "-p": true, "--module-path": true,
	"--upgrade-module-path": true, "--add-modules": true, "--limit-modules": true, "--add-opens": true,
	"--add-exports": true, "--add-reads": true, "--patch-module": true, "--enable-native-access": true,
}

// MainClass returns what a java command line runs: the main class, the
// jar's file name (-jar), or the module/class (-m), from the JVM's
// arguments; "" when they do not tell (an @argfile, a launcher of its own).
func MainClass(args []string) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-jar" || a == "-m" || a == "--module":
			if i+1 < len(args) {
				if a == "-jar" {
					return filepath.Base(args[i+1])
				}
				return args[i+1]
			}
			return ""
		case strings.HasPrefix(a, "--module="):
			return strings.TrimPrefix(a, "--module=")
		case optionsWithValue[a]:
			i++
		case strings.HasPrefix(a, "-"), strings.HasPrefix(a, "@"):
		default:
			return a
		}
	}
	return ""
}

// Cmdline returns the arguments of process pid.
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(procPath(pid, "cmdline"))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

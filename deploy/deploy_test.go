package deploy

// Static checks of the deployment files: the unit, the DaemonSet, the
// Dockerfile and the README must agree with each other and with the flags
// `jschedlat attach` has. Nothing here needs root or a cluster.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	unitFile      = "jschedlat.service"
	daemonSetFile = "daemonset.yaml"
	readmeFile    = "README.md"
	dockerfile    = "../Dockerfile"
	dockerignore  = "../.dockerignore"
	goMod         = "../go.mod"
	binPath       = "/usr/local/bin/jschedlat" // where the unit and the image expect it
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --- the systemd unit ---

// unit is a parsed unit file: every assignment in order, and the
// assignments that are commented out (alternatives for the user to pick).
type unit struct {
	settings  map[string][]string
	commented map[string][]string
}

var unitAssign = regexp.MustCompile(`^#?([A-Za-z]+)=(.*)$`)

func parseUnit(t *testing.T) unit {
	t.Helper()
	u := unit{settings: map[string][]string{}, commented: map[string][]string{}}
	for i, l := range strings.Split(read(t, unitFile), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "[") || strings.HasPrefix(l, "# ") || l == "#" {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			t.Fatalf("%s:%d: continuation lines are not supported by this test", unitFile, i+1)
		}
		m := unitAssign.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s:%d: not an assignment: %q", unitFile, i+1, l)
		}
		if strings.HasPrefix(l, "#") {
			u.commented[m[1]] = append(u.commented[m[1]], m[2])
		} else {
			u.settings[m[1]] = append(u.settings[m[1]], m[2])
		}
	}
	return u
}

func (u unit) one(t *testing.T, key string) string {
	t.Helper()
	v := u.settings[key]
	if len(v) != 1 {
		t.Fatalf("%s: want exactly one %s=, have %d", unitFile, key, len(v))
	}
	return v[0]
}

// capSet normalises capability names (CAP_BPF, BPF) to CAP_BPF, sorted.
func capSet(names []string) []string {
	var s []string
	for _, n := range names {
		n = strings.ToUpper(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		s = append(s, n)
	}
	sort.Strings(s)
	return slices.Compact(s)
}

// splitCommand splits an ExecStart= value the way systemd does for the
// forms used here: words, single- or double-quoted.
func splitCommand(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// --- a YAML subset: block maps and lists, scalars, documents, full-line
// comments. Enough for daemonset.yaml; anything else is an error rather
// than a silent misreading. ---

type yline struct {
	no     int
	indent int
	text   string
}

func parseYAML(src string) ([]any, error) {
	var docs []any
	var cur []yline
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		n, i, err := parseNode(cur, 0, cur[0].indent)
		if err != nil {
			return err
		}
		if i != len(cur) {
			return fmt.Errorf("line %d: unexpected indentation", cur[i].no)
		}
		docs = append(docs, n)
		cur = nil
		return nil
	}
	for i, l := range strings.Split(src, "\n") {
		if strings.TrimSpace(l) == "---" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		trimmed := strings.TrimLeft(l, " ")
		if strings.HasPrefix(l, "\t") {
			return nil, fmt.Errorf("line %d: tab indentation", i+1)
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.Contains(trimmed, " #") || strings.ContainsAny(trimmed[:1], "{[|>&*!") {
			return nil, fmt.Errorf("line %d: construct not supported by this test's parser: %q", i+1, trimmed)
		}
		cur = append(cur, yline{no: i + 1, indent: len(l) - len(trimmed), text: strings.TrimRight(trimmed, " ")})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

func isItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func parseNode(ls []yline, i, indent int) (any, int, error) {
	if isItem(ls[i].text) {
		return parseList(ls, i, indent)
	}
	return parseMap(ls, i, indent)
}

func parseMap(ls []yline, i, indent int) (any, int, error) {
	m := map[string]any{}
	for i < len(ls) && ls[i].indent == indent && !isItem(ls[i].text) {
		l := ls[i]
		key, val, ok := strings.Cut(l.text, ": ")
		if !ok {
			if !strings.HasSuffix(l.text, ":") {
				return nil, 0, fmt.Errorf("line %d: want key: value, have %q", l.no, l.text)
			}
			key = strings.TrimSuffix(l.text, ":")
		}
		key = unquote(key)
		if _, dup := m[key]; dup {
			return nil, 0, fmt.Errorf("line %d: duplicate key %q", l.no, key)
		}
		i++
		switch {
		case ok:
			m[key] = scalar(strings.TrimSpace(val))
		case i < len(ls) && ls[i].indent > indent:
			child, next, err := parseNode(ls, i, ls[i].indent)
			if err != nil {
				return nil, 0, err
			}
			m[key], i = child, next
		default:
			m[key] = nil
		}
	}
	if i < len(ls) && ls[i].indent > indent {
		return nil, 0, fmt.Errorf("line %d: unexpected indentation", ls[i].no)
	}
	return m, i, nil
}

func parseList(ls []yline, i, indent int) (any, int, error) {
	var list []any
	for i < len(ls) && ls[i].indent == indent && isItem(ls[i].text) {
		content := strings.TrimSpace(strings.TrimPrefix(ls[i].text, "-"))
		_, _, isMap := strings.Cut(content, ": ")
		if isMap || strings.HasSuffix(content, ":") {
			// "- key: value" opens a map whose other keys are indented
			// to where key starts.
			sub := slices.Clone(ls)
			sub[i] = yline{no: ls[i].no, indent: indent + 2, text: content}
			n, next, err := parseMap(sub, i, indent+2)
			if err != nil {
				return nil, 0, err
			}
			list, i = append(list, n), next
			continue
		}
		list = append(list, scalar(content))
		i++
	}
	return list, i, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// scalar: quoted strings stay strings; unquoted true/false and integers
// are typed, as YAML (and so the Kubernetes API) reads them.
func scalar(s string) any {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') {
		return unquote(s)
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return s
}

// get walks a path of map keys and list indexes.
func get(t *testing.T, n any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := n.(map[string]any)
			if !ok {
				t.Fatalf("%s: %v: not a map", daemonSetFile, path[:i])
			}
			if n, ok = m[k]; !ok {
				t.Fatalf("%s: %v: missing", daemonSetFile, path[:i+1])
			}
		case int:
			l, ok := n.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%s: %v: no such list item", daemonSetFile, path[:i+1])
			}
			n = l[k]
		}
	}
	return n
}

func strings_(t *testing.T, n any) []string {
	t.Helper()
	l, ok := n.([]any)
	if !ok {
		t.Fatalf("%s: want a list, have %T", daemonSetFile, n)
	}
	var s []string
	for _, v := range l {
		str, ok := v.(string)
		if !ok {
			t.Fatalf("%s: want a list of strings, have %v (%T)", daemonSetFile, v, v)
		}
		s = append(s, str)
	}
	return s
}

// daemonSet returns the DaemonSet document and its only container.
func daemonSet(t *testing.T) (ds map[string]any, container map[string]any) {
	t.Helper()
	docs, err := parseYAML(read(t, daemonSetFile))
	if err != nil {
		t.Fatalf("%s: %v", daemonSetFile, err)
	}
	for _, d := range docs {
		m, _ := d.(map[string]any)
		if m["kind"] == "DaemonSet" {
			if ds != nil {
				t.Fatalf("%s: two DaemonSets", daemonSetFile)
			}
			ds = m
		}
	}
	if ds == nil {
		t.Fatalf("%s: no DaemonSet", daemonSetFile)
	}
	cs, _ := get(t, ds, "spec", "template", "spec", "containers").([]any)
	if len(cs) != 1 {
		t.Fatalf("%s: want one container, have %d", daemonSetFile, len(cs))
	}
	return ds, cs[0].(map[string]any)
}

// --- the Dockerfile ---

var (
	dockerArgRe   = regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`)
	dockerFromRe  = regexp.MustCompile(`(?m)^FROM (\S+)`)
	dockerTitleRe = regexp.MustCompile(`org\.opencontainers\.image\.title="([^"]+)"`)
	dockerEntryRe = regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]$`)
	dockerCmdRe   = regexp.MustCompile(`(?m)^CMD \[(.*)\]$`)
	goModGoRe     = regexp.MustCompile(`(?m)^go (\S+)$`)
)

func match(t *testing.T, re *regexp.Regexp, s, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s: no match for %s", what, re)
	}
	return m[1]
}

// --- jschedlat attach --help ---

var (
	helpOnce  sync.Once
	helpFlags map[string]bool
	helpErr   error
)

var helpFlagRe = regexp.MustCompile(`(?m)^\s+(?:-([A-Za-z0-9]), )?--([a-z0-9][a-z0-9-]*)`)

// attachFlags builds jschedlat and returns the flags `attach --help` lists,
// long (--output) and short (-o).
func attachFlags(t *testing.T) map[string]bool {
	t.Helper()
	helpOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jschedlat-deploy-test")
		if err != nil {
			helpErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "jschedlat")
		build := exec.Command("go", "build", "-o", bin, "github.com/jschedlat/jschedlat/cmd/jschedlat")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			helpErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		out, err := exec.Command(bin, "attach", "--help").CombinedOutput()
		if err != nil {
			helpErr = fmt.Errorf("jschedlat attach --help: %v\n%s", err, out)
			return
		}
		helpFlags = map[string]bool{}
		for _, m := range helpFlagRe.FindAllStringSubmatch(string(out), -1) {
			if m[1] != "" {
				helpFlags["-"+m[1]] = true
			}
			helpFlags["--"+m[2]] = true
		}
		if !helpFlags["--output"] || !helpFlags["-o"] {
			helpErr = fmt.Errorf("could not read the flags of attach --help:\n%s", out)
		}
	})
	if helpErr != nil {
		t.Fatal(helpErr)
	}
	return helpFlags
}

// checkFlags reports every flag of args that attach does not have.
func checkFlags(t *testing.T, where string, args []string) {
	t.Helper()
	known := attachFlags(t)
	if len(args) == 0 || args[0] != "attach" {
		t.Errorf("%s: want `attach ...`, have %q", where, args)
		return
	}
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, _ := strings.Cut(a, "=")
		if !known[name] {
			t.Errorf("%s: `jschedlat attach --help` has no flag %s", where, name)
		}
	}
}

// flagValue returns the value of a long flag given as --name=v or --name v.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// --- the tests ---

// TestFlagsExist: every flag the deployment files pass to jschedlat,
// the commented-out alternatives included, is one `attach` knows.
func TestFlagsExist(t *testing.T) {
	u := parseUnit(t)
	for i, cmd := range append(u.settings["ExecStart"], u.commented["ExecStart"]...) {
		words := splitCommand(t, cmd)
		if words[0] != binPath {
			t.Errorf("%s: ExecStart runs %s, want %s", unitFile, words[0], binPath)
		}
		checkFlags(t, fmt.Sprintf("%s ExecStart #%d", unitFile, i+1), words[1:])
	}

	_, c := daemonSet(t)
	checkFlags(t, daemonSetFile+" args", strings_(t, get(t, c, "args")))
	// Commented-out alternatives in args: "# - --jvm=...".
	alt := regexp.MustCompile(`(?m)^\s*#\s*- (--[a-z0-9-]+(?:=\S*)?)\s*$`)
	for _, m := range alt.FindAllStringSubmatch(read(t, daemonSetFile), -1) {
		checkFlags(t, daemonSetFile+" commented args", []string{"attach", m[1]})
	}

	df := read(t, dockerfile)
	var cmd []string
	for _, w := range strings.Split(match(t, dockerCmdRe, df, "Dockerfile CMD"), ",") {
		cmd = append(cmd, unquote(strings.TrimSpace(w)))
	}
	checkFlags(t, "Dockerfile CMD", cmd)
}

// TestUnit: the privileges and the hardening the README describes.
func TestUnit(t *testing.T) {
	u := parseUnit(t)
	ambient := capSet(strings.Fields(u.one(t, "AmbientCapabilities")))
	bounding := capSet(strings.Fields(u.one(t, "CapabilityBoundingSet")))
	if !slices.Equal(ambient, bounding) {
		t.Errorf("AmbientCapabilities %v != CapabilityBoundingSet %v", ambient, bounding)
	}
	for _, c := range []string{"CAP_BPF", "CAP_PERFMON"} {
		if !slices.Contains(bounding, c) {
			t.Errorf("CapabilityBoundingSet lacks %s, without which nothing can be traced", c)
		}
	}
	if _, ok := u.settings["User"]; ok {
		t.Errorf("User= set: thread dumps of other users' JVMs need jschedlat to run as root (see the unit's comment)")
	}
	if v := u.one(t, "PrivateTmp"); v != "no" {
		t.Errorf("PrivateTmp=%s, want no (see the unit's comment)", v)
	}
	if f := strings.Fields(u.one(t, "SystemCallFilter")); slices.Contains(f, "@system-service") &&
		(!slices.Contains(f, "bpf") || !slices.Contains(f, "perf_event_open")) {
		t.Errorf("SystemCallFilter=%s: @system-service lacks bpf and perf_event_open, which must be added", strings.Join(f, " "))
	}
	if v, ok := u.settings["MemoryDenyWriteExecute"]; ok && v[0] == "yes" {
		t.Errorf("MemoryDenyWriteExecute=yes breaks the jcmd/jstack fallback (a JVM); see the unit's comment")
	}
	words := splitCommand(t, u.one(t, "ExecStart"))
	out, _ := flagValue(words, "-o")
	if dir := "/var/log/" + u.one(t, "LogsDirectory"); filepath.Dir(out) != dir {
		t.Errorf("ExecStart writes %q, outside LogsDirectory %s (read-only under ProtectSystem=strict)", out, dir)
	}
	if !slices.Contains(words, "--all-jvms") {
		t.Errorf("ExecStart does not use --all-jvms: %q", words)
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, with the
// binary's path pointed at a file that exists, where systemd-analyze is.
func TestUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze here")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "jschedlat")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := strings.ReplaceAll(read(t, unitFile), binPath, bin)
	path := filepath.Join(dir, unitFile)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDaemonSet: node-wide visibility, the scrape annotations pointing at
// the port jschedlat serves, and the unit's privileges.
func TestDaemonSet(t *testing.T) {
	ds, c := daemonSet(t)
	pod := get(t, ds, "spec", "template", "spec")
	if v := get(t, pod, "hostPID"); v != true {
		t.Errorf("hostPID: %v, want true (the JVMs of other pods are invisible otherwise)", v)
	}

	ann, _ := get(t, ds, "spec", "template", "metadata", "annotations").(map[string]any)
	for k, v := range ann {
		if _, ok := v.(string); !ok {
			t.Errorf("annotation %s: %v is a %T, the API wants a string (quote it)", k, v, v)
		}
	}
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("annotations: %v, want prometheus.io/scrape \"true\" and path /metrics", ann)
	}
	args := strings_(t, get(t, c, "args"))
	addr, ok := flagValue(args, "--metrics-addr")
	if !ok {
		t.Fatalf("args: no --metrics-addr: %q", args)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--metrics-addr %q: %v", addr, err)
	}
	if host != "" && host != "0.0.0.0" {
		t.Errorf("--metrics-addr %q: Prometheus scrapes the pod IP, listen on all addresses", addr)
	}
	if ann["prometheus.io/port"] != port {
		t.Errorf("prometheus.io/port %v, but jschedlat listens on %s", ann["prometheus.io/port"], port)
	}
	ports, _ := get(t, c, "ports").([]any)
	found := false
	for _, p := range ports {
		if fmt.Sprint(get(t, p, "containerPort")) == port {
			found = true
		}
	}
	if !found {
		t.Errorf("no containerPort %s among %v", port, ports)
	}

	sc := get(t, c, "securityContext")
	if get(t, sc, "privileged") != false {
		t.Errorf("privileged must be false: the capabilities say what is needed")
	}
	if get(t, sc, "readOnlyRootFilesystem") != true {
		t.Errorf("readOnlyRootFilesystem must be true")
	}
	if !slices.Equal(strings_(t, get(t, sc, "capabilities", "drop")), []string{"ALL"}) {
		t.Errorf("capabilities.drop must be [ALL]")
	}
	add := strings_(t, get(t, sc, "capabilities", "add"))
	u := parseUnit(t)
	if want := capSet(strings.Fields(u.one(t, "AmbientCapabilities"))); !slices.Equal(capSet(add), want) {
		t.Errorf("capabilities.add %v != the unit's AmbientCapabilities %v", capSet(add), want)
	}
	if m, _ := sc.(map[string]any); m["allowPrivilegeEscalation"] == false && slices.Contains(add, "CAP_SYS_ADMIN") {
		t.Errorf("the API refuses allowPrivilegeEscalation: false with CAP_SYS_ADMIN")
	}

	// The record file lies on the hostPath volume mounted read-write.
	out, _ := flagValue(args, "--output")
	mounted := false
	for _, m := range get(t, c, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		if mm["readOnly"] != true && strings.HasPrefix(out, mm["mountPath"].(string)+"/") {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("--output %q is not on a writable volume (the root filesystem is read-only)", out)
	}

	// Memory limits agree (systemd's M is MiB).
	if lim, mm := get(t, c, "resources", "limits", "memory"), u.one(t, "MemoryMax"); fmt.Sprint(lim) != strings.TrimSuffix(mm, "M")+"Mi" {
		t.Errorf("memory limit %v != the unit's MemoryMax=%s", lim, mm)
	}
}

// TestImage: the DaemonSet runs the image the Dockerfile builds, under the
// name the README builds it with, from the Go version go.mod asks for.
func TestImage(t *testing.T) {
	df := read(t, dockerfile)
	title := match(t, dockerTitleRe, df, "Dockerfile title label")
	_, c := daemonSet(t)
	image, _ := get(t, c, "image").(string)
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if filepath.Base(repo) != title {
		t.Errorf("DaemonSet image %q is not the %q the Dockerfile builds", image, title)
	}
	if !strings.Contains(read(t, readmeFile), "docker build -t "+title+":") {
		t.Errorf("%s does not say `docker build -t %s:VERSION .`", readmeFile, title)
	}
	if _, ok := c["command"]; ok {
		t.Errorf("the container sets command: the image's ENTRYPOINT is jschedlat, use args")
	}
	if e := match(t, dockerEntryRe, df, "Dockerfile ENTRYPOINT"); e != binPath {
		t.Errorf("ENTRYPOINT %s, want %s", e, binPath)
	}
	if !strings.Contains(df, "COPY --from=build /out/jschedlat "+binPath) {
		t.Errorf("the final image does not get the binary at %s", binPath)
	}
	if want, have := match(t, goModGoRe, read(t, goMod), "go.mod go line"), match(t, dockerArgRe, df, "Dockerfile GO_VERSION"); want != have {
		t.Errorf("Dockerfile GO_VERSION %s, go.mod says go %s", have, want)
	}
	froms := dockerFromRe.FindAllStringSubmatch(df, -1)
	if len(froms) < 2 || !strings.HasPrefix(froms[0][1], "golang:${GO_VERSION}") {
		t.Errorf("want a golang:${GO_VERSION} build stage and a final stage, have %v", froms)
	}
	if !strings.Contains(df, "CGO_ENABLED=0 go build -trimpath") {
		t.Errorf("the build is not static (CGO_ENABLED=0) and -trimpath")
	}
}

// TestDockerignore: the build context keeps every file the binary is built
// from (Go files and go:embed files, the committed BPF object among them).
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(read(t, dockerignore), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") || strings.Contains(l, "**") {
			t.Fatalf(".dockerignore: %q: not supported by this test", l)
		}
		patterns = append(patterns, strings.Trim(l, "/"))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}},{{join .EmbedFiles ","}}{{end}}{{end}}`,
		"github.com/jschedlat/jschedlat/cmd/jschedlat").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, names, _ := strings.Cut(l, "|")
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range strings.Split(names, ",") {
			if n != "" {
				files = append(files, filepath.Join(rel, n))
			}
		}
	}
	if !slices.Contains(files, "bpf/runqlat_bpfel.o") {
		t.Errorf("the BPF object is not among the build's files: %v", files)
	}
	for _, f := range files {
		// Docker excludes a path when a pattern matches it or one of its
		// parent directories.
		for p := f; p != "." && p != "/"; p = filepath.Dir(p) {
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, p); ok {
					t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, f)
				}
			}
		}
	}
}

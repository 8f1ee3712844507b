// Package images builds the one container image every scalelab node runs, on a
// machine that may have no registry at all.
//
// Two layers:
//   - base: Debian bookworm with the servers of packages.txt. Built offline with
//     mmdebstrap (reading this machine's own apt sources) and `docker import`,
//     or, where a registry answers, with rootfs/Dockerfile FROM debian:bookworm-slim.
//   - node: base plus our static Go binaries and config, by a COPY-only
//     `docker build` (no network needed).
//
// Both are tagged by a hash of their inputs, so a second build with nothing
// changed only hashes files and asks the engine whether the tags exist.
package images

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Repository names. Node is what stacks run; Current always points at the
// newest node image built on this machine.
const (
	BaseRepo = "scalelab/base"
	NodeRepo = "scalelab/node"
	Current  = NodeRepo + ":current"
)

// builderVersion is part of the base hash: bump it when the way the root
// filesystem is made changes (mmdebstrap flags, excludes).
const builderVersion = "base-v1"

//go:embed rootfs/packages.txt rootfs/setup.sh rootfs/Dockerfile
var rootfsFiles embed.FS

//go:embed node/Dockerfile node/etc
var nodeFiles embed.FS

// Binaries are the static Go programs copied into the node image, as
// name in /usr/local/bin -> Go package to build.
var Binaries = map[string]string{
	"mysite":           "./cmd/mysite",
	"pgfailover":       "./cmd/pgfailover",
	"shop":             "./cmd/shop",
	"blackhole":        "./cmd/blackhole",
	"alertlog":         "./cmd/alertlog",
	"toxiproxy-server": "github.com/Shopify/toxiproxy/v2/cmd/server",
}

// Path is how the base image gets made.
type Path string

const (
	PathMmdebstrap Path = "mmdebstrap" // offline: host apt sources + docker import
	PathDockerfile Path = "dockerfile" // a registry is reachable
)

// Options steer a build. The zero value picks everything itself.
type Options struct {
	RepoRoot string    // where go.mod is; found from the working directory when empty
	Path     Path      // force a path; SCALELAB_IMAGE_PATH, then auto-detection otherwise
	Progress io.Writer // step lines go here (os.Stderr when nil)
	WorkDir  string    // scratch space; a temporary directory when empty
}

// Result says what a build did.
type Result struct {
	Base, Node   string // the tags
	BaseBuilt    bool   // false: it existed already
	NodeBuilt    bool
	Path         Path // the path used for the base (empty when it existed)
	BaseDuration time.Duration
	NodeDuration time.Duration
}

// StepError names the step of a build that failed, so a user knows where to look.
type StepError struct {
	Step string
	Err  error
	Log  string // the tail of the failing command's output
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("image build step %q failed: %v", e.Step, e.Err)
	if e.Log != "" {
		msg += "\n--- last output ---\n" + e.Log
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// Packages returns the package list, without comments and blank lines.
func Packages() ([]string, error) {
	data, err := rootfsFiles.ReadFile("rootfs/packages.txt")
	if err != nil {
		return nil, err
	}
	var pkgs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pkgs = append(pkgs, line)
	}
	return pkgs, sc.Err()
}

// BaseTag is the tag of the base image for the current inputs.
func BaseTag() (string, error) {
	h := sha256.New()
	h.Write([]byte(builderVersion))
	if err := hashFS(h, rootfsFiles, "rootfs"); err != nil {
		return "", err
	}
	return BaseRepo + ":" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Build makes sure the base and node images for the current inputs exist,
// building what is missing.
func Build(ctx context.Context, opt Options) (Result, error) {
	var res Result
	out := opt.Progress
	if out == nil {
		out = os.Stderr
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(out, "%s images: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	if err := dockerReachable(ctx); err != nil {
		return res, err
	}
	root := opt.RepoRoot
	if root == "" {
		var err error
		if root, err = FindRepoRoot(); err != nil {
			return res, err
		}
	}
	work := opt.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "scalelab-images-")
		if err != nil {
			return res, fmt.Errorf("images: scratch dir: %w", err)
		}
		defer os.RemoveAll(dir)
		work = dir
	}

	// Base layer.
	base, err := BaseTag()
	if err != nil {
		return res, err
	}
	res.Base = base
	if imageExists(ctx, base) {
		logf("base %s is up to date", base)
	} else {
		path, why, err := choosePath(ctx, opt.Path)
		if err != nil {
			return res, err
		}
		res.Path = path
		logf("building base %s with the %s path (%s)", base, path, why)
		start := time.Now()
		if path == PathMmdebstrap {
			err = buildBaseMmdebstrap(ctx, base, work, logf)
		} else {
			err = buildBaseDockerfile(ctx, base, work, logf)
		}
		if err != nil {
			return res, err
		}
		res.BaseBuilt = true
		res.BaseDuration = time.Since(start)
		logf("base %s built in %s", base, res.BaseDuration.Round(100*time.Millisecond))
	}

	// Node layer.
	start := time.Now()
	ctxDir := filepath.Join(work, "node")
	if err := os.MkdirAll(filepath.Join(ctxDir, "bin"), 0o755); err != nil {
		return res, err
	}
	if err := buildBinaries(ctx, root, filepath.Join(ctxDir, "bin"), logf); err != nil {
		return res, err
	}
	if err := copyFS(nodeFiles, "node", ctxDir); err != nil {
		return res, &StepError{Step: "prepare node context", Err: err}
	}
	h := sha256.New()
	h.Write([]byte(base))
	if err := hashDir(h, ctxDir); err != nil {
		return res, &StepError{Step: "hash node context", Err: err}
	}
	node := NodeRepo + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	res.Node = node
	if imageExists(ctx, node) {
		logf("node %s is up to date", node)
	} else {
		logf("building node %s", node)
		if err := run(ctx, "docker build (node)", ctxDir, []string{"DOCKER_BUILDKIT=0"},
			"docker", "build", "-q", "--build-arg", "BASE="+base, "-t", node, "."); err != nil {
			return res, err
		}
		res.NodeBuilt = true
	}
	if err := run(ctx, "docker tag (current)", "", nil, "docker", "tag", node, Current); err != nil {
		return res, err
	}
	res.NodeDuration = time.Since(start)
	logf("node image ready: %s (also %s)", node, Current)
	if n := pruneOld(ctx, base, node); n > 0 {
		logf("removed %d outdated scalelab image tags", n)
	}
	return res, nil
}

// pruneOld removes the tags of earlier builds, which would otherwise pile up
// at half a gigabyte each. Removal of an image still in use fails; that is fine.
func pruneOld(ctx context.Context, keep ...string) int {
	n := 0
	for _, repo := range []string{NodeRepo, BaseRepo} { // children first
		out, err := exec.CommandContext(ctx, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo).Output()
		if err != nil {
			continue
		}
		for _, ref := range strings.Fields(string(out)) {
			if ref == Current || slices.Contains(keep, ref) {
				continue
			}
			if exec.CommandContext(ctx, "docker", "rmi", ref).Run() == nil {
				n++
			}
		}
	}
	return n
}

// choosePath picks how to build the base and says why.
func choosePath(ctx context.Context, forced Path) (Path, string, error) {
	if forced == "" {
		forced = Path(os.Getenv("SCALELAB_IMAGE_PATH"))
	}
	switch forced {
	case PathMmdebstrap:
		if _, err := exec.LookPath("mmdebstrap"); err != nil {
			return "", "", errors.New("images: the mmdebstrap path was asked for but mmdebstrap is not installed (apt-get install mmdebstrap)")
		}
		return PathMmdebstrap, "asked for", nil
	case PathDockerfile:
		return PathDockerfile, "asked for", nil
	case "":
	default:
		return "", "", fmt.Errorf("images: SCALELAB_IMAGE_PATH=%q: valid values are %q and %q", forced, PathMmdebstrap, PathDockerfile)
	}
	if imageExists(ctx, "debian:bookworm-slim") {
		return PathDockerfile, "debian:bookworm-slim is present", nil
	}
	// An offline engine answers a pull in milliseconds; bound it anyway.
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := exec.CommandContext(pctx, "docker", "pull", "-q", "debian:bookworm-slim").Run(); err == nil {
		return PathDockerfile, "a registry answered", nil
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", "", errors.New("images: no registry is reachable and mmdebstrap is not installed: install it (apt-get install mmdebstrap) and run `make images` again")
	}
	return PathMmdebstrap, "no registry reachable", nil
}

func buildBaseMmdebstrap(ctx context.Context, tag, work string, logf func(string, ...any)) error {
	pkgs, err := Packages()
	if err != nil {
		return err
	}
	sources, err := HostDebianSources()
	if err != nil {
		return &StepError{Step: "read apt sources", Err: err}
	}
	dir := filepath.Join(work, "rootfs")
	if err := copyFS(rootfsFiles, "rootfs", dir); err != nil {
		return &StepError{Step: "prepare rootfs inputs", Err: err}
	}
	tarball := filepath.Join(work, "rootfs.tar")
	logf("mmdebstrap: %d packages from this machine's apt sources (about a minute)", len(pkgs))
	args := []string{
		"--variant=minbase",
		"--include=" + strings.Join(pkgs, ","),
		// Documentation and translations are dead weight in a lab node.
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		"--dpkgopt=path-include=/usr/share/locale/locale.alias",
		"--customize-hook=copy-in " + filepath.Join(dir, "setup.sh") + " /tmp",
		`--customize-hook=chroot "$1" sh /tmp/setup.sh`,
		`--customize-hook=rm -f "$1/tmp/setup.sh"`,
		"bookworm", tarball, "-",
	}
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	cmd.Stdin = strings.NewReader(sources)
	if err := runCmd(cmd, "mmdebstrap"); err != nil {
		return err
	}
	logf("docker import")
	return run(ctx, "docker import", "", nil, "docker", "import",
		"--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--change", "ENV LANG=C.UTF-8",
		"--message", "scalelab base ("+builderVersion+")",
		tarball, tag)
}

func buildBaseDockerfile(ctx context.Context, tag, work string, logf func(string, ...any)) error {
	dir := filepath.Join(work, "rootfs")
	if err := copyFS(rootfsFiles, "rootfs", dir); err != nil {
		return &StepError{Step: "prepare rootfs inputs", Err: err}
	}
	logf("docker build FROM debian:bookworm-slim")
	return run(ctx, "docker build (base)", dir, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-t", tag, ".")
}

func buildBinaries(ctx context.Context, root, dst string, logf func(string, ...any)) error {
	names := make([]string, 0, len(Binaries))
	for n := range Binaries {
		names = append(names, n)
	}
	sort.Strings(names)
	logf("go build (static): %s", strings.Join(names, ", "))
	for _, n := range names {
		// -trimpath and no VCS stamp keep the bytes, and so the tag, stable
		// across checkouts of the same source.
		err := run(ctx, "go build "+n, root, []string{"CGO_ENABLED=0"},
			"go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", filepath.Join(dst, n), Binaries[n])
		if err != nil {
			return err
		}
	}
	return nil
}

// HostDebianSources returns this machine's apt sources for Debian bookworm as a
// deb822 sources file, leaving out third-party repositories (their keys are not
// in the new root). The mirror addresses come from the machine, never from the repo.
func HostDebianSources() (string, error) {
	files := map[string]string{}
	paths, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	for _, p := range append([]string{"/etc/apt/sources.list"}, paths...) {
		if data, err := os.ReadFile(p); err == nil {
			files[p] = string(data)
		}
	}
	return debianSources(files)
}

// debianSources keeps the bookworm entries of sources files (path -> content;
// *.sources in deb822 form, the others one-line form).
func debianSources(files map[string]string) (string, error) {
	var b strings.Builder
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		data := files[p]
		if strings.HasSuffix(p, ".sources") {
			for _, stanza := range strings.Split(data, "\n\n") {
				fields := deb822Fields(stanza)
				if suites := bookwormSuites(strings.Fields(fields["suites"])); len(suites) > 0 &&
					strings.Contains(" "+fields["types"]+" ", " deb ") && fields["uris"] != "" {
					fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n", fields["uris"], strings.Join(suites, " "))
					if k := fields["signed-by"]; k != "" {
						fmt.Fprintf(&b, "Signed-By: %s\n", k)
					}
					b.WriteString("\n")
				}
			}
			continue
		}
		if !strings.HasSuffix(p, ".list") {
			continue
		}
		for _, line := range strings.Split(data, "\n") {
			fs := strings.Fields(line)
			if len(fs) < 3 || fs[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(fs[i], "[") { // [arch=... signed-by=...] options
				for i < len(fs) && !strings.HasSuffix(fs[i], "]") {
					i++
				}
				i++
			}
			if i+1 >= len(fs) {
				continue
			}
			if s := bookwormSuites([]string{fs[i+1]}); len(s) == 1 {
				fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n\n", fs[i], s[0])
			}
		}
	}
	if b.Len() == 0 {
		return "", errors.New("no Debian bookworm entries in /etc/apt/sources.list{,.d}: mmdebstrap needs this machine's apt sources to reach Debian's packages")
	}
	return b.String(), nil
}

func deb822Fields(stanza string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(stanza, "\n") {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return m
}

func bookwormSuites(suites []string) []string {
	var out []string
	for _, s := range suites {
		switch s {
		case "bookworm", "bookworm-updates", "bookworm-security":
			out = append(out, s)
		}
	}
	return out
}

// FindRepoRoot walks up from the working directory to the scalelab go.mod.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/scalelab/scalelab")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("images: run this inside the scalelab repository (no scalelab go.mod above the working directory)")
		}
		dir = parent
	}
}

func dockerReachable(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("images: no Docker engine answers (DOCKER_HOST=%q; check with `docker version`): %s",
			os.Getenv("DOCKER_HOST"), strings.TrimSpace(string(out)))
	}
	return nil
}

func imageExists(ctx context.Context, ref string) bool {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(cctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Run() == nil
}

func run(ctx context.Context, step, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return runCmd(cmd, step)
}

// runCmd runs a command, keeping its output for the error message only.
func runCmd(cmd *exec.Cmd, step string) error {
	var buf tailBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return &StepError{Step: step, Err: err, Log: buf.String()}
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}
func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }

func hashFS(h io.Writer, fsys fs.FS, root string) error {
	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
		return nil
	})
}

func hashDir(h io.Writer, dir string) error {
	return hashFS(h, os.DirFS(dir), ".")
}

func copyFS(fsys fs.FS, root, dst string) error {
	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		return os.WriteFile(target, data, mode)
	})
}

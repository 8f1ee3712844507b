package images

import (
	"strings"
	"testing"
)

func TestDebianSourcesKeepsOnlyBookworm(t *testing.T) {
	got, err := debianSources(map[string]string{
		"/etc/apt/sources.list.d/debian.sources": "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n" +
			"Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n",
		"/etc/apt/sources.list.d/other.list":   "deb https://vendor.example/apt cloud-sdk-bookworm main\n",
		"/etc/apt/sources.list.d/node.sources": "Types: deb\nURIs: https://node.example\nSuites: nodistro\n",
		"/etc/apt/sources.list":                "# a comment\ndeb [arch=amd64] http://one.example/debian bookworm main contrib\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http://mirror.example/debian\nSuites: bookworm bookworm-updates", "Suites: bookworm-security", "URIs: http://one.example/debian\nSuites: bookworm\n", "Signed-By: /usr/share/keyrings"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"vendor.example", "node.example"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("third-party source %q kept:\n%s", unwanted, got)
		}
	}
}

func TestDebianSourcesNoneIsAnError(t *testing.T) {
	if _, err := debianSources(map[string]string{"/etc/apt/sources.list": "deb http://x.example/ubuntu jammy main\n"}); err == nil {
		t.Fatal("want an error when no bookworm source exists")
	}
}

func TestPackagesAndTagAreStable(t *testing.T) {
	pkgs, err := Packages()
	if err != nil || len(pkgs) == 0 {
		t.Fatalf("packages: %v %v", pkgs, err)
	}
	for _, p := range pkgs {
		if strings.ContainsAny(p, " #") {
			t.Errorf("package line %q not cleaned", p)
		}
	}
	a, _ := BaseTag()
	b, _ := BaseTag()
	if a != b || !strings.HasPrefix(a, BaseRepo+":") {
		t.Errorf("base tag %q / %q", a, b)
	}
}

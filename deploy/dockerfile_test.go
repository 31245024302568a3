package deploy_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dockerfile is the Dockerfile's instructions of its final stage, and the
// RUN lines of every stage.
type dockerfile struct {
	from        string
	user        string
	entrypoint  []string
	cmd         []string
	runs, args  []string
	stagesCount int
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	var d dockerfile
	for _, line := range strings.Split(string(repoFile(t, "Dockerfile")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			d.from, d.user, d.entrypoint, d.cmd = rest, "", nil, nil
			d.stagesCount++
		case "USER":
			d.user = rest
		case "RUN":
			d.runs = append(d.runs, rest)
		case "ARG":
			d.args = append(d.args, rest)
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("Dockerfile %s %s: not the exec form: %v", word, rest, err)
			}
			if word == "CMD" {
				d.cmd = v
			} else {
				d.entrypoint = v
			}
		}
	}
	return d
}

// dockerfileUser is the numeric user the image runs as.
func dockerfileUser(t *testing.T) int {
	t.Helper()
	u, _, _ := strings.Cut(parseDockerfile(t).user, ":")
	n, err := strconv.Atoi(u)
	if err != nil {
		t.Fatalf("Dockerfile USER %q: want a number, which Kubernetes' runAsNonRoot can check", u)
	}
	return n
}

// dockerfileCmd is the image's default arguments.
func dockerfileCmd(t *testing.T) []string {
	t.Helper()
	return parseDockerfile(t).cmd
}

var versionStamp = regexp.MustCompile(`-X main\.version=\$\{?VERSION\}?`)

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	if d.stagesCount < 2 {
		t.Errorf("%d stages: build in one, ship the binary alone in the next", d.stagesCount)
	}
	if !strings.HasPrefix(d.from, "gcr.io/distroless/static") || !strings.HasSuffix(d.from, ":nonroot") {
		t.Errorf("final stage FROM %s, want a distroless static nonroot image", d.from)
	}
	if u := dockerfileUser(t); u != nonrootUser {
		t.Errorf("USER %d, want distroless's nonroot %d", u, nonrootUser)
	}
	if len(d.entrypoint) != 1 || d.entrypoint[0] != binaryPath {
		t.Errorf("ENTRYPOINT %v, want [%s]", d.entrypoint, binaryPath)
	}
	if want := []string{"--config", configPath}; strings.Join(d.cmd, " ") != strings.Join(want, " ") {
		t.Errorf("CMD %v, want %v", d.cmd, want)
	}
	var static, stamped bool
	for _, r := range d.runs {
		if strings.Contains(r, "go build") {
			static = strings.Contains(r, "CGO_ENABLED=0")
			stamped = versionStamp.MatchString(r)
		}
	}
	if !static || !stamped {
		t.Errorf("go build: static (CGO_ENABLED=0) %v, version-stamped (-X main.version=${VERSION}) %v", static, stamped)
	}
	if !strings.Contains(strings.Join(d.args, "\n"), "VERSION") {
		t.Error("no ARG VERSION")
	}
	if !strings.Contains(string(repoFile(t, "cmd/syncd/main.go")), "var version") {
		t.Error("cmd/syncd has no version variable for -X main.version")
	}
}

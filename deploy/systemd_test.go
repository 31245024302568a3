package deploy_test

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/config"
)

// unit is a parsed systemd unit file: section, then key, then each value in
// order (keys such as LoadCredential= repeat).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, name string) unit {
	t.Helper()
	u := unit{}
	var section string
	sc := bufio.NewScanner(bytes.NewReader(repoFile(t, "systemd/"+name)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case strings.HasSuffix(line, `\`):
			t.Fatalf("%s:%d: continuation lines are not supported here", name, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", name, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u
}

// one returns the single value of a key, failing t when it is missing or
// repeated.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) != 1 {
		t.Errorf("[%s] %s=: %d values %q, want 1", section, key, len(vs), vs)
		return ""
	}
	return vs[0]
}

func (u unit) want(t *testing.T, section, key, value string) {
	t.Helper()
	if got := u.one(t, section, key); got != value {
		t.Errorf("[%s] %s=%s, want %s", section, key, got, value)
	}
}

// checkCommand checks that a command line runs syncd with these arguments.
func checkCommand(t *testing.T, key, line string, args ...string) {
	t.Helper()
	want := strings.Join(append([]string{binaryPath}, args...), " ")
	if strings.Join(strings.Fields(line), " ") != want {
		t.Errorf("%s=%s, want %s", key, line, want)
	}
}

// checkSyncdService checks what both services rely on: credentials named as
// syncd reads them, the sandbox, and a stop timeout above scim.timeout.
func checkSyncdService(t *testing.T, u unit) {
	t.Helper()
	creds := map[string]string{}
	for _, v := range u["Service"]["LoadCredential"] {
		name, path, _ := strings.Cut(v, ":")
		creds[name] = path
	}
	wantCreds := []string{config.CredentialSCIMToken, config.CredentialBindPassword, config.CredentialDatabaseURL}
	if got := slices.Sorted(maps.Keys(creds)); !slices.Equal(got, slices.Sorted(slices.Values(wantCreds))) {
		t.Errorf("LoadCredential names %v, want %v (config's credential names)", got, wantCreds)
	}
	for name, path := range creds {
		if path != "/etc/syncd/credentials/"+name {
			t.Errorf("LoadCredential=%s:%s, want the file /etc/syncd/credentials/%s", name, path, name)
		}
	}
	for k, v := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM",
	} {
		u.want(t, "Service", k, v)
	}
	stop, err := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
	if err != nil {
		t.Errorf("TimeoutStopSec: %v", err)
	} else if min := defaultSCIMTimeout(); stop <= min {
		t.Errorf("TimeoutStopSec=%s, want above scim.timeout (%s by default)", stop, min)
	}
	if u["Unit"]["Description"] == nil {
		t.Error("no [Unit] Description=")
	}
}

// perService are the [Service] keys in which syncd.service and
// syncd-once.service may differ; every other key, the sandbox, must match.
var perService = []string{"Type", "ExecStart", "ExecStartPre", "Restart", "RestartSec", "TimeoutStartSec", "ExecReload"}

// onCalendarStep matches the OnCalendar form the timer uses: every N
// minutes from the hour.
var onCalendarStep = regexp.MustCompile(`^\*:0/(\d+)$`)

func TestSystemdUnits(t *testing.T) {
	daemon := parseUnit(t, "syncd.service")
	once := parseUnit(t, "syncd-once.service")
	timer := parseUnit(t, "syncd-once.timer")

	t.Run("syncd.service", func(t *testing.T) {
		daemon.want(t, "Service", "Type", "simple")
		daemon.want(t, "Service", "Restart", "on-failure")
		checkCommand(t, "ExecStart", daemon.one(t, "Service", "ExecStart"), "--config", configPath)
		checkCommand(t, "ExecStartPre", daemon.one(t, "Service", "ExecStartPre"), "migrate", "--config", configPath)
		daemon.want(t, "Install", "WantedBy", "multi-user.target")
		daemon.want(t, "Service", "ExecReload", "/bin/kill -HUP $MAINPID")
		checkSyncdService(t, daemon)
	})
	t.Run("syncd-once.service", func(t *testing.T) {
		once.want(t, "Service", "Type", "oneshot")
		checkCommand(t, "ExecStart", once.one(t, "Service", "ExecStart"), "--once", "--config", configPath)
		if once["Service"]["Restart"] != nil {
			t.Error("a oneshot run must not restart itself: the timer starts the next")
		}
		if once["Install"] != nil {
			t.Error("syncd-once.service has an [Install] section; the timer starts it")
		}
		checkSyncdService(t, once)
		for k, dv := range daemon["Service"] {
			if !slices.Contains(perService, k) && !slices.Equal(once["Service"][k], dv) {
				t.Errorf("%s=%q, but syncd.service has %q: keep the sandbox the same", k, once["Service"][k], dv)
			}
		}
		for k := range once["Service"] {
			if !slices.Contains(perService, k) && daemon["Service"][k] == nil {
				t.Errorf("%s= is set only in syncd-once.service", k)
			}
		}
	})
	t.Run("syncd-once.timer", func(t *testing.T) {
		timer.want(t, "Timer", "Unit", "syncd-once.service")
		timer.want(t, "Timer", "Persistent", "true")
		timer.want(t, "Install", "WantedBy", "timers.target")
		if _, err := time.ParseDuration(timer.one(t, "Timer", "RandomizedDelaySec")); err != nil {
			t.Errorf("RandomizedDelaySec: %v", err)
		}
		cal := timer.one(t, "Timer", "OnCalendar")
		m := onCalendarStep.FindStringSubmatch(cal)
		if m == nil {
			t.Fatalf("OnCalendar=%s: not of the form *:0/N this test knows", cal)
		}
		step, _ := strconv.Atoi(m[1])
		if got, want := time.Duration(step)*time.Minute, scheduleInterval(t, config.Default().Schedule); got != want {
			t.Errorf("OnCalendar=%s runs every %s, syncd's default schedule every %s", cal, got, want)
		}
	})
	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze := tool(t, "systemd-analyze")
		if analyze == "" {
			return
		}
		// verify wants the executables to exist: point them at /bin/true.
		dir := t.TempDir()
		for _, name := range []string{"syncd.service", "syncd-once.service", "syncd-once.timer"} {
			data := bytes.ReplaceAll(repoFile(t, "systemd/"+name), []byte(binaryPath), []byte("/bin/true"))
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		runTool(t, dir, true, analyze, "verify", "--man=no", "./syncd.service", "./syncd-once.service", "./syncd-once.timer")
	})
}

package slapdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

const helperEnv = "SLAPDTEST_HELPER"

// TestSlapdDiesWithTestBinary runs a copy of this test binary that starts
// slapd and is then killed without any cleanup, as an interrupted test run
// is; slapd must not outlive it.
func TestSlapdDiesWithTestBinary(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		s, err := Start(context.Background(), Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(s.URL)
		select {} // wait to be killed
	}
	if _, err := testenv.LookPath("slapd", binDirs...); err != nil {
		testenv.Unavailable(t, "slapd not found", installHint)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestSlapdDiesWithTestBinary$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "TMPDIR="+t.TempDir(), EnvURL+"=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ldap://") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	u, err := url.Parse(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if !answers(u.Host) {
		t.Fatal("slapd does not answer while its parent lives")
	}
	cmd.Process.Kill()
	cmd.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for answers(u.Host) {
		if time.Now().After(deadline) {
			t.Fatalf("slapd at %s still answers after its parent was killed", u.Host)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestStartWithoutSlapd(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := binDirs
	binDirs = nil
	t.Cleanup(func() { binDirs = old })
	_, err := Start(context.Background(), Options{})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start without slapd: %v, want ErrNotInstalled", err)
	}
}

// Package slapdtest starts a real OpenLDAP slapd for tests, so that paging,
// size limits, ACLs, memberOf, entryUUID and binary objectGUID values are
// decided by the server itself rather than by a mock. Start builds a
// slapd.conf in a temporary directory (core, cosine, inetOrgPerson, nis, the
// ppolicy attributes, and a small embedded schema for AD's user and group
// classes, its USN and tombstone attributes, stand-ins for the root DSE
// attributes that name a domain controller, and 389-DS's nsAccountLock), loads Options.LDIF offline with slapadd,
// which is fast and keeps any entryUUID the LDIF gives, starts slapd on a
// free loopback port and then adds Options.OnlineLDIF, so that the memberof
// overlay fills memberOf for groups. New does the same for one test and
// stops the server in t.Cleanup; when SYNCD_TEST_LDAP_URL is set it uses
// that server instead (see New). To share one server between the tests of a
// package, call Shared from the tests and StopShared from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if err := slapdtest.StopShared(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(code)
//	}
//
// slapd runs with the parent-death signal set, so it dies with the test
// binary even when StopShared is never reached.
package slapdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

// DefaultSuffix is the naming context used when Options.Suffix is empty.
const DefaultSuffix = "dc=corp,dc=example,dc=com"

// ControlTypeRelax is the Relax Rules control (OpenLDAP's OID). AddLDIF
// sends it so that the LDIF may set entryUUID and pwdAccountLockedTime,
// which slapd otherwise reserves to itself.
const ControlTypeRelax = "1.3.6.1.4.1.4203.666.5.12"

// The Debian packages put these off the ordinary PATH.
var (
	binDirs    = []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/libexec", "/usr/libexec"}
	moduleDirs = []string{"/usr/lib/ldap", "/usr/lib/openldap", "/usr/lib64/openldap", "/usr/local/libexec/openldap"}
	schemaDirs = []string{"/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"}
)

//go:embed syncd-test.schema
var extraSchema []byte

// Options describe the server to start.
type Options struct {
	// Suffix is the naming context; default DefaultSuffix. The fixture
	// creates the suffix entry itself.
	Suffix string
	// LDIF is loaded offline with slapadd before slapd starts. It must not
	// contain the suffix entry.
	LDIF []byte
	// OnlineLDIF is added over LDAP once slapd runs; use it for groups,
	// whose memberOf values the memberof overlay fills only online.
	OnlineLDIF []byte
	// Config holds extra slapd.conf lines for the database section, placed
	// before the default access rules so that they take precedence, e.g.
	// `limits dn.exact="cn=syncd,dc=corp,dc=example,dc=com" size.prtotal=10`.
	// The default rules let the root DN do anything and any authenticated
	// user read everything but passwords.
	Config string
	// SyncprovSessionlog, when positive, keeps a syncprov session log of
	// that many operations, so that a syncrepl refresh from a recent cookie
	// can be answered with deletes rather than a present phase.
	SyncprovSessionlog int
}

// Server is a running slapd, or an external server named by
// SYNCD_TEST_LDAP_URL.
type Server struct {
	URL          string
	Suffix       string
	RootDN       string
	RootPassword string

	dir      string
	slapd    string // binary and config, kept for Restart
	conf     string
	cmd      *exec.Cmd
	exited   chan struct{}
	stderr   *tailBuffer
	external bool

	mu    sync.Mutex
	added []string // DNs added online, for an external server's cleanup

	stopOnce sync.Once
	stopErr  error
}

var errExited = errors.New("slapd exited while starting")

// ErrNotInstalled reports that slapd or slapadd is missing on this machine.
var ErrNotInstalled = errors.New("slapd not installed")

// Start starts a slapd and returns once a root bind succeeds. ctx bounds
// the start only (slapadd, waiting for readiness, the online add); the
// server runs until Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	slapd, err := testenv.LookPath("slapd", binDirs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	slapadd, err := testenv.LookPath("slapadd", binDirs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		// A slapd that neither answers nor exits must not hang the tests.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	if opts.Suffix == "" {
		opts.Suffix = DefaultSuffix
	}
	suffixEntry, err := suffixLDIF(opts.Suffix)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "slapdtest-")
	if err != nil {
		return nil, fmt.Errorf("create slapd directory: %w", err)
	}
	s := &Server{
		Suffix:       opts.Suffix,
		RootDN:       "cn=admin," + opts.Suffix,
		RootPassword: randomPassword(),
		dir:          dir,
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()

	conf, err := s.writeFiles(opts)
	if err != nil {
		return nil, err
	}
	// slapadd reads stdin when given no -l, which spares a copy of a large
	// LDIF on disk.
	load := exec.CommandContext(ctx, slapadd, "-q", "-f", conf)
	load.Stdin = io.MultiReader(bytes.NewReader(suffixEntry), strings.NewReader("\n"), bytes.NewReader(opts.LDIF))
	if out, err := load.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("load ldif with slapadd: %w: %s", err, lastLines(out, 5))
	}

	s.slapd, s.conf = slapd, conf
	// The free port can be taken between asking and binding; try again.
	for attempt := 0; ; attempt++ {
		port, perr := testenv.FreePort()
		if perr != nil {
			return nil, perr
		}
		err = s.run(ctx, port)
		if err == nil || attempt == 2 || !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if len(opts.OnlineLDIF) > 0 {
		if err := s.AddLDIF(ctx, opts.OnlineLDIF); err != nil {
			return nil, fmt.Errorf("add online ldif: %w", err)
		}
	}
	ok = true
	return s, nil
}

func (s *Server) writeFiles(opts Options) (string, error) {
	modules, err := firstDir(moduleDirs, "back_mdb.so")
	if err != nil {
		return "", err
	}
	schemas, err := firstDir(schemaDirs, "core.schema")
	if err != nil {
		return "", err
	}
	extra := filepath.Join(s.dir, "syncd-test.schema")
	if err := os.WriteFile(extra, extraSchema, 0o600); err != nil {
		return "", fmt.Errorf("write slapd schema: %w", err)
	}
	db := filepath.Join(s.dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		return "", fmt.Errorf("create slapd database directory: %w", err)
	}
	var b strings.Builder
	for _, name := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include %s\n", filepath.Join(schemas, name+".schema"))
	}
	fmt.Fprintf(&b, "include %s\n", extra)
	fmt.Fprintf(&b, "pidfile %s\nargsfile %s\n", filepath.Join(s.dir, "slapd.pid"), filepath.Join(s.dir, "slapd.args"))
	fmt.Fprintf(&b, "modulepath %s\n", modules)
	// ppolicy is loaded for its schema (pwdAccountLockedTime); without the
	// overlay it enforces no policy.
	for _, m := range []string{"back_mdb", "memberof", "syncprov", "sssvlv", "ppolicy"} {
		fmt.Fprintf(&b, "moduleload %s\n", m)
	}
	// Without this, the default limit of 500 would also cap paged searches
	// by ordinary binds (size.prtotal defaults to the hard limit).
	b.WriteString("sizelimit unlimited\n")
	b.WriteString("access to dn.base=\"\" by * read\n")
	b.WriteString("access to dn.base=\"cn=Subschema\" by * read\n")
	b.WriteString("\ndatabase mdb\n")
	// 4 GiB of address space; the file grows only as far as it is used.
	b.WriteString("maxsize 4294967296\n")
	fmt.Fprintf(&b, "suffix %s\nrootdn %s\nrootpw %s\ndirectory %s\n",
		quote(s.Suffix), quote(s.RootDN), s.RootPassword, db)
	b.WriteString("dbnosync\n")
	// syncprov looks entries up by entryCSN and entryUUID.
	for _, ix := range []string{"objectClass eq", "entryUUID eq", "entryCSN eq", "uid eq", "mail eq", "cn eq", "member eq", "memberOf eq"} {
		fmt.Fprintf(&b, "index %s\n", ix)
	}
	b.WriteString("overlay memberof\noverlay syncprov\n")
	if opts.SyncprovSessionlog > 0 {
		fmt.Fprintf(&b, "syncprov-sessionlog %d\n", opts.SyncprovSessionlog)
	}
	b.WriteString("overlay sssvlv\n")
	if opts.Config != "" {
		b.WriteString(opts.Config)
		b.WriteString("\n")
	}
	b.WriteString("access to attrs=userPassword by self write by anonymous auth by * none\n")
	b.WriteString("access to * by users read by * none\n")

	conf := filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write slapd.conf: %w", err)
	}
	return conf, nil
}

// run starts slapd on port and waits until a root bind works.
func (s *Server) run(ctx context.Context, port int) error {
	url := "ldap://127.0.0.1:" + strconv.Itoa(port) + "/"
	cmd := exec.Command(s.slapd, "-f", s.conf, "-h", url, "-d", "0")
	cmd.SysProcAttr = dieWithParent()
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.URL, s.cmd, s.exited, s.stderr = url, cmd, exited, stderr

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := s.Conn(ctx)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w: %s", errExited, lastLines(stderr.Bytes(), 5))
		case <-ctx.Done():
			return fmt.Errorf("wait for slapd at %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Stop kills slapd and removes its directory. It is safe to call more than
// once; for an external server it does nothing.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.external {
			return
		}
		if s.cmd != nil && s.cmd.Process != nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
		if s.dir != "" {
			if err := os.RemoveAll(s.dir); err != nil {
				s.stopErr = fmt.Errorf("remove slapd directory: %w", err)
			}
		}
	})
	return s.stopErr
}

// Conn returns a connection bound as the root DN. Its requests time out
// with ctx's deadline, or after 30 seconds when ctx has none. The caller
// closes it.
func (s *Server) Conn(ctx context.Context) (*ldap.Conn, error) {
	return s.Dial(ctx, s.RootDN, s.RootPassword)
}

// Dial returns a connection bound as dn, for tests that need the limits
// and access rules of an ordinary account.
func (s *Server) Dial(ctx context.Context, dn, password string) (*ldap.Conn, error) {
	timeout := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.URL, err)
	}
	conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.URL, err)
	}
	conn.SetTimeout(timeout)
	if err := conn.Bind(dn, password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind as %s: %w", dn, err)
	}
	return conn, nil
}

// AddLDIF adds the entries of ldif over LDAP, in order, as the root DN. It
// sends the Relax Rules control so that entries may carry entryUUID and
// pwdAccountLockedTime.
func (s *Server) AddLDIF(ctx context.Context, ldif []byte) error {
	entries, err := ParseLDIF(ldif)
	if err != nil {
		return err
	}
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	relax := []ldap.Control{ldap.NewControlString(ControlTypeRelax, false, "")}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("add %s: %w", e.DN, err)
		}
		req := ldap.NewAddRequest(e.DN, relax)
		for _, a := range e.Attributes {
			req.Attribute(a.Type, a.Vals)
		}
		if err := conn.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", e.DN, err)
		}
		s.mu.Lock()
		s.added = append(s.added, e.DN)
		s.mu.Unlock()
	}
	return nil
}

// deleteAdded removes, newest first, what AddLDIF added: the cleanup of an
// external server, which outlives the test.
func (s *Server) deleteAdded(ctx context.Context) error {
	s.mu.Lock()
	added := s.added
	s.added = nil
	s.mu.Unlock()
	if len(added) == 0 {
		return nil
	}
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var errs []error
	for i := len(added) - 1; i >= 0; i-- {
		err := conn.Del(ldap.NewDelRequest(added[i], nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			errs = append(errs, fmt.Errorf("delete %s: %w", added[i], err))
		}
	}
	return errors.Join(errs...)
}

// suffixLDIF builds the suffix entry from its first RDN.
func suffixLDIF(suffix string) ([]byte, error) {
	dn, err := ldap.ParseDN(suffix)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 {
		return nil, fmt.Errorf("parse suffix %q: want a DN with a single-valued first RDN", suffix)
	}
	a := dn.RDNs[0].Attributes[0]
	var b bytes.Buffer
	fmt.Fprintf(&b, "dn: %s\n", suffix)
	switch strings.ToLower(a.Type) {
	case "dc":
		fmt.Fprintf(&b, "objectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n", a.Value, a.Value)
	case "o":
		fmt.Fprintf(&b, "objectClass: organization\no: %s\n", a.Value)
	case "ou":
		fmt.Fprintf(&b, "objectClass: organizationalUnit\nou: %s\n", a.Value)
	default:
		return nil, fmt.Errorf("suffix %q: first RDN must be dc, o or ou", suffix)
	}
	return b.Bytes(), nil
}

func firstDir(dirs []string, marker string) (string, error) {
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, marker)); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no %s in %s", ErrNotInstalled, marker, strings.Join(dirs, ", "))
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func randomPassword() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// tailBuffer keeps the last max bytes written to it, so a chatty slapd
// cannot grow the test's memory.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

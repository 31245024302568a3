package world_test

import (
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
	"github.com/syncd-dev/syncd/internal/testsupport/world"
)

func TestMain(m *testing.M) { testenv.Main(m, slapdtest.StopShared, pgtest.StopShared) }

// The text and the parsed configuration describe the same world, the text
// holds references rather than secrets, and the store is ready to use.
func TestWorld(t *testing.T) {
	w := world.New(t, world.Options{Users: 5, BindPassword: "bind-secret-1", LDAPYAML: "pageSize: 7",
		YAML: "log:\n  level: debug\n"})
	text, env := w.YAML()
	for _, secret := range []string{"bind-secret-1", world.Token, w.DatabaseURL} {
		if strings.Contains(text, secret) {
			t.Errorf("the configuration text holds the secret %q:\n%s", secret, text)
		}
	}
	again, err := config.Parse([]byte(text), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if again.LDAP.BindDN != "cn=syncd,"+world.Suffix || again.LDAP.PageSize != 7 || again.Log.Level != "debug" ||
		again.SCIM.URL != w.SCIMURL || again.State.DatabaseURL.Reveal() != w.DatabaseURL ||
		w.Config.LDAP.BindPassword.Reveal() != "bind-secret-1" {
		t.Errorf("configuration %+v does not describe the world\n%s", again, text)
	}
	if _, err := w.Store.LoadUsers(t.Context()); err != nil {
		t.Errorf("store not migrated: %v", err)
	}
	// The service account can read the directory.
	c := w.Conn(t)
	if err := c.Bind(w.BindDN, w.BindPassword); err != nil {
		t.Errorf("bind as %s: %v", w.BindDN, err)
	}
	if n := len(w.Plain(t, 1)); n != 1 || len(w.Expected()) == 0 {
		t.Errorf("plain %d, expected %d", n, len(w.Expected()))
	}
}

// An Active Directory world is scoped by class, as slapd cannot answer
// objectCategory=person, and a world without a database has no state.
func TestActiveDirectoryWithoutDatabase(t *testing.T) {
	w := world.New(t, world.Options{Shape: dirgen.ActiveDirectory, Users: 3, NoDatabase: true,
		Configure: func(w *world.World) { w.Config.LDAP.PageSize = 2 }})
	text, _ := w.YAML()
	if w.Store != nil || w.DatabaseURL != "" || strings.Contains(text, "state:") {
		t.Errorf("a world without a database has state:\n%s", text)
	}
	if w.Config.LDAP.Users.Filter != "(objectClass=user)" || w.Config.LDAP.OmniAttributes["department"] != "department" || w.Config.LDAP.PageSize != 2 {
		t.Errorf("AD configuration %+v", w.Config.LDAP)
	}
}

package config

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestExamplesLoad loads every example in configs/ the way the daemon would,
// with its secrets in the environment or in systemd credentials.
func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	want := []string{"389ds.yaml", "activedirectory.yaml", "freeipa.yaml", "openldap.yaml"}
	if !slices.Equal(names, want) {
		t.Fatalf("configs/ holds %q, want %q", names, want)
	}

	creds := t.TempDir()
	writeFile(t, creds, CredentialBindPassword, "bind-password\n")
	writeFile(t, creds, CredentialSCIMToken, "scim-token\n")
	writeFile(t, creds, CredentialDatabaseURL, "postgres://syncd@localhost/syncd\n")
	getenv := env(map[string]string{
		"SYNCD_LDAP_BIND_PASSWORD": "bind-password",
		"SYNCD_SCIM_TOKEN":         "scim-token",
		"SYNCD_DATABASE_URL":       "postgres://syncd:secret@localhost:5432/syncd?sslmode=disable",
		"CREDENTIALS_DIRECTORY":    creds,
	})
	flavorOf := map[string]string{
		"389ds.yaml":           Flavor389DS,
		"activedirectory.yaml": FlavorActiveDirectory,
		"freeipa.yaml":         FlavorFreeIPA,
		"openldap.yaml":        FlavorOpenLDAP,
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f, getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := flavorOf[filepath.Base(f)]; c.LDAP.Flavor != want {
				t.Errorf("flavor %q, want %q", c.LDAP.Flavor, want)
			}
			if want := flavors[c.LDAP.Flavor].id; c.LDAP.Attributes.ID != want {
				t.Errorf("id attribute %q, want the flavor's %q", c.LDAP.Attributes.ID, want)
			}
			if c.LDAP.BindPassword.Reveal() != "bind-password" || c.SCIM.Token.Reveal() != "scim-token" || c.State.DatabaseURL == "" {
				t.Error("a secret did not load")
			}
		})
	}
}
